"""Alembic migrations: upgrade head builds the schema, and the models match it exactly."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

import escrow.models  # noqa: F401 - registers the tables on Base.metadata
from escrow.db import Base, alembic_config, current_revision, head_revision, upgrade_database


def test_upgrade_head_creates_escrow_keys(engine: Engine) -> None:
    tables = inspect(engine).get_table_names()

    assert "escrow_keys" in tables
    assert "alembic_version" in tables
    assert current_revision(engine) == head_revision()


def test_models_match_migrations(engine: Engine) -> None:
    # Runs on SQLite and, with ESCROW_TEST_DATABASE_URL, on PostgreSQL (same fixture).
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)

    assert diff == []


def test_upgrade_is_idempotent_and_downgrade_removes_tables(tmp_path: Path) -> None:
    # Given a fresh database migrated twice
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    upgrade_database(url)
    upgrade_database(url)

    # When
    command.downgrade(alembic_config(url), "base")

    # Then
    from escrow.db import make_engine

    engine = make_engine(url)
    assert "escrow_keys" not in inspect(engine).get_table_names()
    assert current_revision(engine) is None
    engine.dispose()


def test_offline_mode_writes_sql(tmp_path: Path) -> None:
    buffer = io.StringIO()
    config = alembic_config(f"sqlite:///{tmp_path / 'offline.sqlite3'}")
    config.output_buffer = buffer

    command.upgrade(config, "head", sql=True)

    assert "CREATE TABLE escrow_keys" in buffer.getvalue()
    assert not (tmp_path / "offline.sqlite3").exists()
