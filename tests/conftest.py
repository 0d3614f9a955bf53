"""Shared fixtures: settings, a migrated database (SQLite, or PostgreSQL when asked), rolled-back
sessions, the app, its test client and a CLI runner.

Set ESCROW_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the
suite on PostgreSQL: a fresh, uniquely named database is created on that server for the session and
dropped at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from escrow.app import create_app
from escrow.cli.common import WITNESS_POLICY_ENV
from escrow.config import Settings
from escrow.db import make_engine, upgrade_database
from escrow.httpkit import COMPONENTS_KEY, get_components
from tests.oprf_support import CLIENT_KEY_ENV, NODES_ENV, OprfNetwork, client_key_text, start_network
from tests.staff_support import csrf_token_from, sign_in_staff

__all__ = ["STAFF_PASSWORD", "csrf_token_from", "sign_in_staff"]

TEST_DATABASE_URL_ENV = "ESCROW_TEST_DATABASE_URL"


@pytest.fixture(scope="session", autouse=True)
def oprf_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OprfNetwork]:
    """Three real OPRF nodes (2 of 3) for the whole session, over loopback HTTP. Settings.for_tests
    points every test app at them (ESCROW_TEST_OPRF_NODES) with the client key they pin."""
    network = start_network(tmp_path_factory.mktemp("oprf-nodes"))
    saved = {name: os.environ.get(name) for name in (NODES_ENV, CLIENT_KEY_ENV)}
    os.environ[NODES_ENV] = network.endpoints_text
    os.environ[CLIENT_KEY_ENV] = client_key_text(network)
    try:
        yield network
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        network.stop()


@pytest.fixture(scope="session", autouse=True)
def unwitnessed_policy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tools require a witness policy (issue 15). Tests of other features run them with one that
    asks for no cosignature (`quorum none`); tests/witness/ give real witnesses and real policies."""
    path = tmp_path_factory.mktemp("policy") / "unwitnessed.policy"
    path.write_text("# tests only: trust the log key alone\nquorum none\n")
    saved = os.environ.get(WITNESS_POLICY_ENV)
    os.environ[WITNESS_POLICY_ENV] = str(path)
    try:
        yield path
    finally:
        if saved is None:
            os.environ.pop(WITNESS_POLICY_ENV, None)
        else:
            os.environ[WITNESS_POLICY_ENV] = saved


@contextlib.contextmanager
def _migrated_database(directory: Path, network: OprfNetwork | None) -> Iterator[str]:
    """Yields the URL of a new database, migrated and holding `network`'s OPRF key (None: left empty,
    for tests that migrate it step by step)."""
    with _new_database(directory, migrate=network is not None) as url:
        if network is not None:
            network.install(url)
        yield url


@contextlib.contextmanager
def _new_database(directory: Path, *, migrate: bool = True) -> Iterator[str]:
    """Yields the URL of a new migrated database: SQLite in `directory`, or a fresh PostgreSQL database.

    ``migrate=False``: left empty, for tests that migrate it step by step.
    """
    server_url = os.environ.get(TEST_DATABASE_URL_ENV)
    if not server_url:
        url = f"sqlite:///{directory / f'test-{uuid.uuid4().hex[:8]}.sqlite3'}"
        if migrate:
            upgrade_database(url)
        yield url
        return

    server = make_url(server_url)
    name = f"escrow_test_{uuid.uuid4().hex[:12]}"
    maintenance = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)
        if migrate:
            upgrade_database(url)
        yield url
    finally:
        # The pooled connections of engines a test built and dropped without disposing them (an app
        # it made and let go) are collected here, quietly, before the database they name is dropped.
        # Collected later, their ResourceWarning fails whichever test happens to be running then (seen
        # in CI: tests/test_dev_seed.py failed on a connection to an earlier test's database).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        with maintenance.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        maintenance.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, oprf_network: OprfNetwork) -> Iterator[str]:
    """A migrated database for the whole session (Alembic upgrade head, never create_all)."""
    with _migrated_database(tmp_path_factory.mktemp("db"), oprf_network) as url:
        yield url


