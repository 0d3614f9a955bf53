"""Alembic environment: migrates the database named by the caller or by ESCROW_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import escrow.models  # noqa: F401 - registers every table on Base.metadata
from escrow.config import Settings
from escrow.db import Base, make_engine
from escrow.errors import InvalidStateError

target_metadata = Base.metadata


def _database_url() -> str:
    url = context.config.attributes.get("database_url")
    if isinstance(url, str):
        return url
    return Settings.from_env().database_url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Writes the migration SQL to the output buffer instead of running it (``--sql``)."""
    _configure(url=_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Runs the migrations on a live connection, inside one transaction."""
    engine = make_engine(_database_url())
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    is_sqlite = connection.dialect.name == "sqlite"
    _configure(connection=connection, render_as_batch=is_sqlite)
    if is_sqlite:
        _set_sqlite_foreign_keys(connection, enabled=False)
    try:
        with context.begin_transaction():
            context.run_migrations()
            if is_sqlite:
                _check_sqlite_foreign_keys(connection)
        connection.commit()
    finally:
        if is_sqlite:
            _set_sqlite_foreign_keys(connection, enabled=True)


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # A batch rebuild drops and recreates a table; with foreign keys on, dropping a table that other
    # rows reference fails (https://sqlite.org/lang_altertable.html#otheralter, step 1). The pragma
    # is ignored inside a transaction, so it goes to the DBAPI connection (autocommit) before BEGIN.
    connection.connection.driver_connection.execute(  # type: ignore[union-attr]
        f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}"
    )


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # Step 10 of the same procedure: what foreign keys would have refused must not be committed.
    if connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
        raise InvalidStateError("the migration left rows whose foreign keys point nowhere; rolled back")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
