"""openid-client 6 (npm, run by node) signs in with a live escrow (issue 19): a relying-party library
the project uses nowhere else, checking what it checks by the letter (RFC 9207 ``iss``, ``max_age``
against ``auth_time`` with its 30 s tolerance, nonce, PKCE, at_hash, EdDSA and RS256 signatures).

The provider is the real app on a loopback server; the browser is a ``requests`` session; the
platform is tests/relying_parties/openid_client_rp.mjs, driven over stdin/stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.oidc_support import (
    RP_CALLBACK,
    Person,
    add_client,
    browse_to_callback,
    log_in_over_http,
    register_person,
)

NODE = shutil.which("node")


@pytest.fixture
def openid_client(node_relying_parties: Path) -> Path:
    """The node relying party (tests/relying_parties/openid_client_rp.mjs)."""
    return node_relying_parties / "openid_client_rp.mjs"


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
            callback = browse_to_callback(browser, base, person, first["authorization_url"])
            process.stdin.write(tamper(callback) + "\n")
            process.stdin.flush()
            result: dict[str, Any] = json.loads(process.stdout.readline())
            return result
        finally:
            process.kill()


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519", "RS256"])
def test_openid_client_signs_in_checking_iss_and_gets_no_auth_time_unasked(
    openid_client: Path, live_oidc_provider: Any, alg: str
) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg=alg)
    browser = requests.Session()
    log_in_over_http(browser, base, person)

    result = _run_rp(openid_client, base, browser, person, client_id="forum", secret=secret, alg=alg)

    assert "error" not in result, result
    claims = result["claims"]
    assert claims["aud"] == "forum"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"
    assert "auth_time" not in claims  # issue 19: the escrow sign-in time would join platforms
    assert result["userinfo"] == {"sub": claims["sub"], "verified_unique": True}


def test_openid_client_public_client_signs_in_with_pkce_only(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    add_client(session, app, "app", confidential=False)
    browser = requests.Session()

    result = _run_rp(openid_client, base, browser, person, client_id="app", secret=None)

    assert "error" not in result, result
    assert result["claims"]["aud"] == "app"


def test_openid_client_max_age_past_its_tolerance_makes_escrow_sign_the_person_in_again(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    # Given a person who signed in to escrow 10 minutes ago (far past max_age=30 and node's 30 s skew)
    base, app, clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum")
    browser = requests.Session()
    clock.offset = timedelta(minutes=-10)
    log_in_over_http(browser, base, person)
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


def test_openid_client_prompt_login_gets_a_fresh_auth_time(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, app, clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum")
    browser = requests.Session()
    clock.offset = timedelta(minutes=-2)
    log_in_over_http(browser, base, person)
    clock.offset = timedelta(0)
    asked_at = int(datetime.now(UTC).timestamp())

    result = _run_rp(
        openid_client, base, browser, person, client_id="forum", secret=secret, params={"prompt": "login"}
    )

    assert "error" not in result, result
    assert result["claims"]["auth_time"] >= asked_at


def test_openid_client_refuses_an_authorization_response_without_iss(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    # Discovery says authorization_response_iss_parameter_supported: a response stripped of iss (as
    # a mix-up attacker's would be) is refused by the library, so the parameter is really checked
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum")
    browser = requests.Session()
    log_in_over_http(browser, base, person)

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
