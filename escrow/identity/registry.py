"""The identity-provider registry (issue 12): every provider a person may sign in with, built from Settings.

In order: the development provider (ESCROW_DEV_IDP=1), the single issuer of ESCROW_OIDC_* (as before
issue 12), then each entry of ESCROW_IDENTITY_PROVIDERS. A second OIDC issuer is configuration only;
a new provider kind is one module implementing escrow.identity.base.IdentityProvider and one entry
in ``_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.orm import Session, sessionmaker

from escrow.crypto.transcript import b64u_encode
from escrow.errors import ConfigError, NotFoundError
from escrow.identity.base import ASSURANCE_LOW, ASSURANCE_SUBSTANTIAL, PROVIDER_OIDC, IdentityProvider
from escrow.identity.oidc import OidcProvider
from escrow.identity.provider_config import ProviderConfig
from escrow.identity.transport import HttpClient, UrllibHttp, WsgiHttp
from escrow.keystore import load_or_create_secret

DEV_IDP_MOUNT: Final = "/dev-idp"
DEV_PROVIDER_ID: Final = "dev"
DEV_PROVIDER_LABEL: Final = "Development identity provider"
# ESCROW_OIDC_*: identity providers have this callback registered, so it keeps working (escrow.web.users).
SINGLE_ISSUER_ID: Final = "oidc"
SINGLE_ISSUER_LABEL: Final = "your identity provider"
SINGLE_ISSUER_CALLBACK_PATH: Final = "/account/oidc/callback"
_DEV_CLIENT_ID: Final = "escrow-dev"
DEV_IDP_KEY_NAME: Final = "dev-idp-signing.key"
DEV_IDP_CLIENT_SECRET_NAME: Final = "dev-idp-client.secret"  # noqa: S105 - a file name
DEV_IDP_SECRET_BYTES: Final = 32

if TYPE_CHECKING:
    from escrow.config import Settings
    from escrow.identity.devidp import DevIdentityProvider


def callback_path(provider_id: str) -> str:
    """Returns the path of provider ``provider_id``'s callback (escrow.web.users.idp_callback)."""
    return f"/account/idp/{provider_id}/callback"


@dataclass(frozen=True, slots=True)
class IdentityProviders:
    """The configured identity providers, in order (the first is the default), looked up by id.

    ``mounts`` are WSGI apps to serve in process under a path (the development provider), and
    ``dev_idp`` that provider itself (tests and `make run` add users to it). Raises ConfigError if
    two providers share an id.
    """

    providers: tuple[IdentityProvider, ...] = ()
    mounts: Mapping[str, Any] = field(default_factory=dict)
    dev_idp: DevIdentityProvider | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for provider in self.providers:
            if provider.id in seen:
                raise ConfigError(f"two identity providers have the id {provider.id!r}; ids must be unique")
            seen.add(provider.id)

    def __iter__(self) -> Iterator[IdentityProvider]:
        return iter(self.providers)

    def __len__(self) -> int:
        return len(self.providers)

    def get(self, provider_id: str) -> IdentityProvider:
        """Returns the provider ``provider_id``. Raises NotFoundError if none has that id."""
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise NotFoundError("no identity provider with this id is configured")

    def default(self) -> IdentityProvider:
        """Returns the first provider. Raises NotFoundError if none is configured."""
        if not self.providers:
            raise NotFoundError("no identity provider is configured")
        return self.providers[0]


def build_identity_providers(
    settings: Settings, session_factory: sessionmaker[Session] | None = None
) -> IdentityProviders:
    """Returns the registry of every provider ``settings`` configures (none: an empty registry).

    ``session_factory``: the server's database, where the development provider keeps its pending
    codes so that every worker shares them (without it, this process's memory). Fetches nothing yet:
    an OIDC provider reads its discovery document at the first login. Raises ConfigError for
    duplicate ids.
    """
    providers: list[IdentityProvider] = []
    mounts: dict[str, Any] = {}
    dev_idp = None
    if settings.dev_idp_enabled:
        dev_idp, provider = _development_provider(settings, session_factory)
        mounts[DEV_IDP_MOUNT] = dev_idp.wsgi_app
        providers.append(provider)
    if settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret:
        single = ProviderConfig(
            id=SINGLE_ISSUER_ID,
            label=SINGLE_ISSUER_LABEL,
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            assurance=ASSURANCE_SUBSTANTIAL,
        )
        providers.append(_oidc(single, settings.issuer_url + SINGLE_ISSUER_CALLBACK_PATH))
    for config in settings.identity_providers:
        providers.append(_BUILDERS[config.kind](config, settings.issuer_url + callback_path(config.id)))
    return IdentityProviders(tuple(providers), mounts, dev_idp)


def _oidc(config: ProviderConfig, redirect_uri: str, http: HttpClient | None = None) -> IdentityProvider:
    return OidcProvider(
        provider_id=config.id,
        label=config.label,
        issuer=config.issuer,
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=redirect_uri,
        http=http or UrllibHttp(),
        assurance=config.assurance,
    )


_BUILDERS: Final[Mapping[str, Callable[[ProviderConfig, str], IdentityProvider]]] = {PROVIDER_OIDC: _oidc}


def _development_provider(
    settings: Settings, session_factory: sessionmaker[Session] | None
) -> tuple[DevIdentityProvider, IdentityProvider]:
    # Imported here: the development provider is a Flask app, loaded only when it is switched on.
    from escrow.identity.devidp import DevClient, DevIdentityProvider
    from escrow.identity.devidp_store import DatabaseCodeStore

    # Every worker of one instance signs with the same key and shares the codes (issue 17 finding 11):
    # the key and the client secret are files under keys/, the codes rows of the server's database.
    dev_idp = DevIdentityProvider(
        issuer=settings.issuer_url + DEV_IDP_MOUNT,
        codes=None if session_factory is None else DatabaseCodeStore(session_factory),
        signing_seed=load_or_create_secret(settings.keys_dir, DEV_IDP_KEY_NAME, DEV_IDP_SECRET_BYTES),
    )
    redirect_uri = settings.issuer_url + callback_path(DEV_PROVIDER_ID)
    client_secret = b64u_encode(
        load_or_create_secret(settings.keys_dir, DEV_IDP_CLIENT_SECRET_NAME, DEV_IDP_SECRET_BYTES)
    )
    dev_idp.register_client(DevClient(_DEV_CLIENT_ID, client_secret, (redirect_uri,)))
    config = ProviderConfig(
        DEV_PROVIDER_ID, DEV_PROVIDER_LABEL, dev_idp.issuer, _DEV_CLIENT_ID, client_secret, ASSURANCE_LOW
    )
    # Same OIDC client as for a real provider; only the HTTP hop stays in process.
    return dev_idp, _oidc(config, redirect_uri, WsgiHttp({dev_idp.issuer: dev_idp.wsgi_app}))
