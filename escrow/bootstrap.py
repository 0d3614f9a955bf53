"""The composition root: builds once what every entry point shares, with no web framework.

``create_app`` (escrow.app) and the server commands (escrow.cli.server) both start here, so the CLI
reaches the database, the keys and the log exactly as a request does, without building a Flask app.

    components = build_components(Settings.from_env())
    with components.session_factory() as session:
        ...
    components.close()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import argon2
import nacl.signing
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from escrow.config import Settings
from escrow.crypto.pseudonym import HmacPseudonymDeriver, PseudonymDeriver
from escrow.db import make_engine, make_session_factory
from escrow.identity.registry import build_identity_providers
from escrow.keystore import Keyring, load_keyring
from escrow.services.passwords import make_password_hasher
from escrow.services.transparency import LogSigner

if TYPE_CHECKING:
    from escrow.identity.devidp import DevIdentityProvider
    from escrow.identity.oidc import OidcProvider


def utc_now() -> datetime:
    """The production clock: the current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Components:
    """What the service is made of, built once per process and passed down to every use case."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    keyring: Keyring
    log: LogSigner
    deriver: PseudonymDeriver
    password_hasher: argon2.PasswordHasher
    # The configured OpenID Connect identity provider (None: registration through a provider is off).
    oidc: OidcProvider | None = None
    # DEVELOPMENT ONLY (ESCROW_DEV_IDP=1): the development identity provider mounted at /dev-idp.
    dev_idp: DevIdentityProvider | None = None
    # Read the time here, never deep inside: services take `now` as an argument (STYLE.md section 5).
    clock: Callable[[], datetime] = field(default=utc_now)

    def close(self) -> None:
        """Releases the database connections (a command calls this before it exits)."""
        self.engine.dispose()


def build_components(settings: Settings) -> Components:
    """Returns the service's components for ``settings``.

    Creates missing instance secrets in the keys directory (escrow.keystore). Raises ConfigError (or
    its KeyFileError) if settings or key files are malformed.
    """
    keyring = load_keyring(settings)
    engine = make_engine(settings.database_url)
    oidc, dev_idp = build_identity_providers(settings)
    return Components(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        keyring=keyring,
        log=LogSigner(settings.log_origin, nacl.signing.SigningKey(keyring.log_signing_seed)),
        password_hasher=make_password_hasher(settings),
        deriver=HmacPseudonymDeriver(person_key=keyring.person_key, pseudonym_key=keyring.pseudonym_key),
        oidc=oidc,
        dev_idp=dev_idp,
    )
