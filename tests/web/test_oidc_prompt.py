"""OIDC Core by the letter at the authorization endpoint (issue 19): ``auth_time`` that no two
platforms share, ``max_age`` and ``prompt=login`` signing the person in again, ``prompt=consent``,
request objects refused, and RFC 9207's ``iss`` in every authorization response.

Through the test client, over the real app; the clock is the components' clock, moved by the test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.models import OidcCode
from tests.oidc_support import (
    CLOCK_START,
    RP_CALLBACK,
    MovableClock,
    authorize_query,
    consent_action,
    csrf_token_in,
    log_in,
    query_of,
)

ISSUER = "http://escrow.test"


def _follow_to_callback(client: FlaskClient, response: Any) -> dict[str, str]:
    """Follows redirects and the consent screen until the platform's callback; returns its query."""
    for _ in range(6):
        if response.status_code == 200:  # the consent screen
            html = response.get_data(as_text=True)
            response = client.post(
                consent_action(html), data={"csrf_token": csrf_token_in(html), "allow": "Allow"}
            )
            continue
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        if location.startswith(RP_CALLBACK):
            return query_of(location)
        response = client.get(location)
    raise AssertionError("no redirect to the platform")


def _id_token(client: FlaskClient, client_id: str, secret: str, code: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return jwt.decode(response.get_json()["id_token"], options={"verify_signature": False})  # type: ignore[no-any-return]


def _sign_in(
    client: FlaskClient,
    client_id: str,
    secret: str,
    *,
    relogin: Callable[[], None] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One sign-in of the platform: authorize (signing in again when escrow asks), then the token."""
    response = client.get(f"/oidc/authorize?{authorize_query(client_id, **params)}")
    if response.status_code == 302 and response.headers["Location"].endswith("/account/login"):
        assert relogin is not None, "escrow asked for a sign-in the test did not expect"
        relogin()
        response = log_in(client)
    back = _follow_to_callback(client, response)
    assert "code" in back, back
    assert back["iss"] == ISSUER  # RFC 9207
    return _id_token(client, client_id, secret, back["code"])


def test_colluding_platforms_cannot_join_a_person_by_auth_time(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_clock: MovableClock, oidc_provider: Session
) -> None:
    # Given a person who signed in to escrow once (at CLOCK_START), then to two platforms hours apart
    oidc_clock.advance(hours=2)
    forum = _sign_in(oidc_person, "forum", oidc_platforms["forum"])
    oidc_clock.advance(hours=3)
    market = _sign_in(oidc_person, "market", oidc_platforms["market"])

    # Then neither ID token says when the person signed in to escrow (the shared value), and no
    # code row in a copy of the database holds it either
    assert "auth_time" not in forum
    assert "auth_time" not in market
    assert all(c.auth_time is None for c in oidc_provider.scalars(select(OidcCode)))

    # When both platforms ask for auth_time (max_age), hours apart
    oidc_clock.advance(hours=1)
    forum = _sign_in(
        oidc_person,
        "forum",
        oidc_platforms["forum"],
        relogin=lambda: oidc_clock.advance(seconds=7),
        max_age="3600",
    )
    oidc_clock.advance(hours=2)
    market = _sign_in(
        oidc_person,
        "market",
        oidc_platforms["market"],
        relogin=lambda: oidc_clock.advance(seconds=7),
        max_age="3600",
    )

    # Then each gets the time of a sign-in made for it alone: different, and not the escrow sign-in
    assert forum["auth_time"] != market["auth_time"]
    assert int(CLOCK_START.timestamp()) not in (forum["auth_time"], market["auth_time"])
    # ... and the two ID tokens share nothing that is about this person but the assurance level
    shared = {k for k in forum.keys() & market.keys() if forum[k] == market[k]}
    assert shared == {"iss", "acr", "verified_unique"}
    stored = [c.auth_time for c in oidc_provider.scalars(select(OidcCode)) if c.auth_time is not None]
    assert len(stored) == len(set(stored)) == 2


def test_max_age_signs_the_person_in_again_and_auth_time_is_that_sign_in(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_clock: MovableClock
) -> None:
    # Given a person signed in to escrow 10 minutes ago
    oidc_clock.advance(minutes=10)

    # When the platform asks for max_age=30 (past it: openid-client's tolerance is 30 s)
    claims = _sign_in(
        oidc_person,
        "forum",
        oidc_platforms["forum"],
        relogin=lambda: oidc_clock.advance(seconds=3),
        max_age="30",
    )

    # Then escrow made them sign in again, and auth_time is that sign-in, within max_age
    assert claims["auth_time"] == int(oidc_clock.now.timestamp())
    assert claims["iat"] - claims["auth_time"] <= 30


def test_a_fresh_sign_in_serves_one_authorization_request_only(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_clock: MovableClock
) -> None:
    first = _sign_in(
        oidc_person,
        "forum",
        oidc_platforms["forum"],
        relogin=lambda: oidc_clock.advance(seconds=2),
        max_age="0",
    )
    oidc_clock.advance(seconds=5)

    # The next request that asks for a fresh sign-in gets one of its own, not the last one
    second = _sign_in(
        oidc_person,
        "forum",
        oidc_platforms["forum"],
        relogin=lambda: oidc_clock.advance(seconds=2),
        max_age="0",
    )

    assert second["auth_time"] > first["auth_time"]


def test_prompt_login_forces_a_new_sign_in_with_a_fresh_auth_time(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_clock: MovableClock
) -> None:
    oidc_clock.advance(minutes=1)

    claims = _sign_in(
        oidc_person,
        "forum",
        oidc_platforms["forum"],
        relogin=lambda: oidc_clock.advance(seconds=4),
        prompt="login",
    )

    assert claims["auth_time"] == int(oidc_clock.now.timestamp())
    assert claims["auth_time"] > int(CLOCK_START.timestamp())


def test_prompt_login_without_signing_in_again_issues_no_code(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    query = authorize_query("forum", prompt="login")
    assert oidc_person.get(f"/oidc/authorize?{query}").headers["Location"].endswith("/account/login")

    # Coming back to the request without having signed in again still asks for the sign-in
    response = oidc_person.get(f"/oidc/authorize?{query}")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/login")


@pytest.mark.parametrize("params", [{"prompt": "none", "max_age": "60"}, {"prompt": "none login"}])
def test_prompt_none_that_needs_a_sign_in_goes_back_as_an_error(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], params: dict[str, str]
) -> None:
    response = oidc_person.get(f"/oidc/authorize?{authorize_query('forum', state='s-1', **params)}")

    assert response.status_code == 302
    back = query_of(response.headers["Location"])
    expected = "login_required" if "login" not in params["prompt"] else "invalid_request"
    assert back["error"] == expected
    assert back["state"] == "s-1"
    assert back["iss"] == ISSUER


def test_prompt_consent_asks_again_although_consent_is_remembered(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    _sign_in(oidc_person, "forum", oidc_platforms["forum"])
    assert oidc_person.get(f"/oidc/authorize?{authorize_query('forum')}").status_code == 302  # remembered

    response = oidc_person.get(f"/oidc/authorize?{authorize_query('forum', prompt='consent')}")

    assert response.status_code == 200
    assert "verified unique person" in response.get_data(as_text=True)


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "", "١٢"])
def test_malformed_max_age_goes_back_as_invalid_request(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], max_age: str
) -> None:
    response = oidc_person.get(f"/oidc/authorize?{authorize_query('forum', max_age=max_age)}")

    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("parameter", "error"),
    [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")],
)
def test_request_object_goes_back_as_not_supported(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], parameter: str, error: str
) -> None:
    # OIDC Core 6: a provider without request objects says so rather than ignore one (which would
    # drop whatever the platform put in it: a max_age, a nonce)
    value = "eyJhbGciOiJub25lIn0.eyJtYXhfYWdlIjowfQ." if parameter == "request" else "https://rp.example/r"
    response = oidc_person.get(
        f"/oidc/authorize?{authorize_query('forum', state='s-2', **{parameter: value})}"
    )

    assert response.status_code == 302
    back = query_of(response.headers["Location"])
    assert back["error"] == error
    assert back["state"] == "s-2"
    assert back["iss"] == ISSUER


def test_login_required_error_carries_iss(client: FlaskClient, oidc_platforms: dict[str, str]) -> None:
    response = client.get(f"/oidc/authorize?{authorize_query('forum', prompt='none')}")

    assert query_of(response.headers["Location"]) == {
        **query_of(response.headers["Location"]),
        "error": "login_required",
        "iss": ISSUER,
    }


def test_discovery_announces_iss_parameter_and_acr_uris(client: FlaskClient) -> None:
    document = client.get("/.well-known/openid-configuration").get_json()

    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["acr_values_supported"] == [
        "http://eidas.europa.eu/LoA/low",
        "http://eidas.europa.eu/LoA/substantial",
        "http://eidas.europa.eu/LoA/high",
    ]
    assert document["request_parameter_supported"] is False
