"""A witness's settings and key file: every missing or malformed setting is a clear error, never a
traceback; the key file is made once, mode 0600, and reused."""

from __future__ import annotations

import stat
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner

from escrow.cli.main import cli
from escrow.crypto.note import parse_cosigner_vkey, verifier_key_string
from escrow.errors import ConfigError
from escrow.witness.settings import WitnessSettings, load_or_create_key

LOG_KEY = verifier_key_string("log.test/a", nacl.signing.SigningKey(bytes(32)).verify_key)


def _env(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {
        "ESCROW_WITNESS_NAME": "w.test/a",
        "ESCROW_WITNESS_KEY_FILE": str(tmp_path / "key"),
        "ESCROW_WITNESS_DATA_DIR": str(tmp_path / "data"),
        "ESCROW_WITNESS_LOGS": LOG_KEY,
    }
    env.update(changes)
    return env


def test_settings_from_the_environment(tmp_path: Path) -> None:
    settings = WitnessSettings.from_env(_env(tmp_path))

    assert settings.name == "w.test/a"
    assert [v.name for v in settings.logs] == ["log.test/a"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ESCROW_WITNESS_NAME": ""}, "ESCROW_WITNESS_NAME"),
        ({"ESCROW_WITNESS_LOGS": ""}, "ESCROW_WITNESS_LOGS"),
        ({"ESCROW_WITNESS_LOGS": "not-a-key"}, "is not a log verifier key"),
        ({"ESCROW_WITNESS_NAME": "has space"}, "not a valid key name"),
        ({"ESCROW_WITNESS_NAME": "a+b"}, "not a valid key name"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WitnessSettings.from_env(_env(tmp_path, **changes))


def test_the_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first, created = load_or_create_key(tmp_path / "keys" / "witness.key")
    again, created_again = load_or_create_key(tmp_path / "keys" / "witness.key")

    assert (created, created_again) == (True, False)
    assert bytes(first) == bytes(again)
    assert stat.S_IMODE((tmp_path / "keys" / "witness.key").stat().st_mode) == 0o600


def test_a_short_or_open_key_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"x" * 5)
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="32-byte"):
        load_or_create_key(short)
    short.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(short)


def test_escrow_witness_key_prints_the_vkey_and_serve_names_a_bad_setting(tmp_path: Path) -> None:
    runner = CliRunner()
    key = runner.invoke(cli, ["witness", "key", "--name", "w.test/a", "--key-file", str(tmp_path / "k")])
    serve = runner.invoke(
        cli, ["witness", "serve", "--name", "w.test/a", "--key-file", str(tmp_path / "k")], env={}
    )

    assert key.exit_code == 0, key.output
    assert parse_cosigner_vkey(key.stdout.strip()).name == "w.test/a"
    assert serve.exit_code == 1
    assert "data dir" in serve.output
    assert "Traceback" not in serve.output
