"""pyoidc (``oic``, a relying-party library the project uses nowhere else) signs in with a live
escrow over RS256 (issue 19; pyjwkest, under it, cannot read Ed25519 keys): discovery, the code flow
with a client secret, ID token verification, and its own checks of ``max_age`` against
``auth_time`` (no clock tolerance at all) and of ``acr`` against ``acr_values``."""

from __future__ import annotations

import secrets
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.oidc_support import RP_CALLBACK, add_client, browse_to_callback, log_in_over_http, register_person


def _pyoidc_sign_in(
    base: str, secret: str, browser: requests.Session, person: Any, **params: Any
) -> dict[str, Any]:
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
        }
    )
    callback = browse_to_callback(browser, base, person, request.request(client.authorization_endpoint))
    answer = client.parse_response(
        AuthorizationResponse, info=urllib.parse.urlsplit(callback).query, sformat="urlencoded"
    )
    assert answer["state"] == state
    assert answer["iss"] == base  # RFC 9207 (pyoidc does not check it itself)
    tokens = client.do_access_token_request(
        state=state, request_args={"code": answer["code"]}, authn_method="client_secret_basic"
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    return dict(tokens["id_token"].to_dict())


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
