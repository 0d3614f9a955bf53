"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 (issue 19).

The provider is the real app; each platform's back-channel receiver is a real HTTP server on a
loopback port (tests/http_receiver.py); logout tokens are verified with PyJWT (EdDSA) and joserfc
(RS256) from the published JWKS, as a platform would, never with escrow's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from escrow.httpkit import get_components
from escrow.services.logout import (
    BACKCHANNEL_LOGOUT_EVENT,
    SignedInPlatform,
    prepare_backchannel_logouts,
    set_logout_settings,
)
from tests.http_receiver import Receiver, http_receiver
from tests.oidc_support import (
    RP_CALLBACK,
    MovableClock,
    add_client,
    authorize_query,
    consent_action,
    csrf_token_in,
    log_in,
    query_of,
    register_person,
    setup_provider,
    use_clock,
)

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
ISSUER = "http://escrow.test"
BACK_HOME = "https://forum.example/signed-out"


@pytest.fixture
def provider(app: Flask) -> Session:
    # Real time: the platforms' JWT libraries check iat and exp against their own clocks.
    use_clock(app, MovableClock())
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    return session


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    with http_receiver(path="/forum-logout") as forum, http_receiver(path="/market-logout") as market:
        yield {"forum": forum, "market": market}


@pytest.fixture
def platforms(app: Flask, provider: Session, receivers: dict[str, Receiver]) -> dict[str, str]:
    """forum (EdDSA) and market (RS256), each with a back-channel receiver; forum registers BACK_HOME."""
    secrets = {
        "forum": add_client(provider, app, "forum"),
        "market": add_client(provider, app, "market", alg="RS256"),
    }
    for platform_id, receiver in receivers.items():
        set_logout_settings(
            provider,
            platform_id=platform_id,
            post_logout_redirect_uris=[BACK_HOME] if platform_id == "forum" else [],
            backchannel_logout_uri=receiver.url,
            allow_loopback=True,
            log=get_components(app).log,
            now=datetime.now(UTC),
        )
    return {k: v for k, v in secrets.items() if v is not None}


@pytest.fixture
def person(client: FlaskClient, provider: Session) -> FlaskClient:
    assert log_in(client).status_code == 302
    return client


def _sign_in(client: FlaskClient, platform_id: str, secret: str) -> dict[str, Any]:
    response = client.get(f"/oidc/authorize?{authorize_query(platform_id)}")
    if response.status_code == 200:
        html = response.get_data(as_text=True)
        response = client.post(
            consent_action(html), data={"csrf_token": csrf_token_in(html), "allow": "Allow"}
        )
    code = query_of(response.headers["Location"])["code"]
    tokens = client.post(
        "/api/v1/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK},
        auth=(platform_id, secret),
    )
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    return tokens.get_json()  # type: ignore[no-any-return]


