"""openid-client 6 (npm, run by node) signs in with a live escrow (issue 19): a relying-party library
the project uses nowhere else, checking what it checks by the letter (RFC 9207 ``iss``, ``max_age``
against ``auth_time`` with its 30 s tolerance, nonce, PKCE, at_hash, EdDSA, Ed25519 and RS256
signatures), and its API for what a platform does after the sign-in: RFC 8414 discovery, refresh
(rotation, reuse detection), RFC 7662 introspection, RFC 7009 revocation, a request object
(``request_not_supported``), ``prompt=none`` and ``consent``, RP-initiated logout, and CORS.

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

from escrow.httpkit import get_components
from escrow.services.logout import set_logout_settings
from tests.oidc_support import (
    RP_BASE,
    RP_CALLBACK,
    Person,
    add_client,
    browse_to_callback,
    log_in_over_http,
    register_person,
)

NODE = shutil.which("node")
SIGNED_OUT = RP_BASE + "/signed-out"  # where the script sends the person after logout


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
    mode: str = "signin",
    browse: Callable[[requests.Session, str, Person, str], str] = browse_to_callback,
) -> dict[str, Any]:
    """One sign-in through openid-client: it builds the authorization URL, the browser follows it
    (signing in again when escrow asks, consenting when asked), openid-client redeems the callback,
    then does what ``mode`` asks (see the script's header)."""
    assert NODE is not None
    args = [NODE, str(script), base, client_id, secret or "-", alg, RP_CALLBACK, json.dumps(params or {})]
    with subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
        [*args, "-" if max_age is None else str(max_age), mode],
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
            callback = browse(browser, base, person, first["authorization_url"])
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


def _straight_to_callback(browser: requests.Session, base: str, person: Person, url: str) -> str:
    """The browser follows the authorization URL and is sent straight back: no page shown."""
    response = browser.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(RP_CALLBACK), location
    return location


def _consent_screen_first(browser: requests.Session, base: str, person: Person, url: str) -> str:
    """The browser is shown the consent screen (asserted), then allows."""
    page = browser.get(url, allow_redirects=False)
    assert page.status_code == 200, page.headers.get("Location")
    assert "verified unique person" in page.text
    return browse_to_callback(browser, base, person, url)


def _signed_in(
    openid_client: Path, live_oidc_provider: Any, *, confidential: bool = True
) -> tuple[str, Any, requests.Session, Person, str, str | None]:
    """A registered person signed in to escrow in a browser, and the platform forum (or the public
    client app) registered: (base, session, browser, person, client_id, secret)."""
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    client_id = "forum" if confidential else "app"
    secret = add_client(session, app, client_id, confidential=confidential)
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    return base, session, browser, person, client_id, secret


def test_openid_client_discovers_escrow_from_its_rfc8414_metadata_and_signs_in(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    # openid-client's algorithm "oauth2" reads /.well-known/oauth-authorization-server (RFC 8414
    # section 3), checking that its issuer is the one it was given
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)

    result = _run_rp(openid_client, base, browser, person, client_id=client_id, secret=secret, mode="oauth2")

    assert "error" not in result, result
    assert result["server_metadata"]["issuer"] == base
    rfc8414 = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10)
    assert result["server_metadata"] == rfc8414.json()
    assert result["claims"]["aud"] == "forum"


def test_openid_client_refresh_rotates_and_a_reused_refresh_token_revokes_the_sign_in(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)

    result = _run_rp(openid_client, base, browser, person, client_id=client_id, secret=secret, mode="refresh")

    # Rotation (RFC 9700 section 4.14.2): a new refresh token and a working new access token
    assert "error" not in result, result
    assert result["rotated"]["new_refresh_token"] is True
    assert result["rotated"]["new_access_token"] is True
    assert result["rotated"]["userinfo"]["sub"] == result["claims"]["sub"]
    # Reuse detection: the used refresh token is refused, and the whole sign-in with it
    assert result["old_refresh_token_again"]["oauth_error"] == "invalid_grant", result
    assert result["rotated_refresh_token_after_reuse"]["oauth_error"] == "invalid_grant", result
    assert result["rotated_access_token_after_reuse"]["status"] == 401, result
    assert result["rotated_access_token_after_reuse"]["oauth_error"] == "invalid_token", result


def test_openid_client_introspects_and_revokes_its_tokens(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)

    result = _run_rp(
        openid_client, base, browser, person, client_id=client_id, secret=secret, mode="introspect"
    )

    # RFC 7662: both of its tokens are active, for its pseudonym and client id
    assert "error" not in result, result
    sub = result["claims"]["sub"]
    for kind in ("access_token", "refresh_token"):
        assert result[kind]["active"] is True, result[kind]
        assert result[kind]["sub"] == sub
        assert result[kind]["client_id"] == "forum"
    # RFC 7009: a revoked access token is inactive and no longer reads userinfo
    assert result["access_token_after_revocation"] == {"active": False}
    assert result["userinfo_after_revocation"]["status"] == 401, result
    assert result["refresh_token_after_access_revocation"]["active"] is True
    # ...and a revoked refresh token is inactive and refreshes nothing
    assert result["refresh_token_after_revocation"] == {"active": False}
    assert result["refresh_after_revocation"]["oauth_error"] == "invalid_grant", result


