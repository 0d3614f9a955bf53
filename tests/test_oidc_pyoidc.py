"""pyoidc (``oic``, a relying-party library the project uses nowhere else) signs in with a live
escrow over RS256 (issue 19; pyjwkest, under it, cannot read Ed25519 keys): discovery, the code flow
with a client secret, ID token verification, and its own checks of ``max_age`` against
``auth_time`` (no clock tolerance at all) and of ``acr`` against ``acr_values``; refresh with
rotation and reuse detection; its end session request, and the back-channel logout token verified
by its own ``BackChannelLogoutRequest`` (openid-client 6 has no logout token validation); its OAuth
client reads the RFC 8414 document, introspects and revokes; ``prompt=none`` and ``consent``; a
request object."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from oic.extension.client import Client as OAuthClient
from oic.oauth2.message import ErrorResponse, Message, TokenErrorResponse
from oic.oic import Client
from oic.oic.message import (
    AccessTokenResponse,
    AuthorizationResponse,
    BackChannelLogoutRequest,
    EndSessionRequest,
    RegistrationResponse,
)
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from escrow.httpkit import get_components
from escrow.services.logout import set_logout_settings
from tests.http_receiver import http_receiver
from tests.oidc_support import (
    RP_BASE,
    RP_CALLBACK,
    Person,
    add_client,
    browse_to_callback,
    log_in_over_http,
    register_person,
)

SIGNED_OUT = RP_BASE + "/signed-out"


def _pyoidc_sign_in(
    base: str, secret: str, browser: requests.Session, person: Any, **params: Any
) -> dict[str, Any]:
    _client, _state, tokens = _pyoidc_signed_in(base, secret, browser, person, **params)
    return dict(tokens["id_token"].to_dict())


def _pyoidc_signed_in(
    base: str, secret: str, browser: requests.Session, person: Any, **params: Any
) -> tuple[Client, str, AccessTokenResponse]:
    """pyoidc signs in as the platform forum: (its client, the grant's state, the token response)."""
    client, state, answer = _pyoidc_authorize(base, secret, browser, person, **params)
    assert isinstance(answer, AuthorizationResponse), answer
    tokens = client.do_access_token_request(
        state=state, request_args={"code": answer["code"]}, authn_method="client_secret_basic"
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    return client, state, tokens


def _pyoidc_authorize(
    base: str,
    secret: str,
    browser: requests.Session,
    person: Any,
    *,
    browse: Callable[[requests.Session, str, Any, str], str] = browse_to_callback,
    construct: dict[str, Any] | None = None,
    **params: Any,
) -> tuple[Client, str, Message]:
    """pyoidc sends the browser to escrow as the platform forum (``construct``: pyoidc's own options
    for building the request) and parses where it comes back: (client, state, the response)."""
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(base)
    client.store_registration_info(
        RegistrationResponse(
            client_id="forum",
            client_secret=secret,
            redirect_uris=[RP_CALLBACK],
            id_token_signed_response_alg="RS256",
            token_endpoint_auth_method="client_secret_basic",
        )
    )
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    request = client.construct_AuthorizationRequest(
        request_args={
            "client_id": "forum",
            "response_type": "code",
            "scope": ["openid"],
            "nonce": nonce,
            "redirect_uri": RP_CALLBACK,
            "state": state,
            **params,
        },
        **(construct or {}),
    )
    callback = browse(browser, base, person, request.request(client.authorization_endpoint))
    answer = client.parse_response(
        AuthorizationResponse, info=urllib.parse.urlsplit(callback).query, sformat="urlencoded"
    )
    assert answer["state"] == state
    assert answer["iss"] == base  # RFC 9207 (pyoidc does not check it itself)
    return client, state, answer


def _straight_to_callback(browser: requests.Session, base: str, person: Any, url: str) -> str:
    """The browser follows the authorization URL and is sent straight back: no page shown."""
    response = browser.get(url, allow_redirects=False)
    assert response.status_code == 302, response.text
    assert response.headers["Location"].startswith(RP_CALLBACK), response.headers["Location"]
    return response.headers["Location"]


def test_pyoidc_signs_in_with_rs256_and_gets_no_auth_time_unasked(live_oidc_provider: Any) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)

    claims = _pyoidc_sign_in(base, secret, browser, person)

    assert claims["aud"] == ["forum"]
    assert "auth_time" not in claims


def test_pyoidc_max_age_past_the_sign_in_is_honoured_by_a_new_sign_in(live_oidc_provider: Any) -> None:
    # Given a person signed in to escrow 10 minutes ago, and pyoidc asking for max_age=30
    base, app, clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    clock.offset = timedelta(minutes=-10)
    log_in_over_http(browser, base, person)
    clock.offset = timedelta(0)
    asked_at = int(datetime.now(UTC).timestamp())

    # When it signs in (pyoidc raises AuthnToOld if auth_time + max_age is past)
    claims = _pyoidc_sign_in(base, secret, browser, person, max_age=30)

    # Then escrow made the person sign in again for this request
    assert claims["auth_time"] >= asked_at


def test_pyoidc_prompt_login_gets_a_fresh_auth_time_and_acr_values_match(live_oidc_provider: Any) -> None:
    base, app, clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    clock.offset = timedelta(minutes=-3)
    log_in_over_http(browser, base, person)
    clock.offset = timedelta(0)
    asked_at = int(datetime.now(UTC).timestamp())

    claims = _pyoidc_sign_in(
        base, secret, browser, person, prompt="login", acr_values="http://eidas.europa.eu/LoA/high"
    )

    assert claims["auth_time"] >= asked_at
    assert claims["acr"] == "http://eidas.europa.eu/LoA/high"


def test_pyoidc_refresh_rotates_and_a_reused_refresh_token_revokes_the_sign_in(
    live_oidc_provider: Any,
) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    client, state, tokens = _pyoidc_signed_in(base, secret, browser, person)
    first = client.get_token(state=state)

    # pyoidc refreshes (grant_type=refresh_token with client_secret_basic)
    rotated = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")

    # Rotation: a new refresh token, and a new access token that reads userinfo
    assert isinstance(rotated, AccessTokenResponse), rotated
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["access_token"] != tokens["access_token"]
    assert client.do_user_info_request(method="GET", state=state)["sub"] == tokens["id_token"]["sub"]
    # Reuse: the old refresh token is refused, and then so is the rotated one (the family is revoked)
    reused = client.do_access_token_refresh(state=state, token=first, authn_method="client_secret_basic")
    assert isinstance(reused, TokenErrorResponse), reused
    assert reused["error"] == "invalid_grant"
    assert client.get_token(state=state).refresh_token == rotated["refresh_token"]
    after = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(after, TokenErrorResponse), after
    assert after["error"] == "invalid_grant"


def test_pyoidc_end_session_request_logs_out_and_its_logout_token_verifies(live_oidc_provider: Any) -> None:
    # Given forum (RS256) with a post-logout redirect URI and a back-channel receiver, signed in by pyoidc
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    with http_receiver(path="/backchannel-logout") as receiver:
        set_logout_settings(
            session,
            platform_id="forum",
            post_logout_redirect_uris=[SIGNED_OUT],
            backchannel_logout_uri=receiver.url,
            allow_loopback=True,
            log=get_components(app).log,
            now=datetime.now(UTC),
        )
        client, state, tokens = _pyoidc_signed_in(base, secret, browser, person)

        # When the browser follows pyoidc's end session request (id_token_hint from the grant)
        url, _body, _headers, _request = client.request_info(
            EndSessionRequest,
            method="GET",
            request_args={"post_logout_redirect_uri": SIGNED_OUT, "state": state},
            state=state,
        )
        assert url.startswith(base + "/oidc/logout?")
        response = browser.get(url, allow_redirects=False)
        received = receiver.wait_for(1)

    # Then escrow signed the person out and came back with the state
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == f"{SIGNED_OUT}?state={state}"
    assert browser.get(base + "/account/credentials", allow_redirects=False).status_code != 200
    # And the platform's back-channel logout token verifies with pyoidc (signature from escrow's
    # JWKS in its keyjar, iss, aud, events, no nonce) and names the signed-in session
    logout = BackChannelLogoutRequest().from_urlencoded(received[0].body.decode())
    assert logout.verify(keyjar=client.keyjar, iss=base, aud="forum")
    claims = logout["logout_token"]
    assert claims["sid"] == tokens["id_token"]["sid"]
    assert claims["sub"] == tokens["id_token"]["sub"]
    assert "nonce" not in claims


def test_pyoidc_oauth_client_reads_rfc8414_metadata_then_introspects_and_revokes(
    live_oidc_provider: Any,
) -> None:
    # Given tokens from a pyoidc sign-in, and pyoidc's OAuth 2.0 extension client (RFC 7662, 7009)
    # configured from the RFC 8414 document
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    _client, _state, tokens = _pyoidc_signed_in(base, secret, browser, person)
    oauth = OAuthClient(client_id="forum", client_authn_method=CLIENT_AUTHN_METHOD)
    oauth.client_secret = secret
    metadata = oauth.provider_config(base, serv_pattern="%s/.well-known/oauth-authorization-server")
    assert metadata["issuer"] == base
    assert oauth.introspection_endpoint == base + "/api/v1/oidc/introspect"
    assert oauth.revocation_endpoint == base + "/api/v1/oidc/revoke"

    def introspect(kind: str) -> dict[str, Any]:
        answer = oauth.do_token_introspection(
            request_args={"token": tokens[kind], "token_type_hint": kind}, authn_method="client_secret_basic"
        )
        return dict(answer.to_dict())

    def revoke(kind: str) -> int:
        return oauth.do_token_revocation(  # type: ignore[no-any-return]
            request_args={"token": tokens[kind], "token_type_hint": kind}, authn_method="client_secret_basic"
        )

    # Then both tokens are active, for the platform's pseudonym
    for kind in ("access_token", "refresh_token"):
        answer = introspect(kind)
        assert answer["active"] is True, answer
        assert (answer["sub"], answer["client_id"]) == (tokens["id_token"]["sub"], "forum")
    # And each, once revoked, is inactive
    assert revoke("access_token") == 200
    assert introspect("access_token") == {"active": False}
    assert introspect("refresh_token")["active"] is True
    assert revoke("refresh_token") == 200
    assert introspect("refresh_token") == {"active": False}


def test_pyoidc_prompt_none_gets_a_code_without_any_page_once_signed_in_and_consented(
    live_oidc_provider: Any,
) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    first = _pyoidc_sign_in(base, secret, browser, person)

    _client, _state, tokens = _pyoidc_signed_in(
        base, secret, browser, person, prompt="none", browse=_straight_to_callback
    )

    assert tokens["id_token"]["sub"] == first["sub"]


def test_pyoidc_prompt_none_without_a_sign_in_is_login_required(live_oidc_provider: Any) -> None:
    base, app, _clock, session = live_oidc_provider
    register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    person = Person("BEL", "P1234567")

    _client, _state, answer = _pyoidc_authorize(
        base, secret, requests.Session(), person, prompt="none", browse=_straight_to_callback
    )

    assert isinstance(answer, ErrorResponse), answer
    assert answer["error"] == "login_required"


def test_pyoidc_request_object_comes_back_as_request_not_supported(live_oidc_provider: Any) -> None:
    # pyoidc puts the request in a request object (request_method="request", OIDC Core 6.1: the
    # OAuth parameters repeated outside it); escrow, which takes none, says so at the redirect URI
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)

    _client, _state, answer = _pyoidc_authorize(
        base, secret, browser, person, construct={"request_method": "request"}, browse=_straight_to_callback
    )

    assert isinstance(answer, ErrorResponse), answer
    assert answer["error"] == "request_not_supported"


