"""Staff sign-in through the real form: CSRF, roles on pages and JSON, safe redirects."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from escrow.api.auth import role_required as api_role_required
from escrow.web.auth import role_required
from tests.conftest import STAFF_PASSWORD, csrf_token_from


def _add_protected_routes(app: Flask) -> None:
    @app.get("/test/admin-page")
    @role_required("admin")
    def admin_page() -> str:
        return "admin only"

    @app.get("/api/test/officer")
    @api_role_required("legal_officer")
    def officer_api() -> dict[str, bool]:
        return {"ok": True}


def test_login_with_valid_password_then_logout(client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("alice", "admin")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": "alice", "password": STAFF_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    session = client.get("/api/v1/session").get_json()
    assert session["staff"]["username"] == "alice"
    assert session["staff"]["roles"] == ["admin"]
    page = client.get("/").get_data(as_text=True)
    token = csrf_token_from(page)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/v1/session").get_json()["staff"] is None


def test_wrong_password_is_refused_with_401(client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("alice", "admin")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": "alice", "password": "nope nope nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "unknown username or wrong password" in response.get_data(as_text=True)


def test_login_post_without_csrf_token_is_rejected(client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("alice", "admin")
    response = client.post("/login", data={"username": "alice", "password": STAFF_PASSWORD})
    assert response.status_code == 400
    assert client.get("/api/v1/session").get_json()["staff"] is None


def test_pages_need_login_and_the_right_role(app: Flask, client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    _add_protected_routes(app)
    response = client.get("/test/admin-page")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    login_as("olga", "legal_officer")
    assert client.get("/test/admin-page").status_code == 403
    assert client.get("/api/test/officer").get_json() == {"ok": True}


def test_json_endpoints_answer_401_and_403_problems(app: Flask, client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    _add_protected_routes(app)
    anonymous = client.get("/api/test/officer")
    assert anonymous.status_code == 401
    assert anonymous.get_json()["code"] == "authentication-failed"
    login_as("ada", "admin")
    forbidden = client.get("/api/test/officer")
    assert forbidden.status_code == 403
    assert forbidden.get_json()["code"] == "permission-denied"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_login_never_redirects_off_site(client: FlaskClient, make_staff, target: str) -> None:  # type: ignore[no-untyped-def]
    make_staff("alice", "admin")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        f"/login?next={target}", data={"username": "alice", "password": STAFF_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
