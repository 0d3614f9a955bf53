"""Server-side sessions (issue 17 finding 4): the cookie holds only a random id; sign-out destroys the
session, sign-in renews its id and CSRF token, an idle timeout and an absolute lifetime end it, and the
cookie is Secure outside development mode."""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.app import create_app
from escrow.config import Settings
from escrow.httpkit import get_components
from tests.oidc_support import MovableClock, csrf_token_in, log_in, use_clock

COOKIE = "session"


def _staff(client: FlaskClient) -> object:
    return client.get("/api/v1/session").get_json()["staff"]


def _person_credentials_status(client: FlaskClient) -> int:
    return client.get("/api/v1/me/credentials").status_code


def _cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return None if cookie is None else cookie.value


def _csrf(client: FlaskClient) -> str:
    token = client.get("/api/v1/session").get_json()["csrf_token"]
    assert isinstance(token, str)
    return token


def _raw_csrf(client: FlaskClient) -> object:
    """The session's own CSRF secret (Flask-WTF signs it with a timestamp into each form's token)."""
    with client.session_transaction() as session:
        return session.get("csrf_token")


def test_cookie_saved_before_logout_is_refused_staff(login_as, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    # Given a member of staff signed in, and a copy of their session cookie
    login_as("ada", "admin")
    assert _staff(client) is not None
    saved = _cookie(client)
    assert saved is not None

    # When they sign out, and someone presents the saved cookie again
    assert client.post("/logout", data={"csrf_token": _csrf(client)}).status_code == 302
    client.set_cookie(COOKIE, saved)

    # Then it names no session: nobody is signed in
    assert _staff(client) is None


def test_cookie_saved_before_logout_is_refused_person(client: FlaskClient, oidc_provider: Session) -> None:
    # Given a person signed in with their password, and a copy of their session cookie
    assert log_in(client).status_code == 302
    assert _person_credentials_status(client) == 200
    saved = _cookie(client)
    assert saved is not None

    # When they sign out and the saved cookie is presented again
    page = client.get("/account/credentials").get_data(as_text=True)
    assert client.post("/account/logout", data={"csrf_token": csrf_token_in(page)}).status_code == 302
    client.set_cookie(COOKIE, saved)

    # Then their credentials are out of reach
    assert _person_credentials_status(client) in (401, 403)


def test_session_cookie_holds_only_a_random_id(login_as, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    login_as("ada", "admin")

    value = _cookie(client)

    # A 32-byte token_urlsafe id: no signed payload (Flask's cookie is base64 data "." signature)
    assert value is not None
    assert len(value) < 64
    assert "." not in value
    assert "ada" not in value


def test_sign_in_renews_the_session_id_and_the_csrf_token(make_staff, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    # Given a browser with an anonymous session (a planted id, a CSRF token from before sign-in)
    from tests.conftest import STAFF_PASSWORD
    from tests.staff_support import sign_in_staff

    make_staff("ada", "admin")
    token_before = _csrf(client)
    raw_before = _raw_csrf(client)
    id_before = _cookie(client)
    assert id_before is not None

    # When they sign in
    sign_in_staff(client, "ada", STAFF_PASSWORD)

    # Then the session has a new id and a new CSRF token; the old token no longer works
    assert _cookie(client) not in (None, id_before)
    assert _csrf(client) != token_before
    assert _raw_csrf(client) not in (None, raw_before)
    refused = client.post("/logout", data={"csrf_token": token_before})
    assert refused.status_code == 400
    assert _staff(client) is not None


def test_person_sign_in_renews_the_session_id(client: FlaskClient, oidc_provider: Session) -> None:
    client.get("/account/login")
    id_before = _cookie(client)
    assert id_before is not None

    assert log_in(client).status_code == 302

    assert _cookie(client) not in (None, id_before)


def test_idle_timeout_ends_the_session(app: Flask, login_as, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    # Given a signed-in member of staff on the app's movable clock
    clock = MovableClock()
    use_clock(app, clock)
    login_as("ada", "admin")
    idle = get_components(app).settings.session_idle_minutes

    # When they come back just within the idle timeout, it still works (and counts as activity)
    clock.advance(minutes=idle - 1)
    assert _staff(client) is not None
    clock.advance(minutes=idle - 1)
    assert _staff(client) is not None

    # Then after more than the idle timeout without a request, the session is over
    clock.advance(minutes=idle + 1)
    assert _staff(client) is None


def test_absolute_lifetime_ends_an_active_session(app: Flask, login_as, client: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    clock = MovableClock()
    use_clock(app, clock)
    login_as("ada", "admin")
    settings = get_components(app).settings
    step = settings.session_idle_minutes - 1

    # Active all along (never idle), but past the absolute lifetime
    for _ in range(settings.session_absolute_hours * 60 // step):
        clock.advance(minutes=step)
        assert _staff(client) is not None
    clock.advance(minutes=step)

    assert _staff(client) is None


def test_session_cookie_is_secure_outside_dev_mode(tmp_path: Path) -> None:
    production = Settings.from_env({})
    development = Settings.from_env({"ESCROW_DEV_MODE": "1"})
    forced = Settings.from_env({"ESCROW_DEV_MODE": "1", "ESCROW_SESSION_COOKIE_SECURE": "1"})

    assert production.session_cookie_secure is True
    assert development.session_cookie_secure is False
    assert forced.session_cookie_secure is True


def test_secure_setting_puts_secure_on_the_cookie(settings: Settings, connection) -> None:  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, session_cookie_secure=True))
    client = app.test_client()

    response = client.get("/login")

    set_cookie = response.headers["Set-Cookie"]
    assert "Secure" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie


def _redis_url() -> str | None:
    # Not db 15 (the shared rate-limit db of make test-pg): db 11 for sessions.
    url = os.environ.get("ESCROW_TEST_SESSION_REDIS_URL", "redis://127.0.0.1:6379/11")
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return None
    return url


def test_sessions_in_redis_are_shared_between_workers(settings: Settings) -> None:
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    import redis

    # Given two app instances (two workers) sharing one Redis session store
    shared = dataclasses.replace(settings, session_store_uri=url)
    first, second = create_app(shared), create_app(shared)
    browser = first.test_client()
    browser.get("/login")
    sid = _cookie(browser)
    assert sid is not None

    # Then the session is one Redis key with the idle timeout as its expiry
    store = redis.Redis.from_url(url)
    ttl = store.ttl(f"escrow-session:{sid}")
    assert 0 < ttl <= settings.session_idle_minutes * 60

    # And the other worker reads the same session (the same CSRF token)
    other = second.test_client()
    other.set_cookie(COOKIE, sid)
    assert _raw_csrf(other) == _raw_csrf(browser) is not None
    store.delete(f"escrow-session:{sid}")