def _verify_pyjwt(client: FlaskClient, token: str, audience: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").get_json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(token, key.key, algorithms=["EdDSA", "RS256"], audience=audience, issuer=ISSUER)  # type: ignore[no-any-return]


def _logout_claims(client: FlaskClient, received: bytes, audience: str) -> dict[str, Any]:
    form = dict(pair.split("=", 1) for pair in received.decode().split("&"))
    token = form["logout_token"]
    assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
    return _verify_pyjwt(client, token, audience)


def _is_signed_in(client: FlaskClient) -> bool:
    return client.get("/account/credentials").status_code == 200


def test_discovery_advertises_end_session_and_backchannel_logout(client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").get_json()

    assert metadata["end_session_endpoint"] == ISSUER + "/oidc/logout"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert "sid" in metadata["claims_supported"]
    assert "frontchannel_logout_supported" not in metadata  # not built: not claimed


def test_id_token_sid_is_per_platform_never_shared(person: FlaskClient, platforms: dict[str, str]) -> None:
    # Given one escrow session signing in to two platforms, one twice
    forum = _verify_pyjwt(person, _sign_in(person, "forum", platforms["forum"])["id_token"], "forum")
    again = _verify_pyjwt(person, _sign_in(person, "forum", platforms["forum"])["id_token"], "forum")
    market = _verify_pyjwt(person, _sign_in(person, "market", platforms["market"])["id_token"], "market")

    # Then each platform has its own sid (stable within the session) and its own pairwise sub
    assert forum["sid"] == again["sid"]
    assert forum["sid"] != market["sid"]
    assert forum["sub"] != market["sub"]


def test_rp_initiated_logout_with_valid_hint_signs_out_and_redirects_with_state(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    id_token = _sign_in(person, "forum", platforms["forum"])["id_token"]

    response = person.get(
        "/oidc/logout",
        query_string={"id_token_hint": id_token, "post_logout_redirect_uri": BACK_HOME, "state": "s-1"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == BACK_HOME + "?state=s-1"
    assert not _is_signed_in(person)


def test_rp_initiated_logout_by_post_form(person: FlaskClient, platforms: dict[str, str]) -> None:
    id_token = _sign_in(person, "forum", platforms["forum"])["id_token"]

    # A platform's form POST carries no escrow CSRF token (section 2: GET and POST)
    response = person.post(
        "/oidc/logout", data={"id_token_hint": id_token, "post_logout_redirect_uri": BACK_HOME}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == BACK_HOME
    assert not _is_signed_in(person)


def test_rp_initiated_logout_without_hint_asks_for_confirmation(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    # When a logout request comes with client_id but no hint (anyone can link to it)
    page = person.get(
        "/oidc/logout",
        query_string={"client_id": "forum", "post_logout_redirect_uri": BACK_HOME, "state": "x"},
    )

    # Then the person is asked, and still signed in
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Sign out of escrow?" in html
    assert _is_signed_in(person)
    # And confirming signs out and goes to the registered URI checked on the way in
    done = person.post("/oidc/logout/confirm", data={"csrf_token": csrf_token_in(html)})
    assert done.status_code == 302
    assert done.headers["Location"] == BACK_HOME + "?state=x"
    assert not _is_signed_in(person)


def test_rp_initiated_logout_with_tampered_hint_asks_for_confirmation(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    id_token = _sign_in(person, "forum", platforms["forum"])["id_token"]
    header, payload, signature = id_token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]

    page = person.get("/oidc/logout", query_string={"id_token_hint": f"{header}.{payload}.{flipped}"})

    assert page.status_code == 200
    assert "Sign out of escrow?" in page.get_data(as_text=True)
    assert _is_signed_in(person)


def test_confirmation_without_csrf_token_keeps_the_session(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    person.get("/oidc/logout")

    response = person.post("/oidc/logout/confirm", data={})

    assert response.status_code == 400
    assert _is_signed_in(person)


def test_unregistered_post_logout_redirect_uri_is_never_followed(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    id_token = _sign_in(person, "forum", platforms["forum"])["id_token"]

    for uri in ("https://evil.example/", BACK_HOME + "/more", BACK_HOME + "?x=1", "//evil.example"):
        response = person.get(
            "/oidc/logout", query_string={"id_token_hint": id_token, "post_logout_redirect_uri": uri}
        )
        assert response.status_code == 200, uri
        assert "Location" not in response.headers
        assert "not registered" in response.get_data(as_text=True)


def test_another_platforms_registered_uri_is_not_followed(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    # market's hint with forum's registered URI: redirects only go where the hint's platform registered
    id_token = _sign_in(person, "market", platforms["market"])["id_token"]

    response = person.get(
        "/oidc/logout", query_string={"id_token_hint": id_token, "post_logout_redirect_uri": BACK_HOME}
    )

    assert response.status_code == 200
    assert "Location" not in response.headers


def test_client_id_not_matching_hint_is_refused(person: FlaskClient, platforms: dict[str, str]) -> None:
    id_token = _sign_in(person, "forum", platforms["forum"])["id_token"]

    response = person.get("/oidc/logout", query_string={"id_token_hint": id_token, "client_id": "market"})

    assert response.status_code == 400
    assert _is_signed_in(person)


def test_backchannel_logout_token_verifies_as_a_platform_would(
    person: FlaskClient, platforms: dict[str, str], receivers: dict[str, Receiver]
) -> None:
    # Given the person signed in to forum (EdDSA) and market (RS256) from one escrow session
    forum_id = _verify_pyjwt(person, _sign_in(person, "forum", platforms["forum"])["id_token"], "forum")
    market_id_token = _sign_in(person, "market", platforms["market"])["id_token"]

    # When they sign out of escrow (the account page's button: the one logout path)
    page = person.get("/account/credentials").get_data(as_text=True)
    assert person.post("/account/logout", data={"csrf_token": csrf_token_in(page)}).status_code == 302

    # Then forum's receiver gets a logout token PyJWT verifies, with forum's sub and sid
    (forum_request,) = receivers["forum"].wait_for(1)
    assert forum_request.headers["content-type"] == "application/x-www-form-urlencoded"
    claims = _logout_claims(person, forum_request.body, "forum")
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert (claims["sub"], claims["sid"]) == (forum_id["sub"], forum_id["sid"])
    assert "nonce" not in claims
    assert claims["exp"] - claims["iat"] <= 120
    # And market's, RS256, verifies with joserfc against the JWKS
    (market_request,) = receivers["market"].wait_for(1)
    token = dict(p.split("=", 1) for p in market_request.body.decode().split("&"))["logout_token"]
    keys = KeySet.import_key_set(person.get("/.well-known/jwks.json").get_json())
    verified = jose_jwt.decode(token, keys, algorithms=["RS256"])
    market_id = jose_jwt.decode(market_id_token, keys, algorithms=["RS256"]).claims
    assert verified.header["typ"] == "logout+jwt"
    assert verified.claims["aud"] == "market"
    assert (verified.claims["sub"], verified.claims["sid"]) == (market_id["sub"], market_id["sid"])


def test_two_platforms_logout_tokens_share_no_identifier(
    person: FlaskClient, platforms: dict[str, str], receivers: dict[str, Receiver]
) -> None:
    _sign_in(person, "forum", platforms["forum"])
    _sign_in(person, "market", platforms["market"])
    page = person.get("/account/credentials").get_data(as_text=True)
    person.post("/account/logout", data={"csrf_token": csrf_token_in(page)})

    (forum_request,) = receivers["forum"].wait_for(1)
    (market_request,) = receivers["market"].wait_for(1)
    forum = _logout_claims(person, forum_request.body, "forum")
    market = _logout_claims(person, market_request.body, "market")

    # Nothing that names the person or the session is common: only the issuer and the event type
    for claim in ("sub", "sid", "jti", "aud"):
        assert forum[claim] != market[claim], claim
    assert json.dumps(forum["sub"]) not in market_request.body.decode()


def test_logout_token_iat_is_its_own_send_time(
    app: Flask, provider: Session, platforms: dict[str, str]
) -> None:
    # Each platform's token is sent after its own random delay and says so: not the common logout time
    now = datetime.now(UTC)
    deliveries = prepare_backchannel_logouts(
        provider,
        keyring=get_components(app).keyring,
        issuer=ISSUER,
        signed_in=[SignedInPlatform("forum", "sub-a", "sid-a"), SignedInPlatform("market", "sub-b", "sid-b")],
        delays_s=[0.0, 17.0],
        now=now,
    )

    iats = [jwt.decode(d.logout_token, options={"verify_signature": False})["iat"] for d in deliveries]
    assert iats == [int(now.timestamp()), int(now.timestamp() + 17)]
    assert [d.delay_s for d in deliveries] == [0.0, 17.0]


def test_logout_without_backchannel_uri_sends_nothing(
    app: Flask, provider: Session, platforms: dict[str, str]
) -> None:
    set_logout_settings(
        provider,
        platform_id="forum",
        post_logout_redirect_uris=[],
        backchannel_logout_uri=None,
        allow_loopback=True,
        log=get_components(app).log,
        now=datetime.now(UTC),
    )

    deliveries = prepare_backchannel_logouts(
        provider,
        keyring=get_components(app).keyring,
        issuer=ISSUER,
        signed_in=[SignedInPlatform("forum", "s", "i")],
        delays_s=[0.0],
        now=datetime.now(UTC),
    )

    assert deliveries == []


def test_backchannel_logout_uri_must_be_https(
    app: Flask, provider: Session, platforms: dict[str, str]
) -> None:
    from escrow.errors import ValidationError

    with pytest.raises(ValidationError):
        set_logout_settings(
            provider,
            platform_id="forum",
            post_logout_redirect_uris=[],
            backchannel_logout_uri="http://10.0.0.1/logout",
            allow_loopback=False,
            log=get_components(app).log,
            now=datetime.now(UTC),
        )


def test_rp_initiated_logout_accepts_an_rs256_hint(person: FlaskClient, platforms: dict[str, str]) -> None:
    id_token = _sign_in(person, "market", platforms["market"])["id_token"]
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"

    response = person.get("/oidc/logout", query_string={"id_token_hint": id_token})

    assert response.status_code == 200
    assert "You are signed out of escrow" in response.get_data(as_text=True)
    assert not _is_signed_in(person)


def test_hint_from_an_earlier_escrow_session_asks_for_confirmation(
    person: FlaskClient, platforms: dict[str, str]
) -> None:
    # Given an ID token from a session that has ended, and a new sign-in in the same browser
    old_hint = _sign_in(person, "forum", platforms["forum"])["id_token"]
    page = person.get("/account/credentials").get_data(as_text=True)
    person.post("/account/logout", data={"csrf_token": csrf_token_in(page)})
    assert log_in(person).status_code == 302

    # When a logout request carries the old hint
    response = person.get("/oidc/logout", query_string={"id_token_hint": old_hint})

    # Then it does not speak for this session: the person is asked
    assert response.status_code == 200
    assert "Sign out of escrow?" in response.get_data(as_text=True)
    assert _is_signed_in(person)
