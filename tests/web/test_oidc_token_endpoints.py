"""What OAuth relying parties expect around the token (issue 19): RFC 8414 metadata, RFC 7009
revocation, RFC 7662 introspection (own tokens only), CORS for registered origins, and RFC 6750's
answer to a userinfo request without a token."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.httpkit import get_components
from tests.oidc_support import (
    PASSWORD,
    RP_CALLBACK,
    add_client,
    authorize_query,
    consent_action,
    csrf_token_in,
    query_of,
    register_person,
    setup_provider,
)

REGISTERED_ORIGIN = "http://localhost"  # the origin of RP_CALLBACK


@pytest.fixture
def setup(app: Flask) -> Session:
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    return session


@pytest.fixture
def secrets_(app: Flask, setup: Session) -> dict[str, str]:
    forum, market = add_client(setup, app, "forum"), add_client(setup, app, "market")
    assert forum is not None
    assert market is not None
    return {"forum": forum, "market": market}


@pytest.fixture
def person(client: FlaskClient, setup: Session) -> FlaskClient:
    page = client.get("/account/login").get_data(as_text=True)
    response = client.post(
        "/account/login",
        data={
            "issuing_country": "BEL",
            "document_number": "P1234567",
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page),
        },
    )
    assert response.status_code == 302
    return client


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
    person: FlaskClient, secrets_: dict[str, str]
) -> None:
    token = _access_token(person, "forum", secrets_["forum"])

    body = _introspect(person, token, ("forum", secrets_["forum"])).get_json()

    assert body["active"] is True
    assert body["client_id"] == "forum"
    assert body["token_type"] == "Bearer"
    assert (
        body["sub"]
        == person.get("/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).get_json()["sub"]
    )
    assert body["exp"] - body["iat"] == 3600


def test_introspecting_another_platforms_token_says_only_inactive(
    person: FlaskClient, secrets_: dict[str, str]
) -> None:
    # Given a token of the market
    token = _access_token(person, "market", secrets_["market"])

    # When the forum introspects it, it learns nothing (not even that it exists: RFC 7662 2.2)
    body = _introspect(person, token, ("forum", secrets_["forum"])).get_json()

    assert body == {"active": False}
    assert _introspect(person, "no-such-token", ("forum", secrets_["forum"])).get_json() == {"active": False}


def test_introspection_needs_a_confidential_clients_secret(
    app: Flask, person: FlaskClient, secrets_: dict[str, str], setup: Session
) -> None:
    token = _access_token(person, "forum", secrets_["forum"])
    add_client(setup, app, "app", confidential=False)

    for auth in (None, ("forum", "wrong secret")):
        response = _introspect(person, token, auth)
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_client"
    public = person.post("/api/v1/oidc/introspect", data={"token": token, "client_id": "app"})
    assert public.status_code == 401


def test_revoked_token_no_longer_reads_userinfo_and_introspects_inactive(
    person: FlaskClient, secrets_: dict[str, str]
) -> None:
    token = _access_token(person, "forum", secrets_["forum"])
    bearer = {"Authorization": f"Bearer {token}"}
    assert person.get("/api/v1/oidc/userinfo", headers=bearer).status_code == 200

    response = person.post(
        "/api/v1/oidc/revoke",
        data={"token": token, "token_type_hint": "refresh_token"},  # a wrong hint only widens the search
        auth=("forum", secrets_["forum"]),
    )

    assert response.status_code == 200
    assert person.get("/api/v1/oidc/userinfo", headers=bearer).status_code == 401
    assert _introspect(person, token, ("forum", secrets_["forum"])).get_json() == {"active": False}


def test_revoking_an_unknown_token_is_200_and_another_platforms_token_is_refused(
    person: FlaskClient, secrets_: dict[str, str]
) -> None:
    market_token = _access_token(person, "market", secrets_["market"])
    forum = ("forum", secrets_["forum"])

    assert person.post("/api/v1/oidc/revoke", data={"token": "unknown"}, auth=forum).status_code == 200
    refused = person.post("/api/v1/oidc/revoke", data={"token": market_token}, auth=forum)

    assert refused.status_code == 400
    assert (
        person.get("/api/v1/oidc/userinfo", headers={"Authorization": f"Bearer {market_token}"}).status_code
        == 200
    )
    assert person.post("/api/v1/oidc/revoke", data={"token": market_token}).status_code == 401  # no client


@pytest.mark.parametrize("path", ["/api/v1/oidc/token", "/api/v1/oidc/userinfo", "/api/v1/oidc/revoke"])
def test_cors_preflight_is_allowed_for_a_registered_origin_only(
    client: FlaskClient, secrets_: dict[str, str], path: str
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
    person: FlaskClient, secrets_: dict[str, str]
) -> None:
    token = _access_token(person, "forum", secrets_["forum"])

    response = person.get(
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
