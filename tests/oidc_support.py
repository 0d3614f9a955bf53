"""Builders for Sign in with escrow tests (issue 7): a provider with a registered person and
platforms, a browser that logs in and consents, and a relying party built on Authlib's Flask client.

Nothing here is a mock: the provider is the real app (in process or on a loopback HTTP server), the
person is registered through the real in-person registration, the relying party is a third-party
OIDC client library.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.httpkit import COMPONENTS_KEY, get_components
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


CLOCK_START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # where in-process tests' movable clock starts


class MovableClock:
    """The app's one clock (every view reads the components' clock), moved by the test: ``start``
    plus an offset, or real time plus an offset (a live relying party checks times by its own clock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start
        self.offset = timedelta(0)

    @property
    def now(self) -> datetime:
        return (self.start or datetime.now(UTC)) + self.offset

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def use_clock(app: Flask, clock: MovableClock, *, issuer_url: str | None = None) -> None:
    """Makes ``clock`` the app's clock (and ``issuer_url`` its issuer, for a live server)."""
    components = get_components(app)
    settings = components.settings
    if issuer_url is not None:
        settings = dataclasses.replace(settings, issuer_url=issuer_url)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(components, clock=clock, settings=settings)


def log_in(client: FlaskClient, person: Person = Person("BEL", "P1234567")) -> Any:
    """Signs the person in on the login page through the test client; returns the redirect."""
    page = client.get("/account/login").get_data(as_text=True)
    return client.post(
        "/account/login",
        data={
            "issuing_country": person.country,
            "document_number": person.number,
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page),
        },
    )


def log_in_over_http(browser: requests.Session, base: str, person: Person) -> requests.Response:
    """Signs the person in on a live server's login page; returns the redirect."""
    page = browser.get(base + "/account/login")
    response = browser.post(
        base + "/account/login",
        data={
            "issuing_country": person.country,
            "document_number": person.number,
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page.text),
        },
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    return response


def browse_to_callback(browser: requests.Session, base: str, person: Person, url: str) -> str:
    """Follows an authorization URL on a live server as the person's browser: signs in (again) when
    escrow asks, consents when asked; returns the platform callback URL it is sent to."""
    response = browser.get(url, allow_redirects=False)
    for _ in range(8):
        if response.status_code == 200 and "verified unique person" in response.text:
            response = browser.post(
                base + consent_action(response.text),
                data={"csrf_token": csrf_token_in(response.text), "allow": "Allow"},
                allow_redirects=False,
            )
            continue
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        if location.startswith(RP_CALLBACK):
            return location
        if location.endswith("/account/login"):
            response = log_in_over_http(browser, base, person)
            continue
        response = browser.get(
            base + location if location.startswith("/") else location, allow_redirects=False
        )
    raise AssertionError("the browser never reached the platform's callback")
