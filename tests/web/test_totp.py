"""The staff second factor through the real forms: enrolment, codes used once, limits, resets."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from escrow.app import create_app
from escrow.config import Settings
from escrow.errors import AuthenticationError
from escrow.httpkit import get_components
from escrow.models import LogEntry, StaffAccount
from escrow.services import totp
from escrow.services.staff import check_totp, reset_totp
from escrow.web.auth import MAX_CODE_FAILURES, PENDING_LOGIN
from tests.conftest import STAFF_PASSWORD, csrf_token_from, sign_in_staff
from tests.staff_support import secret_on_page


def _password_step(client: FlaskClient, username: str, password: str = STAFF_PASSWORD) -> str:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def _post_code(client: FlaskClient, path: str, code: str) -> tuple[int, str]:
    token = csrf_token_from(client.get(path).get_data(as_text=True))
    response = client.post(path, data={"code": code, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True)


def _signed_in_as(client: FlaskClient) -> str | None:
    staff = client.get("/api/v1/session").get_json()["staff"]
    return None if staff is None else str(staff["username"])


def _log_kinds(app: Flask) -> list[bytes]:
    with get_components(app).session_factory() as session:
        return list(session.scalars(select(LogEntry.body).order_by(LogEntry.idx)))


def _enrol(client: FlaskClient, username: str) -> tuple[str, int]:
    """Password, then the enrolment page; returns (secret, step used)."""
    assert _password_step(client, username).endswith("/login/authenticator")
    page = client.get("/login/authenticator").get_data(as_text=True)
    secret = secret_on_page(page)
    step = totp.current_step(datetime.now(UTC))
    status, body = _post_code(client, "/login/authenticator", totp.code_at(secret, step))
    assert status == 302, body
    return secret, step


def test_a_legal_officer_must_enrol_an_authenticator_at_first_sign_in(
    app: Flask, client: FlaskClient, make_staff
) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")

    location = _password_step(client, "olga")

    assert location.endswith("/login/authenticator")
    assert _signed_in_as(client) is None  # the password alone signs nobody in
    page = client.get(location).get_data(as_text=True)
    assert "<svg" in page
    assert "QR code of the authenticator secret" in page
    secret = secret_on_page(page)
    assert len(secret) == 32
    # The same key is shown again on reload (it waits sealed in the session until confirmed)
    assert secret_on_page(client.get(location).get_data(as_text=True)) == secret
    status, body = _post_code(client, location, "000000" if totp.code_at(secret, 0) != "000000" else "111111")
    assert status == 401
    assert "wrong or already used code" in body
    assert _signed_in_as(client) is None
    status, _ = _post_code(client, location, totp.code_at(secret, totp.current_step(datetime.now(UTC))))
    assert status == 302
    assert _signed_in_as(client) == "olga"
    assert any(b'"staff.totp_enrolled"' in body for body in _log_kinds(app))


def test_the_stored_secret_is_sealed_and_never_in_the_clear(
    app: Flask, client: FlaskClient, make_staff
) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    secret, _ = _enrol(client, "olga")

    with get_components(app).session_factory() as session:
        account = session.scalars(select(StaffAccount).where(StaffAccount.username == "olga")).one()
        assert account.totp_secret is not None
        assert secret.encode() not in account.totp_secret
        assert (
            totp.open_secret(get_components(app).keyring.totp_key, account.id, account.totp_secret) == secret
        )
    assert all(secret.encode() not in body for body in _log_kinds(app))


def test_after_enrolment_each_sign_in_needs_a_fresh_code(app: Flask, client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    secret, used_step = _enrol(client, "olga")
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))})

    assert _password_step(client, "olga").endswith("/login/code")
    assert _signed_in_as(client) is None
    # The code used at enrolment is refused: each step works once
    status, body = _post_code(client, "/login/code", totp.code_at(secret, used_step))
    assert status == 401
    assert "already used" in body
    status, _ = _post_code(client, "/login/code", totp.code_at(secret, used_step + 1))
    assert status == 302
    assert _signed_in_as(client) == "olga"


def test_a_code_page_without_a_password_step_sends_back_to_the_password(client: FlaskClient) -> None:
    response = client.get("/login/code")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert client.get("/login/authenticator").headers["Location"].endswith("/login")


def test_five_wrong_codes_end_the_attempt(client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    secret, step = _enrol(client, "olga")
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))})
    _password_step(client, "olga")
    wrong = next(
        f"{n:06d}"
        for n in range(10**6)
        if all(f"{n:06d}" != totp.code_at(secret, step + d) for d in range(-2, 3))
    )

    for _ in range(MAX_CODE_FAILURES - 1):
        assert _post_code(client, "/login/code", wrong)[0] == 401
    token = csrf_token_from(client.get("/login/code").get_data(as_text=True))
    response = client.post("/login/code", data={"code": wrong, "csrf_token": token})

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    # Even the right code is useless now: the password must be entered again
    assert client.get("/login/code").headers["Location"].endswith("/login")
    assert _signed_in_as(client) is None


def test_a_pending_sign_in_expires(client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    secret, step = _enrol(client, "olga")
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/").get_data(as_text=True))})
    _password_step(client, "olga")
    with client.session_transaction() as session:
        session[PENDING_LOGIN] = {**session[PENDING_LOGIN], "until": 0}

    response = client.get("/login/code")

    assert response.headers["Location"].endswith("/login")
    assert _signed_in_as(client) is None


def test_malformed_code_is_a_form_error_not_a_crash(client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    _password_step(client, "olga")

    status, body = _post_code(client, "/login/authenticator", "12ab56")

    assert status == 401
    assert "6 digits" in body


def test_staff_without_a_disclosure_role_sign_in_with_a_password_alone(
    client: FlaskClient, make_staff
) -> None:  # type: ignore[no-untyped-def]
    make_staff("adam", "admin")

    location = _password_step(client, "adam")

    assert not location.endswith(("/login/code", "/login/authenticator"))
    assert _signed_in_as(client) == "adam"


def test_totp_all_staff_makes_every_role_enrol(settings: Settings, connection, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import sessionmaker

    from escrow.httpkit import COMPONENTS_KEY
    from escrow.services.staff import create_staff

    app = create_app(dataclasses.replace(settings, totp_all_staff=True))
    extension = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        extension, session_factory=sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    )
    with get_components(app).session_factory() as session:
        create_staff(
            session,
            extension.password_hasher,
            extension.log,
            username="adam",
            display_name="Adam",
            organisation="Escrow Operator",
            roles=("admin",),
            password=STAFF_PASSWORD,
            now=datetime.now(UTC),
        )
    client = app.test_client()

    assert _password_step(client, "adam").endswith("/login/authenticator")
    extension.engine.dispose()


def test_an_administrator_reset_makes_the_officer_enrol_again(
    app: Flask, client: FlaskClient, make_staff
) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    first_secret, _ = _enrol(client, "olga")
    extension = get_components(app)
    with extension.session_factory() as session:
        reset_totp(session, extension.log, username="olga", now=datetime.now(UTC))
    other = app.test_client()

    second_secret, _ = _enrol(other, "olga")

    assert second_secret != first_secret
    assert any(b'"staff.totp_reset"' in body for body in _log_kinds(app))


def test_login_posts_are_rate_limited_per_address(settings: Settings, connection) -> None:  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, login_rate_limit="3 per minute"))
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    form = {"username": "nobody", "password": "wrong password here", "csrf_token": token}

    statuses = [client.post("/login", data=form).status_code for _ in range(4)]
    person = client.post("/account/login", data={"csrf_token": token})

    assert statuses[:3] == [401, 401, 401]
    assert statuses[3] == 429
    assert person.status_code != 429  # each form has its own budget
    # GETs are not counted: the form still renders
    assert client.get("/login").status_code == 200
    get_components(app).engine.dispose()


def test_the_rate_limit_is_shared_by_workers_through_redis(settings: Settings) -> None:
    url = __import__("os").environ.get("ESCROW_TEST_REDIS_URL")
    if not url:
        pytest.skip("ESCROW_TEST_REDIS_URL is not set (make test-pg sets it)")
    import redis

    redis.Redis.from_url(url).flushdb()
    shared = dataclasses.replace(settings, login_rate_limit="2 per minute", ratelimit_storage_uri=url)
    workers = [create_app(shared), create_app(shared)]  # two processes' worth of apps, one store
    clients = [w.test_client() for w in workers]
    tokens = [csrf_token_from(c.get("/login").get_data(as_text=True)) for c in clients]

    statuses = [
        clients[i % 2]
        .post("/login", data={"username": "x1", "password": "y" * 12, "csrf_token": tokens[i % 2]})
        .status_code
        for i in range(3)
    ]

    assert statuses == [401, 401, 429]
    for worker in workers:
        get_components(worker).engine.dispose()


@pytest.fixture
def committed_app(fresh_database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(Settings.for_tests(fresh_database_url, tmp_path / "keys", instance_path=tmp_path))
    yield app
    get_components(app).engine.dispose()


def test_two_sign_ins_racing_with_one_code_let_exactly_one_in(committed_app: Flask) -> None:
    from escrow.services.staff import create_staff

    extension = get_components(committed_app)
    with extension.session_factory() as session:
        view = create_staff(
            session,
            extension.password_hasher,
            extension.log,
            username="olga",
            display_name="Olga",
            organisation="Forum Legal",
            roles=("legal_officer",),
            password=STAFF_PASSWORD,
            now=datetime.now(UTC),
        )
    client = committed_app.test_client()
    secret, step = _enrol(client, "olga")
    code = totp.code_at(secret, step + 1)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        with extension.session_factory() as session:
            try:
                check_totp(
                    session, extension.keyring.totp_key, staff_id=view.id, code=code, now=datetime.now(UTC)
                )
                results.append("in")
            except AuthenticationError:
                results.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == ["in", "refused", "refused", "refused"]


def test_the_shared_helper_signs_an_officer_in_twice_in_one_half_minute(app: Flask, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")

    first = sign_in_staff(app.test_client(), "olga", STAFF_PASSWORD)
    second = sign_in_staff(app.test_client(), "olga", STAFF_PASSWORD)

    assert _signed_in_as(first) == "olga"
    assert _signed_in_as(second) == "olga"


def test_wrong_codes_are_limited_per_account_across_addresses_and_password_steps(
    app: Flask, make_staff
) -> None:  # type: ignore[no-untyped-def]
    make_staff("olga", "legal_officer")
    secret, step = _enrol(app.test_client(), "olga")
    wrong = next(
        f"{n:06d}"
        for n in range(10**6)
        if all(f"{n:06d}" != totp.code_at(secret, step + d) for d in range(-2, 4))
    )
    statuses = []
    for attempt in range(6):
        # Each attempt from a fresh browser at a different address, after a fresh password step
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{attempt + 1}"
        _password_step(client, "olga")
        statuses.append(_post_code(client, "/login/code", wrong)[0])
    right = _post_code(client, "/login/code", totp.code_at(secret, step + 1))[0]

    assert statuses == [401, 401, 401, 401, 401, 429]
    assert right == 429  # the account is paused, even for the right code