def test_openid_client_request_object_comes_back_as_request_not_supported(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    # OIDC Core 6: escrow takes no request objects (request_parameter_supported: false) and says so
    # at the redirect URI rather than ignoring what the object asks for
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)

    result = _run_rp(
        openid_client,
        base,
        browser,
        person,
        client_id=client_id,
        secret=secret,
        mode="jar",
        browse=_straight_to_callback,
    )

    # openid-client checked iss and state, then raised the OAuth error
    assert result["error"] == "OAUTH_AUTHORIZATION_RESPONSE_ERROR", result
    assert result["oauth_error"] == "request_not_supported", result


def test_openid_client_prompt_none_gets_a_code_without_any_page_once_consented(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)
    first = _run_rp(openid_client, base, browser, person, client_id=client_id, secret=secret)
    assert "error" not in first, first

    again = _run_rp(
        openid_client,
        base,
        browser,
        person,
        client_id=client_id,
        secret=secret,
        params={"prompt": "none"},
        browse=_straight_to_callback,
    )

    assert "error" not in again, again
    assert again["claims"]["sub"] == first["claims"]["sub"]


@pytest.mark.parametrize(("signed_in", "expected"), [(False, "login_required"), (True, "consent_required")])
def test_openid_client_prompt_none_answers_login_or_consent_required(
    openid_client: Path, live_oidc_provider: Any, signed_in: bool, expected: str
) -> None:
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)
    if not signed_in:
        browser = requests.Session()

    result = _run_rp(
        openid_client,
        base,
        browser,
        person,
        client_id=client_id,
        secret=secret,
        params={"prompt": "none"},
        browse=_straight_to_callback,
    )

    assert result["error"] == "OAUTH_AUTHORIZATION_RESPONSE_ERROR", result
    assert result["oauth_error"] == expected, result


def test_openid_client_prompt_consent_shows_the_consent_screen_again(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, _session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)
    assert "error" not in _run_rp(openid_client, base, browser, person, client_id=client_id, secret=secret)

    result = _run_rp(
        openid_client,
        base,
        browser,
        person,
        client_id=client_id,
        secret=secret,
        params={"prompt": "consent"},
        browse=_consent_screen_first,
    )

    assert "error" not in result, result


def test_openid_client_rp_initiated_logout_signs_the_person_out_and_returns_with_state(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    base, session, browser, person, client_id, secret = _signed_in(openid_client, live_oidc_provider)
    app = live_oidc_provider[1]
    set_logout_settings(
        session,
        platform_id=client_id,
        post_logout_redirect_uris=[SIGNED_OUT],
        backchannel_logout_uri=None,
        allow_loopback=True,
        log=get_components(app).log,
        now=datetime.now(UTC),
    )
    result = _run_rp(openid_client, base, browser, person, client_id=client_id, secret=secret, mode="logout")
    assert "error" not in result, result
    assert browser.get(base + "/account/credentials", allow_redirects=False).status_code == 200

    # The browser follows buildEndSessionUrl's URL (id_token_hint, post_logout_redirect_uri, state)
    response = browser.get(result["end_session_url"], allow_redirects=False)

    assert response.status_code == 302, response.text
    assert response.headers["Location"] == f"{SIGNED_OUT}?state={result['logout_state']}"
    assert browser.get(base + "/account/credentials", allow_redirects=False).status_code != 200


def test_openid_client_public_client_gets_cors_answers_for_its_registered_origin(
    openid_client: Path, live_oidc_provider: Any
) -> None:
    # A single-page app's calls (node's fetch sending the Origin a browser would: the origin of the
    # registered redirect URI) through openid-client: discovery, token, userinfo, refresh, revoke
    base, _session, browser, person, client_id, secret = _signed_in(
        openid_client, live_oidc_provider, confidential=False
    )

    result = _run_rp(openid_client, base, browser, person, client_id=client_id, secret=secret, mode="cors")

    assert "error" not in result, result
    seen = {(call["path"], call["method"]): call for call in result["cors"]}
    registered = {"/api/v1/oidc/token", "/api/v1/oidc/userinfo", "/api/v1/oidc/revoke"}
    assert registered <= {path for path, _method in seen}, seen
    for (path, _method), call in seen.items():
        if path in registered:  # the origin itself, varying by it (Fetch standard)
            assert call["allow_origin"] == RP_BASE, call
            assert "origin" in call["vary"].lower(), call
        else:  # discovery and JWKS are public
            assert call["allow_origin"] == "*", call
    # openid-client fetches the JWKS outside customFetch: the script fetches it with the Origin
    assert result["jwks"]["status"] == 200
    assert result["jwks"]["allow_origin"] == "*"
    preflight = result["token_preflight"]
    assert preflight["status"] in (200, 204), preflight
    assert preflight["allow_origin"] == RP_BASE
    assert "POST" in preflight["allow_methods"]
    assert "content-type" in preflight["allow_headers"].lower()
    # Another site's script may not read the answer
    assert result["userinfo_from_foreign_origin"]["status"] == 200
    assert result["userinfo_from_foreign_origin"]["allow_origin"] is None
