"""Issue 17, finding 2: a database that cannot be reached, is read-only or is full gives a 503
with a problem body and Retry-After (a page for browsers), never a 500; the service recovers by
itself; /readyz fails while the database cannot take a write, /healthz stays the liveness check."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask

from escrow.app import create_app
from escrow.config import Settings
from escrow.db import upgrade_database
from escrow.httpkit import get_components
from tests.credentials_support import seed_revocable_credential

_SQLITE_ONLY = pytest.mark.skipif(
    bool(__import__("os").environ.get("ESCROW_TEST_DATABASE_URL")), reason="a SQLite file scenario"
)


def _app(url: str, tmp_path: Path) -> Flask:
    return create_app(Settings.for_tests(url, tmp_path / "keys", instance_path=tmp_path / "instance"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def _assert_503_problem(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "database-unavailable"
    assert response.headers["Retry-After"] == "5"


def test_unreachable_postgresql_is_a_503_with_retry_after_not_a_500(tmp_path: Path) -> None:
    # Given an app whose PostgreSQL server refuses connections (a closed port)
    app = _app(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/escrow", tmp_path)
    client = app.test_client()

    # When a platform, a browser and a load balancer ask
    api = client.get("/api/v1/log/checkpoint")
    page = client.get("/transparency", headers={"Accept": "text/html"})
    ready = client.get("/readyz")
    live = client.get("/healthz")

    # Then the API and readiness are 503 problems with Retry-After, the page a helpful 503 page,
    # and liveness keeps reporting the database unreachable
    _assert_503_problem(api)
    _assert_503_problem(ready)
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "try again" in page.get_data(as_text=True)
    assert live.status_code == 503
    assert live.get_json()["database"] == "unreachable"
    get_components(app).close()


@_SQLITE_ONLY
def test_unreachable_sqlite_file_is_a_503_and_the_service_recovers_by_itself(tmp_path: Path) -> None:
    # Given an app whose database file's folder is gone (a volume not mounted yet)
    database = tmp_path / "volume" / "escrow.sqlite3"
    app = _app(f"sqlite:///{database}", tmp_path)
    client = app.test_client()
    _assert_503_problem(client.get("/api/v1/log/checkpoint"))
    _assert_503_problem(client.get("/readyz"))

    # When the volume comes back with the database
    database.parent.mkdir()
    upgrade_database(f"sqlite:///{database}")

    # Then the same app serves again, without a restart
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/log/checkpoint").status_code in (200, 404)
    get_components(app).close()


@_SQLITE_ONLY
def test_read_only_sqlite_database_is_a_503_on_write_and_not_ready(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Given a credential, and then its database opened read-only (as a read-only file or mount is;
    # the tests run as root, for whom chmod does not stop a write)
    writer = _app(fresh_database_url, tmp_path)
    api_key, credential_id = seed_revocable_credential(get_components(writer))
    get_components(writer).close()
    path = fresh_database_url.removeprefix("sqlite:///")
    app = _app(f"sqlite:///file:{path}?mode=ro&uri=true", tmp_path)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_key}"}

    # When a load balancer asks, and the platform reads a status and revokes the credential
    ready = client.get("/readyz")
    live = client.get("/healthz")
    read = client.post(
        "/api/v1/credentials/status", json={"credential_ids": [credential_id]}, headers=headers
    )
    write = client.post(f"/api/v1/credentials/{credential_id}/revoke", headers=headers)

    # Then reads still work, but the instance is not ready and the write is a 503, not a 500
    _assert_503_problem(ready)
    assert live.status_code == 200
    assert read.status_code == 200, read.get_data(as_text=True)
    _assert_503_problem(write)
    get_components(app).close()


@_SQLITE_ONLY
def test_full_sqlite_database_is_a_503_problem(fresh_database_url: str, tmp_path: Path) -> None:
    # Given a database that cannot grow by a single page (SQLite's max_page_count: what a full disk
    # does to it, "database or disk is full")
    from sqlalchemy import event

    app = _app(fresh_database_url, tmp_path)
    engine = get_components(app).engine
    limit = {"full": True}

    @event.listens_for(engine, "checkout")
    def _fill(dbapi_connection, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages if limit['full'] else 1_000_000}")
        cursor.close()

    client = app.test_client()
    # When the administrator's API creates platforms until the database is full
    statuses = set()
    for n in range(40):
        statuses.add(_create_platform(app, client, n))
    # Then a full database is a 503, never a 500, and space freed is used at once
    assert 500 not in statuses, statuses
    assert 503 in statuses, statuses
    limit["full"] = False
    assert _create_platform(app, client, 99) in (200, 201)
    get_components(app).close()


def _create_platform(app: Flask, client, n: int) -> int:  # type: ignore[no-untyped-def]
    from escrow.services.platforms import register_platform
    from tests.credentials_support import NOW, make_log

    # The service on the app's own engine, through the app's error handling (a request context).
    with app.test_request_context("/api/v1/admin/platforms", method="POST"):
        try:
            with get_components(app).session_factory() as session:
                register_platform(
                    session,
                    platform_id=f"p{n:03d}",
                    name="x" * 200,
                    contact="abuse@example.org",
                    redirect_uris=["https://example.org/cb" + "x" * 1500],
                    log=make_log(),
                    now=NOW,
                )
            return 201
        except Exception as e:  # noqa: BLE001 - handed to the app's handlers, as a request would be
            response = app.make_response(app.handle_user_exception(e))
            return response.status_code


@pytest.mark.skipif(not __import__("os").environ.get("ESCROW_TEST_DATABASE_URL"), reason="needs PostgreSQL")
def test_read_only_postgresql_is_a_503_on_write_and_not_ready(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Given a credential, then its database turned read-only (as a hot standby is)
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    writer = _app(fresh_database_url, tmp_path)
    api_key, credential_id = seed_revocable_credential(get_components(writer))
    get_components(writer).close()
    name = make_url(fresh_database_url).database
    admin = create_engine(fresh_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    admin.dispose()
    app = _app(fresh_database_url, tmp_path)
    client = app.test_client()

    # When a load balancer asks and the platform revokes the credential
    ready = client.get("/readyz")
    write = client.post(
        f"/api/v1/credentials/{credential_id}/revoke", headers={"Authorization": f"Bearer {api_key}"}
    )

    # Then neither is a 500
    _assert_503_problem(ready)
    _assert_503_problem(write)
    get_components(app).close()
