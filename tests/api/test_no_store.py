"""Issue 17, finding 9: every response that carries a secret (a credential, an API key, a client
secret, an invitation code, an authenticator key) says ``Cache-Control: no-store``; the public,
cacheable ones keep their own."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.identity.devidp import DevIdentityProvider, DevUser
from tests.credentials_support import add_platform, sign_in
from tests.staff_support import csrf_token_from

JUN = DevUser("jun", "Jun Example", "1980-01-02")


def _api_csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


@pytest.fixture
def person(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session
) -> FlaskClient:
    add_platform(db_session, "forum")
    assert sign_in(client, dev_idp, JUN).status_code == 302
    return client


@pytest.fixture
def admin(app: Flask, make_staff, db_session: Session) -> FlaskClient:  # type: ignore[no-untyped-def]
    from tests.conftest import STAFF_PASSWORD, sign_in_staff

    add_platform(db_session, "forum")
    make_staff("ada", "admin")
    return sign_in_staff(app.test_client(), "ada", STAFF_PASSWORD)


def test_an_issued_credential_is_not_stored_by_caches(person: FlaskClient) -> None:
    api = person.post("/api/v1/me/credentials", json={"platform_id": "forum"}, headers=_api_csrf(person))
    token = csrf_token_from(person.get("/account/credentials").get_data(as_text=True))
    page = person.post("/account/credentials", data={"platform_id": "forum", "csrf_token": token})

    assert api.status_code == 201
    assert "shown only once" in page.get_data(as_text=True)
    assert api.headers["Cache-Control"] == "no-store"
    assert page.headers["Cache-Control"] == "no-store"


def test_a_new_api_key_and_client_secret_are_not_stored_by_caches(admin: FlaskClient) -> None:
    headers = _api_csrf(admin)
    api_key = admin.post("/api/v1/admin/platforms/forum/api-keys", headers=headers)
    secret = admin.post("/api/v1/admin/platforms/forum/oidc/client-secret", headers=headers)
    token = csrf_token_from(admin.get("/admin/platforms/forum").get_data(as_text=True))
    key_page = admin.post("/admin/platforms/forum/api-keys", data={"csrf_token": token})
    secret_page = admin.post("/admin/platforms/forum/oidc/client-secret", data={"csrf_token": token})

    assert (api_key.status_code, secret.status_code) == (201, 201)
    assert (key_page.status_code, secret_page.status_code) == (200, 200)
    for response in (api_key, secret, key_page, secret_page):
        assert response.headers["Cache-Control"] == "no-store"


def test_a_keyholder_invitation_code_is_not_stored_by_caches(admin: FlaskClient) -> None:
    token = csrf_token_from(admin.get("/admin/keyholders").get_data(as_text=True))

    page = admin.post(
        "/admin/keyholders",
        data={"name": "Holder", "organisation": "Org", "contact": "h@example.org", "csrf_token": token},
    )

    assert "--invite " in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_public_cacheable_answers_keep_their_own_cache_control(client: FlaskClient) -> None:
    assert client.get("/.well-known/jwks.json").headers["Cache-Control"].startswith("public")
