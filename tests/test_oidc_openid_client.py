"""openid-client 6 (npm, run by node) signs in with a live escrow (issue 19): a relying-party library
the project uses nowhere else, checking what it checks by the letter (RFC 9207 ``iss``, ``max_age``
against ``auth_time`` with its 30 s tolerance, nonce, PKCE, at_hash, EdDSA and RS256 signatures).

The provider is the real app on a loopback server; the browser is a ``requests`` session; the
platform is tests/relying_parties/openid_client_rp.mjs, driven over stdin/stdout.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from escrow.httpkit import COMPONENTS_KEY, get_components
from tests.oidc_support import (
    PASSWORD,
    RP_CALLBACK,
    Person,
    add_client,
    consent_action,
    csrf_token_in,
    register_person,
    setup_provider,
)

NODE = shutil.which("node")


@pytest.fixture
def openid_client(node_relying_parties: Path) -> Path:
    """The node relying party (tests/relying_parties/openid_client_rp.mjs)."""
    return node_relying_parties / "openid_client_rp.mjs"


class _Clock:
    """Real time plus an offset: node checks iat, exp and auth_time against its own clock."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def escrow(live_server: tuple[str, Flask]) -> Iterator[tuple[str, Flask, _Clock, Any]]:
    base, app = live_server
    clock = _Clock()
    extension = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        extension, clock=clock, settings=dataclasses.replace(extension.settings, issuer_url=base)
    )
    session = extension.session_factory()
    setup_provider(session, app)
    yield base, app, clock, session
    session.close()


def _log_in(browser: requests.Session, base: str, person: Person) -> requests.Response:
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


def _run_rp(
    script: Path,
    base: str,
    browser: requests.Session,
    person: Person,
    *,
    client_id: str,
    secret: str | None,
    alg: str = "EdDSA",
    params: dict[str, str] | None = None,
    max_age: int | None = None,
    tamper: Callable[[str], str] = lambda callback: callback,
) -> dict[str, Any]:
    """One sign-in through openid-client: it builds the authorization URL, the browser follows it
    (signing in again when escrow asks, consenting when asked), openid-client redeems the callback."""
    assert NODE is not None
    args = [NODE, str(script), base, client_id, secret or "-", alg, RP_CALLBACK, json.dumps(params or {})]
    with subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [*args, "-" if max_age is None else str(max_age)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdin is not None
            first = json.loads(process.stdout.readline() or '{"error": "no output"}')
            assert "authorization_url" in first, first
            callback = _browse_to_callback(browser, base, person, first["authorization_url"])
            process.stdin.write(tamper(callback) + "\n")
            process.stdin.flush()
            result: dict[str, Any] = json.loads(process.stdout.readline())
            return result
        finally:
            process.kill()


def _browse_to_callback(browser: requests.Session, base: str, person: Person, url: str) -> str:
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
        if location.endswith("/account/login"):  # escrow asks the person to sign in (again)
            response = _log_in(browser, base, person)
            continue
        response = browser.get(
            base + location if location.startswith("/") else location, allow_redirects=False
        )
    raise AssertionError("the browser never reached the platform's callback")


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "RS256"])
def test_openid_client_signs_in_checking_iss_and_gets_no_auth_time_unasked(
    openid_client: Path, escrow: Any, alg: str
) -> None:
    base, app, _clock, session = escrow
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg=alg)
    browser = requests.Session()
    _log_in(browser, base, person)

    result = _run_rp(openid_client, base, browser, person, client_id="forum", secret=secret, alg=alg)

    assert "error" not in result, result
    claims = result["claims"]
    assert claims["aud"] == "forum"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    assert "auth_time" not in claims  # issue 19: the escrow sign-in time would join platforms
    assert result["userinfo"] == {"sub": claims["sub"], "verified_unique": True}


def test_openid_client_public_client_signs_in_with_pkce_only(openid_client: Path, escrow: Any) -> None:
    base, app, _clock, session = escrow
    person = register_person(session, app)
    add_client(session, app, "app", confidential=False)
    browser = requests.Session()

    result = _run_rp(openid_client, base, browser, person, client_id="app", secret=None)

    assert "error" not in result, result
    assert result["claims"]["aud"] == "app"


def test_openid_client_max_age_past_its_tolerance_makes_escrow_sign_the_person_in_again(
    openid_client: Path, escrow: Any
) -> None:
    # Given a person who signed in to escrow 10 minutes ago (far past max_age=30 and node's 30 s skew)
    base, app, clock, session = escrow
    person = register_person(session, app)
    secret = add_client(session, app, "forum")
    browser = requests.Session()
    clock.offset = timedelta(minutes=-10)
    _log_in(browser, base, person)
    clock.offset = timedelta(0)
    asked_at = int(datetime.now(UTC).timestamp())

    # When openid-client asks for max_age=30 and checks auth_time against it
    result = _run_rp(
        openid_client,
        base,
        browser,
        person,
        client_id="forum",
        secret=secret,
        params={"max_age": "30"},
        max_age=30,
    )

    # Then escrow had the person sign in again: auth_time is now, and openid-client accepts it
    assert "error" not in result, result
    assert result["claims"]["auth_time"] >= asked_at


def test_openid_client_prompt_login_gets_a_fresh_auth_time(openid_client: Path, escrow: Any) -> None:
    base, app, clock, session = escrow
    person = register_person(session, app)
    secret = add_client(session, app, "forum")
    browser = requests.Session()
    clock.offset = timedelta(minutes=-2)
    _log_in(browser, base, person)
    clock.offset = timedelta(0)
    asked_at = int(datetime.now(UTC).timestamp())

    result = _run_rp(
        openid_client, base, browser, person, client_id="forum", secret=secret, params={"prompt": "login"}
    )

    assert "error" not in result, result
    assert result["claims"]["auth_time"] >= asked_at


def test_openid_client_refuses_an_authorization_response_without_iss(
    openid_client: Path, escrow: Any
) -> None:
    # Discovery says authorization_response_iss_parameter_supported: a response stripped of iss (as
    # a mix-up attacker's would be) is refused by the library, so the parameter is really checked
    base, app, _clock, session = escrow
    person = register_person(session, app)
    secret = add_client(session, app, "forum")
    browser = requests.Session()
    _log_in(browser, base, person)

    result = _run_rp(
        openid_client,
        base,
        browser,
        person,
        client_id="forum",
        secret=secret,
        tamper=lambda callback: callback.replace("&iss=", "&was_iss="),
    )

    assert result["error"] == "OAUTH_INVALID_RESPONSE", result
    assert "iss" in (result["cause"] or ""), result
