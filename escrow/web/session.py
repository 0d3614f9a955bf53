"""Per-request state shared by the web and api layers: the escrow extension and the DB session.

One SQLAlchemy session per request, created on first use and closed at teardown; closing rolls back
anything a service did not commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import argon2
from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from escrow.config import Settings
from escrow.crypto.pseudonym import PseudonymDeriver
from escrow.keystore import Keyring
from escrow.services.transparency import LogSigner

if TYPE_CHECKING:
    from escrow.identity.registry import IdentityProviders

EXTENSION_NAME = "escrow"


@dataclass(frozen=True, slots=True)
class EscrowExtension:
    """What create_app builds once and every request uses; kept in ``app.extensions["escrow"]``."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    keyring: Keyring
    log: LogSigner
    deriver: PseudonymDeriver
    password_hasher: argon2.PasswordHasher
    # Issue 12: every identity provider a person may sign in with (escrow.identity.registry).
    identity_providers: IdentityProviders


def get_extension(app: Flask | None = None) -> EscrowExtension:
    """Returns the escrow extension of ``app`` (default: the current app)."""
    extension = (app or current_app).extensions[EXTENSION_NAME]
    assert isinstance(extension, EscrowExtension)  # noqa: S101 - set only by create_app
    return extension


def get_session() -> Session:
    """Returns this request's session, creating it on first use."""
    session = g.get("escrow_session")
    if session is None:
        session = get_extension().session_factory()
        g.escrow_session = session
    assert isinstance(session, Session)  # noqa: S101
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """Closes this request's session, if any; uncommitted work is rolled back."""
    session = g.pop("escrow_session", None)
    if session is not None:
        session.close()
