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

import argon2
import nacl.signing
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from escrow.config import Settings
from escrow.db import make_engine, make_session_factory
from escrow.identity.registry import IdentityProviders, build_identity_providers
from escrow.keystore import Keyring, load_keyring
from escrow.services.interim_oprf import InterimOprf
from escrow.services.oprf import OprfEvaluator
from escrow.services.passwords import make_password_hasher
from escrow.services.transparency import LogSigner


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
    # Derives person keys and pseudonym secrets (DESIGN.md section 10). INTERIM: an in-process
    # evaluator until the threshold node client is swapped in (issue 13).
    oprf: OprfEvaluator
    password_hasher: argon2.PasswordHasher
    # Every identity provider a person may sign in with (escrow.identity.registry).
    identity_providers: IdentityProviders = field(default_factory=IdentityProviders)
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
    return Components(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        keyring=keyring,
        log=LogSigner(settings.log_origin, nacl.signing.SigningKey(keyring.log_signing_seed)),
        password_hasher=make_password_hasher(settings),
        oprf=InterimOprf(key=keyring.person_key),
        identity_providers=build_identity_providers(settings),
    )