@pytest.fixture
def fresh_database_url(tmp_path: Path, oprf_network: OprfNetwork) -> Iterator[str]:
    """A new migrated database for one test whose work must really commit (threads, live servers)."""
    with _migrated_database(tmp_path, oprf_network) as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A new database for one test that nothing has migrated yet (SQLite, or PostgreSQL when asked)."""
    with _migrated_database(tmp_path, None) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def db_session(connection: Connection) -> Iterator[Session]:
    """A session whose commits become SAVEPOINT releases inside the test's outer transaction."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings: the session database, a fresh keys dir, fast Argon2id parameters."""
    return Settings.for_tests(database_url, tmp_path / "keys", instance_path=tmp_path / "instance")


@pytest.fixture
def app(settings: Settings, connection: Connection) -> Iterator[Flask]:
    """The app, with request sessions bound to the test's rolled-back connection."""
    app = create_app(settings)
    extension = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        extension,
        session_factory=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
    )
    yield app
    extension.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    """A CLI runner whose environment points at a fresh instance folder and keys dir in tmp_path.

    ESCROW_DATABASE_URL is unset, so the CLI uses its default: a new SQLite file in the instance.
    """
    return CliRunner(
        env={
            "ESCROW_INSTANCE_PATH": str(tmp_path / "instance"),
            "ESCROW_KEYS_DIR": str(tmp_path / "keys"),
            "ESCROW_DATABASE_URL": None,
            "ESCROW_SECRET_KEY": None,
            "ESCROW_LOG_LEVEL": None,
        }
    )


STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_staff(app: Flask):  # type: ignore[no-untyped-def]
    """Creates a staff account through the real service; returns its StaffView."""
    from datetime import UTC, datetime

    from escrow.services.staff import create_staff

    def make(
        username: str, *roles: str, organisation: str = "Escrow Operator", platform: str | None = None
    ) -> object:
        extension = get_components(app)
        with extension.session_factory() as session:
            return create_staff(
                session,
                extension.password_hasher,
                extension.log,
                username=username,
                display_name=username.title(),
                organisation=organisation,
                roles=roles,
                password=STAFF_PASSWORD,
                now=datetime.now(UTC),
                platform_id=platform,
            )

    return make


@pytest.fixture
def login_as(client: FlaskClient, make_staff):  # type: ignore[no-untyped-def]
    """Creates a staff account with `roles` and signs the test client in through the real form."""

    def login(username: str, *roles: str, organisation: str = "Escrow Operator") -> FlaskClient:
        make_staff(username, *roles, organisation=organisation)
        return sign_in_staff(client, username, STAFF_PASSWORD)

    return login


@pytest.fixture
def live_server(fresh_database_url: str, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """A real HTTP server on 127.0.0.1 (random port) over its own committed database; yields (url, app)."""
    import threading

    from werkzeug.serving import make_server

    app = create_app(Settings.for_tests(fresh_database_url, tmp_path / "server-keys", instance_path=tmp_path))
    get_components(app).start_sequencing()  # as every server process does (issue 15)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=5)
        get_components(app).close()


@pytest.fixture(scope="session")
def node_relying_parties() -> Path:
    """tests/relying_parties/: third-party JOSE, OIDC and webhook libraries from npm (openid-client,
    jose, standardwebhooks) run by node, installed from its package-lock.json on first use (issue 19)."""
    import shutil
    import subprocess

    folder = Path(__file__).parent / "relying_parties"
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the npm relying parties")
    if not all((folder / "node_modules" / name).is_dir() for name in ("openid-client", "standardwebhooks")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, timeout=300)  # noqa: S607
    return folder


@pytest.fixture
def live_oidc_provider(live_server: tuple[str, Flask]) -> Iterator[tuple[str, Flask, Any, Any]]:
    """The live server as an OpenID provider (issue 19): its issuer is its loopback URL, its clock a
    MovableClock on real time (relying parties check times by their own clock), an escrow key
    installed. Yields (url, app, clock, session)."""
    from tests.oidc_support import MovableClock, setup_provider, use_clock

    base, app = live_server
    clock = MovableClock()
    use_clock(app, clock, issuer_url=base)
    session = get_components(app).session_factory()
    setup_provider(session, app)
    yield base, app, clock, session
    session.close()
