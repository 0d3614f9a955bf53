"""Engine set-up: SQLite pragmas, reachability, migrations driven by the environment."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from escrow.db import MIGRATIONS_DIR, database_is_reachable, make_engine


def test_sqlite_file_database_uses_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")

    with engine.connect() as connection:
        assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1
        assert connection.scalar(text("PRAGMA busy_timeout")) == 5000
    engine.dispose()


def test_sqlite_memory_database_skips_wal(tmp_path: Path) -> None:
    engine = make_engine("sqlite://")

    with engine.connect() as connection:
        assert connection.scalar(text("PRAGMA journal_mode")) == "memory"
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1
    engine.dispose()


def test_unreachable_database_logs_class_name_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite3'}")
    caplog.set_level(logging.WARNING, logger="escrow")

    assert database_is_reachable(engine) is False
    assert "OperationalError" in caplog.text
    assert "such" not in caplog.text
    engine.dispose()


def test_alembic_without_attributes_migrates_database_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the developer workflow: `alembic -c escrow/migrations/alembic.ini upgrade head`
    url = f"sqlite:///{tmp_path / 'dev.sqlite3'}"
    monkeypatch.setenv("ESCROW_DATABASE_URL", url)
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))

    # When
    command.upgrade(config, "head")

    # Then
    engine = make_engine(url)
    assert "escrow_keys" in inspect(engine).get_table_names()
    engine.dispose()


def test_postgresql_transactions_are_read_committed_whatever_the_server_default(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL setting (make test-pg)")
    # An operator's default_transaction_isolation = serializable (here through libpq's PGOPTIONS)
    # would turn racing redemptions into serialization failures instead of a conditional UPDATE's no-op.
    monkeypatch.setenv("PGOPTIONS", "-c default_transaction_isolation=serializable")
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            level = connection.execute(text("SHOW transaction_isolation")).scalar_one()
    finally:
        engine.dispose()

    assert level == "read committed"
