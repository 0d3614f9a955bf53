"""The identity-provider registry built from Settings: order, ids, callbacks, lookups."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from escrow.config import Settings
from escrow.errors import ConfigError, NotFoundError
from escrow.identity.oidc import OidcProvider
from escrow.identity.provider_config import ProviderConfig
from escrow.identity.registry import build_identity_providers


@pytest.fixture
def base(tmp_path: Path) -> Settings:
    return Settings.for_tests("sqlite://", tmp_path / "keys")


def _config(provider_id: str) -> ProviderConfig:
    return ProviderConfig(provider_id, provider_id.title(), f"https://{provider_id}.test", "escrow", "secret")


def test_no_configuration_is_an_empty_registry(base: Settings) -> None:
    providers = build_identity_providers(base)

    assert list(providers) == []
    assert providers.mounts == {}
    with pytest.raises(NotFoundError, match="no identity provider is configured"):
        providers.default()


def test_every_source_is_one_entry_in_order_with_its_own_callback(base: Settings) -> None:
    settings = dataclasses.replace(
        base,
        dev_idp_enabled=True,
        oidc_issuer="https://single.test",
        oidc_client_id="escrow",
        oidc_client_secret="secret",
        identity_providers=(_config("gov"), _config("bank")),
    )

    providers = build_identity_providers(settings)

    assert [p.id for p in providers] == ["dev", "oidc", "gov", "bank"]
    assert providers.default().id == "dev"
    redirects = {p.id: p.redirect_uri for p in providers if isinstance(p, OidcProvider)}
    assert redirects == {
        "dev": "http://escrow.test/account/idp/dev/callback",
        # ESCROW_OIDC_*: the callback its provider already has registered
        "oidc": "http://escrow.test/account/oidc/callback",
        "gov": "http://escrow.test/account/idp/gov/callback",
        "bank": "http://escrow.test/account/idp/bank/callback",
    }
    assert list(providers.mounts) == ["/dev-idp"]
    assert providers.dev_idp is not None
    assert providers.get("gov").label == "Gov"


def test_an_unknown_id_is_not_found(base: Settings) -> None:
    providers = build_identity_providers(dataclasses.replace(base, identity_providers=(_config("gov"),)))

    with pytest.raises(NotFoundError, match="no identity provider with this id"):
        providers.get("bank")


def test_two_providers_with_one_id_stop_startup(base: Settings) -> None:
    settings = dataclasses.replace(base, dev_idp_enabled=True, identity_providers=(_config("dev"),))

    with pytest.raises(ConfigError, match="two identity providers have the id 'dev'"):
        build_identity_providers(settings)
