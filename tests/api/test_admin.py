"""Admins manage platforms, API keys and verification officers; officers register people in person."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
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


def test_admin_registers_a_platform_and_creates_an_api_key_shown_once(login_as: Any) -> None:
    client = login_as("ada", "admin")

    created = client.post("/api/v1/admin/platforms", json=PLATFORM, headers=_csrf(client))
    key = client.post("/api/v1/admin/platforms/forum/api-keys", headers=_csrf(client))
    listed = client.get("/api/v1/admin/platforms/forum/api-keys").get_json()["api_keys"]

    assert created.status_code == 201
    assert key.get_json()["api_key"].startswith(key.get_json()["prefix"])
    assert listed == [{k: v for k, v in key.get_json().items() if k != "api_key"}]


def test_admin_revokes_an_api_key(login_as: Any) -> None:
    client = login_as("ada", "admin")
    client.post("/api/v1/admin/platforms", json=PLATFORM, headers=_csrf(client))
    prefix = client.post("/api/v1/admin/platforms/forum/api-keys", headers=_csrf(client)).get_json()["prefix"]

    revoked = client.post(f"/api/v1/admin/platforms/forum/api-keys/{prefix}/revoke", headers=_csrf(client))

    assert revoked.get_json()["is_revoked"] is True


def test_platform_json_api_refuses_bad_input_with_problems(login_as: Any) -> None:
    client = login_as("ada", "admin")

    bad_id = client.post("/api/v1/admin/platforms", json={**PLATFORM, "id": "Bad Id"}, headers=_csrf(client))
    bad_uris = client.post(
        "/api/v1/admin/platforms", json={**PLATFORM, "redirect_uris": "x"}, headers=_csrf(client)
    )
    no_csrf = client.post("/api/v1/admin/platforms", json=PLATFORM)

    assert (bad_id.status_code, bad_uris.status_code, no_csrf.status_code) == (422, 422, 400)
    assert bad_id.mimetype == "application/problem+json"


def test_non_admin_staff_and_anonymous_callers_are_refused(client: FlaskClient, login_as: Any) -> None:
    assert client.get("/api/v1/admin/platforms").status_code == 401
    officer = login_as("olga", "verification_officer")

    assert officer.get("/api/v1/admin/platforms").status_code == 403
    assert officer.get("/admin/platforms").status_code == 403


def test_admin_pages_register_platform_create_key_and_add_officer(login_as: Any) -> None:
    client = login_as("ada", "admin")

    client.post(
        "/admin/platforms",
        data=_form(
            client,
            "/admin/platforms",
            platform_id="forum",
            name="Forum",
            contact="abuse@forum.example",
            redirect_uris="https://forum.example/cb",
        ),
    )
    key_page = client.post("/admin/platforms/forum/api-keys", data=_form(client, "/admin/platforms/forum"))
    client.post(
        "/admin/officers",
        data=_form(
            client,
            "/admin/officers",
            username="olga",
            display_name="Olga",
            organisation="Town hall",
            password="a long officer password",
        ),
    )

    assert "shown only once" in key_page.get_data(as_text=True)
    assert "esk_" in client.get("/admin/platforms/forum").get_data(as_text=True)
    assert "Town hall" in client.get("/admin/officers").get_data(as_text=True)


def test_admin_page_refuses_a_malformed_lifetime(login_as: Any) -> None:
    client = login_as("ada", "admin")

    response = client.post(
        "/admin/platforms",
        data=_form(
            client,
            "/admin/platforms",
            platform_id="x",
            name="X",
            contact="c",
            credential_lifetime_days="lots",
        ),
    )

    assert response.status_code == 422


def test_officer_registers_a_person_who_then_logs_in_with_a_password(
    app: Flask, login_as: Any, db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    # Given an officer who registered a person at the desk
    officer = login_as("olga", "verification_officer")
    page = officer.post(
        "/officer/register",
        data=_form(
            officer,
            "/officer/register",
            document_type="passport",
            issuing_country="FRA",
            document_number="12AB34567",
            name="Hana Example",
            birthdate="1988-08-08",
            password="the person's own password",
        ),
    )
    assert page.status_code == 201

    # When the person logs in with their document and password
    person = app.test_client()
    login = person.post(
        "/account/login",
        data=_form(
            person,
            "/account/login",
            issuing_country="FRA",
            document_number="12AB34567",
            password="the person's own password",
        ),
    )

    # Then they are in, and the page the officer saw never echoed the identity
    assert login.status_code == 302
    assert person.get("/api/v1/me/credentials").status_code == 200
    assert "Hana" not in page.get_data(as_text=True)


def test_officer_json_registration_and_its_errors(
    login_as: Any, db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    officer = login_as("olga", "verification_officer")
    body: dict[str, Any] = {
        "document_type": "id_card",
        "issuing_country": "DEU",
        "document_number": "L01X00T47",
        "name": "Ida Example",
        "birthdate": "1977-07-07",
        "password": "another long password",
    }

    created = officer.post("/api/v1/officer/persons", json=body, headers=_csrf(officer))
    again = officer.post("/api/v1/officer/persons", json=body, headers=_csrf(officer))
    bad = officer.post("/api/v1/officer/persons", json={**body, "birthdate": "soon"}, headers=_csrf(officer))

    assert created.status_code == 201
    assert again.status_code == 409
    assert (bad.status_code, bad.get_json()["code"]) == (422, "identity-proof-failed")
    assert "soon" not in bad.get_data(as_text=True)


def test_admin_revokes_any_credential_by_id_and_unknown_ids_are_not_found(login_as: Any) -> None:
    client = login_as("ada", "admin")

    response = client.post("/api/v1/admin/credentials/nope/revoke", headers=_csrf(client))

    assert response.status_code == 404


def test_admin_pages_revoke_an_api_key_and_a_credential(login_as: Any, db_session: Session) -> None:
    from tests.credentials_support import add_api_key, add_platform

    client = login_as("ada", "admin")
    add_platform(db_session)
    add_api_key(db_session, "forum")
    page = client.get("/admin/platforms/forum").get_data(as_text=True)
    prefix = page.split("<code>esk_")[1].split("</code>")[0]

    revoked = client.post(
        f"/admin/platforms/forum/api-keys/esk_{prefix}/revoke", data=_form(client, "/admin/platforms")
    )
    unknown = client.post(
        "/admin/credentials/revoke", data=_form(client, "/admin/platforms", credential_id="nope")
    )

    assert revoked.status_code == 302
    assert "revoked" in client.get("/admin/platforms/forum").get_data(as_text=True)
    assert unknown.status_code == 404
