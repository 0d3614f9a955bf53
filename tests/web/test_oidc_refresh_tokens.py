"""Refresh tokens (issue 19): every code exchange returns one; each works once and is rotated
(RFC 9700 section 4.14.2); a used one presented again revokes the whole family; a family ends 30 days
after the sign-in whatever the rotations; withdrawn consent and RFC 7009 revocation end it too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.oidc_support import (
    RP_CALLBACK,
    MovableClock,
    add_client,
    authorize_query,
    consent_action,
    csrf_token_in,
    pkce_pair,
    query_of,
)

FORUM = "forum"


def _code(client: FlaskClient, client_id: str, **params: Any) -> str:
    response = client.get(f"/oidc/authorize?{authorize_query(client_id, **params)}")
    if response.status_code == 200:
        html = response.get_data(as_text=True)
        response = client.post(
            consent_action(html), data={"csrf_token": csrf_token_in(html), "allow": "Allow"}
        )
    return query_of(response.headers["Location"])["code"]


def _sign_in(client: FlaskClient, client_id: str, secret: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": _code(client, client_id),
            "redirect_uri": RP_CALLBACK,
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def _refresh(client: FlaskClient, refresh_token: str, auth: tuple[str, str] | None, **form: str) -> Any:
    return client.post(
        "/api/v1/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **form},
        auth=auth,
    )


def _userinfo_status(client: FlaskClient, access_token: str) -> int:
    return client.get(
        "/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    ).status_code


def test_refresh_rotates_the_refresh_token_and_the_old_one_is_spent(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    auth = (FORUM, oidc_platforms[FORUM])
    first = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])
    assert "refresh_token" in first

    second = _refresh(oidc_person, first["refresh_token"], auth)

    assert second.status_code == 200, second.get_data(as_text=True)
    tokens = second.get_json()
    assert tokens["refresh_token"] != first["refresh_token"]
    assert tokens["access_token"] != first["access_token"]
    assert _userinfo_status(oidc_person, tokens["access_token"]) == 200
    assert "id_token" not in tokens  # OIDC Core 12.2: optional; the envelope digest came with the sign-in


def test_stolen_refresh_token_replayed_revokes_the_whole_family(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    # Given a platform that refreshed once (R1 -> R2), and a thief who kept a copy of R1
    auth = (FORUM, oidc_platforms[FORUM])
    first = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])
    second = _refresh(oidc_person, first["refresh_token"], auth).get_json()

    # When the thief presents R1
    replay = _refresh(oidc_person, first["refresh_token"], auth)

    # Then it is refused, and every token of that sign-in is dead: R2 and both access tokens
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    assert _refresh(oidc_person, second["refresh_token"], auth).get_json()["error"] == "invalid_grant"
    assert _userinfo_status(oidc_person, first["access_token"]) == 401
    assert _userinfo_status(oidc_person, second["access_token"]) == 401


def test_another_sign_in_is_not_touched_by_a_replay(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    auth = (FORUM, oidc_platforms[FORUM])
    victim, other = (
        _sign_in(oidc_person, FORUM, oidc_platforms[FORUM]),
        _sign_in(oidc_person, FORUM, oidc_platforms[FORUM]),
    )
    _refresh(oidc_person, victim["refresh_token"], auth)
    _refresh(oidc_person, victim["refresh_token"], auth)  # the replay

    assert _refresh(oidc_person, other["refresh_token"], auth).status_code == 200


def test_another_platforms_refresh_token_is_invalid_grant_and_stays_usable(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    market = _sign_in(oidc_person, "market", oidc_platforms["market"])

    stolen = _refresh(oidc_person, market["refresh_token"], (FORUM, oidc_platforms[FORUM]))

    assert stolen.get_json()["error"] == "invalid_grant"
    assert (
        _refresh(oidc_person, market["refresh_token"], ("market", oidc_platforms["market"])).status_code
        == 200
    )


def test_refresh_needs_the_platforms_client_authentication(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    tokens = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])

    assert _refresh(oidc_person, tokens["refresh_token"], (FORUM, "wrong")).status_code == 401
    assert (
        _refresh(oidc_person, tokens["refresh_token"], (FORUM, oidc_platforms[FORUM])).status_code == 200
    )  # not spent


def test_a_family_ends_thirty_days_after_the_sign_in_whatever_the_rotations(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_clock: MovableClock
) -> None:
    auth = (FORUM, oidc_platforms[FORUM])
    token = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])["refresh_token"]
    for _ in range(3):
        oidc_clock.advance(days=9)
        token = _refresh(oidc_person, token, auth).get_json()["refresh_token"]

    oidc_clock.advance(days=4)  # 31 days after the sign-in

    assert _refresh(oidc_person, token, auth).get_json()["error"] == "invalid_grant"


def test_withdrawn_consent_ends_the_platforms_refresh_and_access_tokens(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    tokens = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])
    page = oidc_person.get("/account/connections").get_data(as_text=True)

    oidc_person.post(f"/account/connections/{FORUM}/withdraw", data={"csrf_token": csrf_token_in(page)})

    assert (
        _refresh(oidc_person, tokens["refresh_token"], (FORUM, oidc_platforms[FORUM])).get_json()["error"]
        == "invalid_grant"
    )
    assert _userinfo_status(oidc_person, tokens["access_token"]) == 401


def test_revoking_a_refresh_token_revokes_its_family(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    auth = (FORUM, oidc_platforms[FORUM])
    tokens = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])

    assert (
        oidc_person.post(
            "/api/v1/oidc/revoke", data={"token": tokens["refresh_token"]}, auth=auth
        ).status_code
        == 200
    )

    assert _refresh(oidc_person, tokens["refresh_token"], auth).get_json()["error"] == "invalid_grant"
    assert _userinfo_status(oidc_person, tokens["access_token"]) == 401


def test_introspection_of_a_refresh_token(oidc_person: FlaskClient, oidc_platforms: dict[str, str]) -> None:
    auth = (FORUM, oidc_platforms[FORUM])
    tokens = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])

    live = oidc_person.post(
        "/api/v1/oidc/introspect", data={"token": tokens["refresh_token"]}, auth=auth
    ).get_json()
    _refresh(oidc_person, tokens["refresh_token"], auth)
    spent = oidc_person.post(
        "/api/v1/oidc/introspect", data={"token": tokens["refresh_token"]}, auth=auth
    ).get_json()

    assert live["active"] is True
    assert live["client_id"] == FORUM
    assert "token_type" not in live  # not a bearer token
    assert spent == {"active": False}


def test_a_refresh_token_is_not_a_bearer_token(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    tokens = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])

    assert _userinfo_status(oidc_person, tokens["refresh_token"]) == 401


def test_public_client_refreshes_with_its_client_id(
    app: Flask, oidc_person: FlaskClient, oidc_provider: Session
) -> None:
    add_client(oidc_provider, app, "app", confidential=False)
    verifier, challenge = pkce_pair()
    code = _code(oidc_person, "app", code_challenge=challenge, code_challenge_method="S256")
    tokens = oidc_person.post(
        "/api/v1/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_CALLBACK,
            "client_id": "app",
            "code_verifier": verifier,
        },
    ).get_json()

    refreshed = _refresh(oidc_person, tokens["refresh_token"], None, client_id="app")

    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)
    assert refreshed.get_json()["refresh_token"] != tokens["refresh_token"]


def test_discovery_announces_the_refresh_token_grant(client: FlaskClient) -> None:
    assert client.get("/.well-known/openid-configuration").get_json()["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
    ]


def test_rotation_keeps_the_family_end(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_clock: MovableClock
) -> None:
    auth = (FORUM, oidc_platforms[FORUM])
    first = _sign_in(oidc_person, FORUM, oidc_platforms[FORUM])["refresh_token"]
    before = oidc_person.post("/api/v1/oidc/introspect", data={"token": first}, auth=auth).get_json()["exp"]
    oidc_clock.advance(days=1)

    second = _refresh(oidc_person, first, auth).get_json()["refresh_token"]

    after = oidc_person.post("/api/v1/oidc/introspect", data={"token": second}, auth=auth).get_json()["exp"]
    assert after == before
    assert timedelta(seconds=before - int(oidc_clock.now.timestamp())) < timedelta(days=30)
