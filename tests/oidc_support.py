"""Builders for Sign in with escrow tests (issue 7): a provider with a registered person and
platforms, a browser that logs in and consents, and a relying party built on Authlib's Flask client.

Nothing here is a mock: the provider is the real app (in process or on a loopback HTTP server), the
person is registered through the real in-person registration, the relying party is a third-party
OIDC client library.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from escrow.httpkit import get_components
from escrow.identity.officer import DocumentCheck
from escrow.services.oidc import create_client_secret, set_id_token_algorithm
from escrow.services.platforms import register_platform
from escrow.services.registration import register_in_person
from tests.credentials_support import install_key as install_test_key

PASSWORD = "a long enough password for tests"
RP_BASE = "http://localhost"
RP_CALLBACK = RP_BASE + "/callback"


@dataclass(frozen=True)
class Person:
    country: str
    number: str


def setup_provider(session: Session, app: Flask, *, install_key: bool = True) -> None:
    """Installs a real (in-process DKG) escrow key through the app's own log signer."""
    if install_key:
        install_test_key(session, log=get_components(app).log, now=datetime.now(UTC))


def register_person(session: Session, app: Flask, number: str = "P1234567") -> Person:
    extension = get_components(app)
    register_in_person(
        session,
        check=DocumentCheck("id_card", "BEL", number, "Olga Example", "1990-01-02"),
        password=PASSWORD,
        oprf=extension.oprf,
        hasher=extension.password_hasher,
        log=extension.log,
        now=datetime.now(UTC),
    )
    return Person("BEL", number)


def add_client(
    session: Session,
    app: Flask,
    platform_id: str,
    *,
    redirect_uri: str = RP_CALLBACK,
    confidential: bool = True,
    alg: str = "EdDSA",
) -> str | None:
    """Registers a platform as an OIDC client; returns its client secret (None: public client)."""
    log = get_components(app).log
    now = datetime.now(UTC)
    register_platform(
        session,
        platform_id=platform_id,
        name=f"The {platform_id.title()}",
        contact="abuse@example.org",
        redirect_uris=[redirect_uri],
        log=log,
        now=now,
    )
    if alg != "EdDSA":
        keyring = get_components(app).keyring
        set_id_token_algorithm(session, platform_id=platform_id, alg=alg, keyring=keyring, log=log, now=now)
    if not confidential:
        return None
    return create_client_secret(session, platform_id=platform_id, log=log, now=now).client_secret


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def consent_action(html: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)">', html)
    assert match, "no consent form"
    return match.group(1).replace("&amp;", "&")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_query(client_id: str, **params: Any) -> str:
    values = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP_CALLBACK,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        **params,
    }
    return urllib.parse.urlencode({k: v for k, v in values.items() if v is not None})


def query_of(location: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
