"""Alembic migrations: upgrade head builds the schema, and the models match it exactly."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, inspect, text

import escrow.models  # noqa: F401 - registers the tables on Base.metadata
from escrow.cli.main import cli
from escrow.db import Base, alembic_config, current_revision, head_revision, make_engine, upgrade_database
from escrow.errors import ConfigError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


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


_BEFORE_STAFF_ROLES = "0010_disclosure_extensions"


def _insert_csv_staff(connection: Connection) -> None:
    """Staff as 0010 stored them: roles comma-separated, one platform login."""
    connection.execute(
        text(
            "INSERT INTO platforms (id, name, contact, redirect_uris, credential_lifetime_s,"
            " pseudonyms_per_person, created_at) VALUES ('forum', 'Forum', 'abuse@example.org', '[]',"
            " 86400, 1, :now)"
        ),
        {"now": NOW},
    )
    for staff_id, username, roles, platform_id in (
        (1, "ada", "admin,legal_officer", None),
        (2, "bob", "verification_officer", None),
        (3, "fay", "platform", "forum"),
    ):
        connection.execute(
            text(
                "INSERT INTO staff_accounts (id, username, display_name, organisation, password_hash,"
                " created_at, roles, platform_id) "
                "VALUES (:id, :u, :u, 'Org', 'x', :now, :roles, :platform)"
            ),
            {"id": staff_id, "u": username, "now": NOW, "roles": roles, "platform": platform_id},
        )
    # A row elsewhere that references a staff account: SQLite's table rebuild must keep it valid.
    connection.execute(
        text("INSERT INTO officer_keys (staff_id, public_key, registered_at) VALUES (1, :key, :now)"),
        {"key": bytes(32), "now": NOW},
    )


def test_staff_roles_migration_splits_the_column_and_downgrade_joins_it(empty_database_url: str) -> None:
    # Given staff stored the 0010 way (on SQLite, or PostgreSQL with ESCROW_TEST_DATABASE_URL)
    config = alembic_config(empty_database_url)
    command.upgrade(config, _BEFORE_STAFF_ROLES)
    engine = make_engine(empty_database_url)
    with engine.begin() as connection:
        _insert_csv_staff(connection)

    # When migrated up
    command.upgrade(config, "head")

    # Then each role is a row, and the platform login is flagged
    with engine.connect() as connection:
        roles = connection.execute(text("SELECT staff_id, role, is_platform_login FROM staff_roles")).all()
        flags = connection.execute(text("SELECT id, is_platform_login FROM staff_accounts ORDER BY id")).all()
    assert sorted((s, r, bool(p)) for s, r, p in roles) == [
        (1, "admin", False),
        (1, "legal_officer", False),
        (2, "verification_officer", False),
        (3, "platform", True),
    ]
    assert [(i, bool(p)) for i, p in flags] == [(1, False), (2, False), (3, True)]
    assert "roles" not in {c["name"] for c in inspect(engine).get_columns("staff_accounts")}

    # When migrated back down, the column is rebuilt as 0003 wrote it (sorted, comma-separated)
    command.downgrade(config, _BEFORE_STAFF_ROLES)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, roles FROM staff_accounts ORDER BY id")).all()
        keys = connection.execute(text("SELECT staff_id FROM officer_keys")).all()
    assert [tuple(r) for r in rows] == [
        (1, "admin,legal_officer"),
        (2, "verification_officer"),
        (3, "platform"),
    ]
    assert [tuple(k) for k in keys] == [(1,)]
    assert "staff_roles" not in inspect(engine).get_table_names()
    engine.dispose()


def test_staff_roles_migration_writes_its_data_copy_offline(tmp_path: Path) -> None:
    buffer = io.StringIO()
    config = alembic_config(f"sqlite:///{tmp_path / 'offline.sqlite3'}")
    config.output_buffer = buffer

    command.upgrade(config, f"{_BEFORE_STAFF_ROLES}:head", sql=True)

    sql = buffer.getvalue()
    assert "CREATE TABLE staff_roles" in sql
    assert "INSERT INTO staff_roles" in sql
    assert "'%,legal_officer,%'" in sql


def _hmac_scheme_database(url: str) -> None:
    """A database at 0011 (the HMAC scheme) with one registered person."""
    command.upgrade(alembic_config(url), "0011_staff_roles")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO persons (person_key, provider_kind, assurance, escrow_key_id, identity_seal,"
                " created_at) VALUES (:key, 'oidc', 'low', 'ek1-old', :seal, :now)"
            ),
            {"key": b"k" * 32, "seal": b"{}", "now": NOW},
        )
    engine.dispose()


def test_upgrading_a_database_of_the_hmac_scheme_stops_with_a_clear_message(empty_database_url: str) -> None:
    _hmac_scheme_database(empty_database_url)

    with pytest.raises(ConfigError, match="HMAC derivation.*start from an empty database"):
        upgrade_database(empty_database_url)

    engine = make_engine(empty_database_url)
    assert current_revision(engine) == "0011_staff_roles"  # nothing half-migrated
    engine.dispose()


def test_escrow_db_upgrade_on_an_hmac_scheme_database_is_a_clean_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    _hmac_scheme_database(url)
    env = {
        "ESCROW_DATABASE_URL": url,
        "ESCROW_KEYS_DIR": str(tmp_path / "keys"),
        "ESCROW_INSTANCE_PATH": str(tmp_path),
    }

    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)

    assert result.exit_code == 1
    assert "HMAC derivation" in result.output
    assert "Traceback" not in result.output


def test_oidc_auth_time_migration_drops_the_stored_sign_in_times(empty_database_url: str) -> None:
    # Given an authorization code stored the way before issue 19: with the person's escrow sign-in
    # time, the value every platform they signed in to shares
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0014_witness_cosignatures")
    engine = make_engine(empty_database_url)
    at = {"at": NOW}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO platforms (id, name, contact, redirect_uris, credential_lifetime_s,"
                " pseudonyms_per_person, created_at)"
                " VALUES ('forum', 'Forum', 'a@example.org', '[]', 3600, 1, :at)"
            ),
            at,
        )
        connection.execute(
            text("INSERT INTO signing_keys (kid, public_key, created_at) VALUES ('k', :key, :at)"),
            {**at, "key": b"\x01" * 32},
        )
        connection.execute(
            text(
                "INSERT INTO credentials (jti, platform_id, pseudonym, signing_key_id, envelope,"
                " envelope_digest, issued_at, expires_at)"
                " VALUES ('j', 'forum', 'p', 'k', :env, 'd', :at, :at)"
            ),
            {**at, "env": b"e"},
        )
        connection.execute(
            text(
                "INSERT INTO oidc_codes (code_hash, platform_id, credential_id, redirect_uri, scope, acr,"
                " auth_time, created_at, expires_at)"
                " VALUES (:h, 'forum', 'j', 'https://f/cb', 'openid', 'high', :at, :at, :at)"
            ),
            {**at, "h": b"\x02" * 32},
        )

    # When migrated up, the stored time is gone and the column takes none
    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT auth_time FROM oidc_codes")).all() == [(None,)]
    assert next(c for c in inspect(engine).get_columns("oidc_codes") if c["name"] == "auth_time")["nullable"]

    # And back down, the row gets its own creation time, never a shared sign-in time
    command.downgrade(config, "0014_witness_cosignatures")
    with engine.connect() as connection:
        (value,) = connection.execute(text("SELECT auth_time FROM oidc_codes")).one()
    assert value is not None
    engine.dispose()
