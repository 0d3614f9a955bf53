"""Admins make a platform an OIDC client: a client secret shown once, the ID token algorithm (issue 7)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import csrf_token_from

PLATFORM = {
    "id": "forum",
    "name": "Forum",
    "contact": "abuse@forum.example",
    "redirect_uris": ["https://forum.example/cb"],
}


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _form(client: FlaskClient, page: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf_token_from(client.get(page).get_data(as_text=True)), **fields}


def test_admin_json_creates_a_client_secret_once_and_sets_rs256(login_as: Any) -> None:
    client = login_as("ada", "admin")
    client.post("/api/v1/admin/platforms", json=PLATFORM, headers=_csrf(client))

    secret = client.post("/api/v1/admin/platforms/forum/oidc/client-secret", headers=_csrf(client))
    alg = client.post(
        "/api/v1/admin/platforms/forum/oidc/id-token-alg", json={"alg": "RS256"}, headers=_csrf(client)
    )
    listed = client.get("/api/v1/admin/platforms").get_json()["platforms"][0]

    assert secret.status_code == 201
    assert len(secret.get_json()["client_secret"]) >= 43
    assert alg.get_json() == {"platform_id": "forum", "id_token_alg": "RS256"}
    assert listed["has_client_secret"] is True
    assert listed["id_token_alg"] == "RS256"
    assert secret.get_json()["client_secret"] not in str(listed)


def test_admin_json_refuses_unknown_platform_and_bad_algorithm(login_as: Any, client: FlaskClient) -> None:
    admin = login_as("ada", "admin")
    admin.post("/api/v1/admin/platforms", json=PLATFORM, headers=_csrf(admin))

    unknown = admin.post("/api/v1/admin/platforms/nobody/oidc/client-secret", headers=_csrf(admin))
    bad = admin.post(
        "/api/v1/admin/platforms/forum/oidc/id-token-alg", json={"alg": "none"}, headers=_csrf(admin)
    )
    missing = admin.post("/api/v1/admin/platforms/forum/oidc/id-token-alg", json={}, headers=_csrf(admin))

    assert unknown.status_code == 404
    assert bad.status_code == 422
    assert missing.status_code == 422


def test_admin_page_shows_a_new_client_secret_once_and_sets_the_algorithm(login_as: Any) -> None:
    client = login_as("ada", "admin")
    client.post("/api/v1/admin/platforms", json=PLATFORM, headers=_csrf(client))
    assert "a public client" in client.get("/admin/platforms/forum").get_data(as_text=True)

    page = client.post(
        "/admin/platforms/forum/oidc/client-secret", data=_form(client, "/admin/platforms/forum")
    ).get_data(as_text=True)
    client.post(
        "/admin/platforms/forum/oidc/id-token-alg", data=_form(client, "/admin/platforms/forum", alg="RS256")
    )

    secret = re.search(r"New client secret.*?<code>([^<]+)</code>", page, re.S)
    assert secret is not None
    later = client.get("/admin/platforms/forum").get_data(as_text=True)
    assert secret.group(1) not in later
    assert "a confidential client" in later
    assert "ID tokens signed RS256" in later
