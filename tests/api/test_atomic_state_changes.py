"""Issue 17, finding 1: every state change a log entry records happens once, under concurrency.

Real apps on a really committed database (SQLite file, or PostgreSQL with ESCROW_TEST_DATABASE_URL),
requests in threads through two app instances at once, as two workers would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.app import create_app
from escrow.config import Settings
from escrow.httpkit import get_components
from escrow.models import Credential, LogEntry, PlatformApiKey, SigningKey
from escrow.services.signing_keys import rotate_signing_key
from tests.credentials_support import NOW, add_api_key, add_platform, seed_revocable_credential

WORKERS = 6


def _two_apps(database_url: str, tmp_path: Path) -> list[Flask]:
    # One keys directory: two workers of one instance share their key files.
    return [
        create_app(Settings.for_tests(database_url, tmp_path / "keys", instance_path=tmp_path / f"i{n}"))
        for n in range(2)
    ]


def _at_once(apps: list[Flask], request: Callable[[Flask], int]) -> list[int]:
    """Runs ``request`` WORKERS times at once, alternating between the apps; returns the statuses."""
    barrier = threading.Barrier(WORKERS)
    statuses: list[int] = []

    def run(app: Flask) -> None:
        barrier.wait()
        statuses.append(request(app))

    threads = [threading.Thread(target=run, args=(apps[n % len(apps)],)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _log_kinds(app: Flask, kind: str) -> int:
    get_components(app).sequence_now()
    with get_components(app).session_factory() as session:
        return len(session.scalars(select(LogEntry).where(LogEntry.kind == kind)).all())


def test_concurrent_revocations_of_one_credential_log_one_revocation_and_never_500(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Given a credential and its platform's API key, committed
    apps = _two_apps(fresh_database_url, tmp_path)
    components = get_components(apps[0])
    api_key, credential_id = seed_revocable_credential(components)
    headers = {"Authorization": f"Bearer {api_key}"}

    # When six requests through two app instances revoke it at once
    def revoke(app: Flask) -> int:
        response = app.test_client().post(f"/api/v1/credentials/{credential_id}/revoke", headers=headers)
        assert response.status_code != 200 or response.get_json()["status"] == "revoked"
        return response.status_code

    statuses = _at_once(apps, revoke)

    # Then every answer is the idempotent no-op 200 (none a 500 "database is locked"), and the log
    # holds exactly one revocation, whose author is the one on the row
    assert statuses == [200] * WORKERS, statuses
    assert _log_kinds(apps[0], "credential.revoked") == 1
    with components.session_factory() as session:
        row = session.get(Credential, credential_id)
        assert row is not None
        assert row.revoked_by == "platform"
    for app in apps:
        get_components(app).close()


def test_concurrent_api_key_revocations_log_one_revocation(fresh_database_url: str, tmp_path: Path) -> None:
    # Given a platform's API key
    from escrow.services.platforms import revoke_api_key

    apps = _two_apps(fresh_database_url, tmp_path)
    with get_components(apps[0]).session_factory() as session:
        add_platform(session)
        add_api_key(session, "forum")
        prefix = session.scalars(select(PlatformApiKey.prefix)).one()

    # When six workers revoke it at once
    def revoke(app: Flask) -> int:
        components = get_components(app)
        with components.session_factory() as session:
            info = revoke_api_key(session, platform_id="forum", prefix=prefix, log=components.log, now=NOW)
            return 200 if info.is_revoked else 500

    statuses = _at_once(apps, revoke)

    # Then all see it revoked and one log entry records it
    assert statuses == [200] * WORKERS
    assert _log_kinds(apps[0], "platform.api_key_revoked") == 1
    for app in apps:
        get_components(app).close()


def test_concurrent_signing_key_rotations_retire_the_key_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Given an active signing key
    from escrow.errors import ConflictError
    from escrow.services.signing_keys import active_signing_key

    apps = _two_apps(fresh_database_url, tmp_path)
    components = get_components(apps[0])
    with components.session_factory() as session:
        active_signing_key(session, components.keyring, now=NOW)

    # When six operators rotate at once
    def rotate(app: Flask) -> int:
        components = get_components(app)
        with components.session_factory() as session:
            try:
                rotate_signing_key(session, components.keyring, log=components.log, now=NOW)
            except ConflictError:
                return 409
            return 200

    statuses = _at_once(apps, rotate)

    # Then at least one wins, the others are a clear conflict, and each rotation logged retired one
    # key: never two rotations of the same key
    assert set(statuses) <= {200, 409}, statuses
    assert 200 in statuses
    rotations = _log_kinds(apps[0], "signing_key.rotated")
    with Session(components.engine) as session:
        keys = session.scalars(select(SigningKey)).all()
        assert len([k for k in keys if k.retired_at is None]) >= 1
        assert len([k for k in keys if k.retired_at is not None]) == rotations == statuses.count(200)
    for app in apps:
        get_components(app).close()


def test_concurrent_authenticator_enrolments_store_one_key_and_log_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Given a staff account without an authenticator app
    from datetime import UTC, datetime

    from escrow.errors import ConflictError
    from escrow.services import totp
    from escrow.services.staff import create_staff, enrol_totp

    apps = _two_apps(fresh_database_url, tmp_path)
    components = get_components(apps[0])
    now = datetime.now(UTC)
    with components.session_factory() as session:
        staff = create_staff(
            session,
            components.password_hasher,
            components.log,
            username="olga",
            display_name="Olga",
            organisation="Forum Legal",
            roles=("legal_officer",),
            password="correct horse battery staple",
            now=now,
        )

    # When six tabs enrol, each with its own key and a valid code, at once
    def enrol(app: Flask) -> int:
        components = get_components(app)
        secret = totp.new_secret()
        code = totp.code_at(secret, totp.current_step(now))
        with components.session_factory() as session:
            try:
                enrol_totp(
                    session,
                    components.log,
                    components.keyring.totp_key,
                    staff_id=staff.id,
                    secret=secret,
                    code=code,
                    now=now,
                )
            except ConflictError:
                return 409
            return 200

    statuses = _at_once(apps, enrol)

    # Then one wins, the others are a clear conflict, and one entry logs the enrolment
    assert sorted(statuses) == [200] + [409] * (WORKERS - 1), statuses
    assert _log_kinds(apps[0], "staff.totp_enrolled") == 1
    for app in apps:
        get_components(app).close()
