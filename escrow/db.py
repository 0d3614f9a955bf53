"""Database plumbing: declarative Base, engine, session factory, Alembic upgrade, reachability."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5_000
POSTGRES_CONNECT_TIMEOUT_S = 5  # /healthz must answer even when the database host is gone

# Stable constraint names, so migrations can refer to (and drop) them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLSTATE classes of a database that cannot take the request now (PostgreSQL appendix A):
# connection exceptions, insufficient resources (disk full, out of memory), operator intervention
# (shutdown, starting up), system errors; and a read-only transaction (a hot standby, or
# default_transaction_read_only).
_FAULT_SQLSTATE_PREFIXES = ("08", "53", "57", "58")
_READ_ONLY_SQLSTATE = "25006"
# SQLite primary result codes of the same kind (https://sqlite.org/rescode.html): BUSY, LOCKED,
# NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_FAULT_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})

_log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of every model; its metadata is Alembic's target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def end_read_before_write(session: Session) -> None:
    """Ends the session's read transaction before it writes, on SQLite; does nothing on PostgreSQL.

    SQLite in WAL mode cannot turn a read transaction into a write one once another connection has
    committed since the read began (SQLITE_BUSY_SNAPSHOT, "database is locked" at once, whatever the
    busy timeout); a new transaction that starts with its write waits for the lock instead. PostgreSQL
    has no such limit, and there the commit would cost a round trip, a pool checkout and its pre-ping
    on a hot path (issue 15's HTTP issuance target). Callers read no ORM attribute loaded before it
    (on SQLite the commit expires them).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.commit()


def make_engine(url: str) -> Engine:
    """Returns an Engine for ``url``, with SQLite made to behave like a real transactional database.

    SQLite: foreign keys on, a busy timeout, WAL for file databases, and SQLAlchemy's documented
    pysqlite recipe (we emit BEGIN ourselves) so transactions cover DDL and SAVEPOINTs nest
    properly; the test suite's rolled-back transactions rely on it.
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if sa_url.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
        # Pre-ping kept (issue 17 finding 10 wanted it gone): without it, a connection the server dropped
        # failed in CI with psycopg's "another command is already in progress" outside the 503 path.
        # Until that is understood, a checkout costs one round trip and a dropped connection is replaced.
        # READ COMMITTED said, not assumed from the server's default_transaction_isolation: the
        # conditional UPDATEs (redemption, revocation) re-check the newest committed row when they
        # wait, and issuance and redemption read and write in one transaction (end_read_before_write).
        return create_engine(
            sa_url, pool_pre_ping=True, isolation_level="READ COMMITTED", connect_args=connect_args
        )

    engine = create_engine(sa_url)
    is_file_database = sa_url.database not in (None, "", ":memory:") and sa_url.query.get("mode") != "memory"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite recipe: no implicit BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS:d}")
            if is_file_database:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Returns the session factory used by requests, the CLI and tests alike."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Returns an Alembic Config for the migrations shipped inside the package (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: configparser would mangle '%' in passwords.
    config.attributes["database_url"] = url
    return config


def upgrade_database(url: str) -> None:
    """Migrates the database at ``url`` to the newest revision (Alembic ``upgrade head``).

    Raises sqlalchemy.exc.SQLAlchemyError if the database cannot be reached.
    """
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str:
    """Returns the newest migration revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """Returns the database's current migration revision, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def database_is_reachable(engine: Engine) -> bool:
    """Returns True if a trivial query succeeds on ``engine``; never raises for database errors."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        # The class name only: driver messages can contain host names and user names.
        _log.warning("database.unreachable error=%s", type(e).__name__)
        return False
    return True


def is_database_fault(error: BaseException) -> bool:
    """Returns True if ``error`` says the database cannot take the request now (unreachable,
    read-only, full, locked, shutting down) rather than that the request or the code is wrong.

    SQLite by its primary result code (busy, locked, read-only, I/O error, full, cannot open);
    PostgreSQL by SQLSTATE, or by an OperationalError with none (the connection itself failed).
    Such a request changed nothing, so the caller may retry it (HTTP 503).
    """
    if isinstance(error, PoolTimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _SQLITE_FAULT_CODES
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate == _READ_ONLY_SQLSTATE or sqlstate.startswith(_FAULT_SQLSTATE_PREFIXES)
    return isinstance(error, OperationalError)


def database_can_write(engine: Engine) -> bool:
    """Returns True if the database takes a write now: one UPDATE inside a transaction that is then
    rolled back, so nothing changes. Never raises for database errors.

    The UPDATE takes SQLite's write lock (a read-only file, or a lock held past the busy timeout,
    fails here) and is refused by a read-only PostgreSQL. A disk that fills up only at commit is
    not seen here; the request that meets it gets a 503 (escrow/app.py).
    """
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            finally:
                transaction.rollback()
    except SQLAlchemyError as e:
        _log.warning("database.not_writable error=%s", type(e).__name__)
        return False
    return True
