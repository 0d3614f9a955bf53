"""What OAuth relying parties expect around the token (issue 19): RFC 8414 metadata, RFC 7009
revocation, RFC 7662 introspection (own tokens only), CORS for registered origins, and RFC 6750's
answer to a userinfo request without a token."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.oidc_support import (
    RP_CALLBACK,
    add_client,
    authorize_query,
    consent_action,
    csrf_token_in,
    query_of,
)

REGISTERED_ORIGIN = "http://localhost"  # the origin of RP_CALLBACK


def _access_token(client: FlaskClient, client_id: str, secret: str) -> str:
    response = client.get(f"/oidc/authorize?{authorize_query(client_id)}")
    if response.status_code == 200:
        html = response.get_data(as_text=True)
        response = client.post(
            consent_action(html), data={"csrf_token": csrf_token_in(html), "allow": "Allow"}
        )
    code = query_of(response.headers["Location"])["code"]
    tokens = client.post(
        "/api/v1/oidc/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK},
        auth=(client_id, secret),
    )
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    return str(tokens.get_json()["access_token"])


def _introspect(client: FlaskClient, token: str, auth: tuple[str, str] | None) -> Any:
    return client.post("/api/v1/oidc/introspect", data={"token": token}, auth=auth)


def test_rfc8414_metadata_is_served_and_names_revocation_and_introspection(client: FlaskClient) -> None:
    oauth = client.get("/.well-known/oauth-authorization-server")
    openid = client.get("/.well-known/openid-configuration").get_json()

    assert oauth.status_code == 200
    document = oauth.get_json()
    assert document == openid
    assert document["revocation_endpoint"] == document["issuer"] + "/api/v1/oidc/revoke"
    assert document["introspection_endpoint"] == document["issuer"] + "/api/v1/oidc/introspect"
    assert document["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert oauth.headers["Access-Control-Allow-Origin"] == "*"


def test_introspection_describes_the_platforms_own_active_token(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    token = _access_token(oidc_person, "forum", oidc_platforms["forum"])

    body = _introspect(oidc_person, token, ("forum", oidc_platforms["forum"])).get_json()

    assert body["active"] is True
    assert body["client_id"] == "forum"
    assert body["token_type"] == "Bearer"
    assert (
        body["sub"]
        == oidc_person.get("/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()[
            "sub"
        ]
    )
    assert body["exp"] - body["iat"] == 3600


def test_introspecting_another_platforms_token_says_only_inactive(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    # Given a token of the market
    token = _access_token(oidc_person, "market", oidc_platforms["market"])

    # When the forum introspects it, it learns nothing (not even that it exists: RFC 7662 2.2)
    body = _introspect(oidc_person, token, ("forum", oidc_platforms["forum"])).get_json()

    assert body == {"active": False}
    assert _introspect(oidc_person, "no-such-token", ("forum", oidc_platforms["forum"])).get_json() == {
        "active": False
    }


def test_introspection_needs_a_confidential_clients_secret(
    app: Flask, oidc_person: FlaskClient, oidc_platforms: dict[str, str], oidc_provider: Session
) -> None:
    token = _access_token(oidc_person, "forum", oidc_platforms["forum"])
    add_client(oidc_provider, app, "app", confidential=False)

    for auth in (None, ("forum", "wrong secret")):
        response = _introspect(oidc_person, token, auth)
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_client"
    public = oidc_person.post("/api/v1/oidc/introspect", data={"token": token, "client_id": "app"})
    assert public.status_code == 401


def test_revoked_token_no_longer_reads_userinfo_and_introspects_inactive(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    token = _access_token(oidc_person, "forum", oidc_platforms["forum"])
    bearer = {"Authorization": f"Bearer {token}"}
    assert oidc_person.get("/api/v1/oidc/userinfo", headers=bearer).status_code == 200

    response = oidc_person.post(
        "/api/v1/oidc/revoke",
        data={"token": token, "token_type_hint": "refresh_token"},  # a wrong hint only widens the search
        auth=("forum", oidc_platforms["forum"]),
    )

    assert response.status_code == 200
    assert oidc_person.get("/api/v1/oidc/userinfo", headers=bearer).status_code == 401
    assert _introspect(oidc_person, token, ("forum", oidc_platforms["forum"])).get_json() == {"active": False}


def test_revoking_an_unknown_token_is_200_and_another_platforms_token_is_refused(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    market_token = _access_token(oidc_person, "market", oidc_platforms["market"])
    forum = ("forum", oidc_platforms["forum"])

    assert oidc_person.post("/api/v1/oidc/revoke", data={"token": "unknown"}, auth=forum).status_code == 200
    refused = oidc_person.post("/api/v1/oidc/revoke", data={"token": market_token}, auth=forum)

    assert refused.status_code == 400
    assert (
        oidc_person.get(
            "/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {market_token}"}
        ).status_code
        == 200
    )
    assert (
        oidc_person.post("/api/v1/oidc/revoke", data={"token": market_token}).status_code == 401
    )  # no client


@pytest.mark.parametrize("path", ["/api/v1/oidc/token", "/api/v1/oidc/userinfo", "/api/v1/oidc/revoke"])
def test_cors_preflight_is_allowed_for_a_registered_origin_only(
    client: FlaskClient, oidc_platforms: dict[str, str], path: str
) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}

    allowed = client.options(path, headers={"Origin": REGISTERED_ORIGIN, **preflight})
    other = client.options(path, headers={"Origin": "https://evil.example", **preflight})

    assert allowed.headers["Access-Control-Allow-Origin"] == REGISTERED_ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Credentials" not in allowed.headers  # never with cookies


def test_userinfo_answer_is_readable_by_a_registered_origin(
    oidc_person: FlaskClient, oidc_platforms: dict[str, str]
) -> None:
    token = _access_token(oidc_person, "forum", oidc_platforms["forum"])

    response = oidc_person.get(
        "/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {token}", "Origin": REGISTERED_ORIGIN}
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == REGISTERED_ORIGIN


def test_jwks_and_discovery_are_readable_from_any_origin(client: FlaskClient) -> None:
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration"):
        assert (
            client.get(path, headers={"Origin": "https://any.example"}).headers["Access-Control-Allow-Origin"]
            == "*"
        )


def test_userinfo_without_any_token_gets_the_challenge_without_an_error_code(client: FlaskClient) -> None:
    # RFC 6750 3.1: no authentication information at all -> no error code or other error information
    response = client.get("/api/v1/oidc/userinfo")

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert "error" not in challenge
    assert response.get_data() == b""


def test_userinfo_with_a_bad_token_says_invalid_token(client: FlaskClient) -> None:
    response = client.get("/api/v1/oidc/userinfo", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
