"""ESCROW_IDENTITY_PROVIDERS: strict parsing, errors that name the field and never a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escrow.config import Settings
from escrow.errors import ConfigError
from escrow.identity.provider_config import ProviderConfig, parse_identity_providers

SECRET = "s3cret-value-never-echoed"


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "gov",
        "label": "GovID",
        "issuer": "https://id.example.gov/",
        "client_id": "escrow",
        "client_secret_env": "GOV_SECRET",
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


def _parse(*entries: Any) -> tuple[ProviderConfig, ...]:
    return parse_identity_providers(json.dumps(list(entries)), {"GOV_SECRET": SECRET})


def test_an_entry_reads_its_secret_from_the_named_variable() -> None:
    (config,) = _parse(_entry())

    assert config == ProviderConfig(
        id="gov",
        label="GovID",
        issuer="https://id.example.gov",
        client_id="escrow",
        client_secret=SECRET,
        assurance="substantial",
        kind="oidc",
    )
    assert SECRET not in repr(config)


def test_entries_keep_their_order_and_may_give_the_secret_inline() -> None:
    configs = _parse(_entry(), _entry(id="bank", client_secret_env=None, client_secret="x", assurance="low"))

    assert [(c.id, c.client_secret, c.assurance) for c in configs] == [
        ("gov", SECRET, "substantial"),
        ("bank", "x", "low"),
    ]


@pytest.mark.parametrize("text", [None, "", "  "])
def test_unset_means_no_providers(text: str | None) -> None:
    assert parse_identity_providers(text, {}) == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", r"ESCROW_IDENTITY_PROVIDERS is not valid JSON"),
        ('{"id": "gov"}', r"must be a JSON list"),
        ('["gov"]', r"\[0\] must be a JSON object"),
    ],
)
def test_malformed_lists_are_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_identity_providers(value, {})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret": "x"}, r"\[0\]: unknown field 'secret'"),
        ({"label": None}, r"\[0\]: missing field 'label'"),
        ({"id": "Gov ID"}, r"\[0\]\.id must be 1 to 32 of a-z"),
        ({"id": "-gov"}, r"\[0\]\.id must be"),
        ({"id": 7}, r"\[0\]\.id must be a non-empty string"),
        ({"label": "x" * 65}, r"\[0\]\.label must be 1 to 64"),
        ({"issuer": "id.example.gov"}, r"\[0\]\.issuer must be an absolute http\(s\) URL"),
        ({"client_id": " "}, r"\[0\]\.client_id must be a non-empty string"),
        ({"assurance": "extreme"}, r"\[0\]\.assurance must be one of low, substantial, high"),
        ({"kind": "saml"}, r"\[0\]\.kind must be one of oidc"),
        ({"client_secret": "x"}, r"\[0\]: give exactly one of 'client_secret' and 'client_secret_env'"),
        ({"client_secret_env": None}, r"exactly one of"),
        (
            {"client_secret_env": "UNSET_SECRET"},
            r"\[0\]\.client_secret_env names UNSET_SECRET, which is not set",
        ),
    ],
)
def test_bad_fields_are_refused_by_name(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(_entry(**overrides))


def test_a_secret_pasted_as_a_variable_name_is_not_echoed() -> None:
    with pytest.raises(ConfigError, match="must be the name of an environment variable") as refused:
        _parse(_entry(client_secret_env="s3cret value/never+echoed"))

    assert "s3cret" not in str(refused.value)


def test_settings_read_the_list_from_the_environment(tmp_path: Path) -> None:
    env = {
        "ESCROW_KEYS_DIR": str(tmp_path / "keys"),
        "ESCROW_IDENTITY_PROVIDERS": json.dumps([_entry()]),
        "GOV_SECRET": SECRET,
    }

    settings = Settings.from_env(env)

    assert [p.id for p in settings.identity_providers] == ["gov"]
    assert SECRET not in repr(settings)


def test_settings_refuse_a_bad_list_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ESCROW_IDENTITY_PROVIDERS"):
        Settings.from_env({"ESCROW_IDENTITY_PROVIDERS": "[{}]"})