def test_pyoidc_prompt_none_signed_in_but_never_consented_is_consent_required(
    live_oidc_provider: Any,
) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)

    _client, _state, answer = _pyoidc_authorize(
        base, secret, browser, person, prompt="none", browse=_straight_to_callback
    )

    assert isinstance(answer, ErrorResponse), answer
    assert answer["error"] == "consent_required"


def test_pyoidc_prompt_consent_shows_the_consent_screen_again(live_oidc_provider: Any) -> None:
    base, app, _clock, session = live_oidc_provider
    person = register_person(session, app)
    secret = add_client(session, app, "forum", alg="RS256")
    browser = requests.Session()
    log_in_over_http(browser, base, person)
    _pyoidc_sign_in(base, secret, browser, person)
    shown: list[str] = []

    def consent_screen_first(browser: requests.Session, base: str, person: Any, url: str) -> str:
        page = browser.get(url, allow_redirects=False)
        shown.append(str(page.status_code) + (" consent" if "verified unique person" in page.text else ""))
        return browse_to_callback(browser, base, person, url)

    _client, _state, tokens = _pyoidc_signed_in(
        base, secret, browser, person, prompt="consent", browse=consent_screen_first
    )

    assert shown == ["200 consent"]
    assert "sub" in tokens["id_token"]
