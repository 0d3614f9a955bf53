"""Model invariants enforced by the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from escrow.models import KEY_STATUS_PENDING, EscrowKey, StaffAccount, StaffRole
from tests.credentials_support import add_platform

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _key(**overrides: object) -> EscrowKey:
    values: dict[str, object] = {
        "key_id": "k1",
        "threshold": 3,
        "holder_count": 5,
        "public_key": bytes(32),
        "status": KEY_STATUS_PENDING,
        "created_at": NOW,
        "key_record": "{}",
    }
    values.update(overrides)
    return EscrowKey(**values)


def test_valid_key_is_stored_with_aware_utc_timestamps(db_session: Session) -> None:
    local = timezone(timedelta(hours=2))
    db_session.add(_key(activated_at=NOW.astimezone(local), status="active"))
    db_session.commit()
    db_session.expunge_all()

    key = db_session.get(EscrowKey, "k1")

    assert key is not None
    assert key.created_at == NOW
    assert key.created_at.tzinfo is not None
    assert key.activated_at == NOW
    assert key.public_key == bytes(32)


@pytest.mark.parametrize(
    ("threshold", "holder_count"), [(0, 5), (-1, 5), (6, 5)], ids=["zero", "negative", "above-n"]
)
def test_threshold_check_constraint_is_enforced(
    db_session: Session, threshold: int, holder_count: int
) -> None:
    db_session.add(_key(threshold=threshold, holder_count=holder_count))

    with pytest.raises(IntegrityError, match="threshold_range"):
        db_session.commit()


def test_threshold_equal_to_holder_count_is_allowed(db_session: Session) -> None:
    db_session.add(_key(threshold=5, holder_count=5))
    db_session.commit()

    assert db_session.scalar(select(func.count()).select_from(EscrowKey)) == 1


def test_status_check_constraint_is_enforced(db_session: Session) -> None:
    db_session.add(_key(status="lost"))

    with pytest.raises(IntegrityError, match="status_valid"):
        db_session.commit()


def test_naive_datetime_is_refused(db_session: Session) -> None:
    db_session.add(_key(created_at=datetime(2026, 11, 29, 12, 0)))

    with pytest.raises(StatementError, match="naive datetime"):
        db_session.commit()


def test_rolled_back_test_transaction_leaves_no_rows(engine: Engine) -> None:
    # Given a committed row inside an outer transaction (as the db_session fixture does)
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        session.add(_key(key_id="leak-check"))
        session.commit()
        session.close()
        # When the outer transaction is rolled back
        outer.rollback()

    # Then the row is gone, on SQLite too (pysqlite SAVEPOINT recipe in make_engine)
    with engine.connect() as connection:
        assert _count(connection) == 0


def _count(connection: Connection) -> int:
    return connection.scalar(select(func.count()).select_from(EscrowKey)) or 0


def test_missing_activation_time_reads_back_as_none(db_session: Session) -> None:
    db_session.add(_key())
    db_session.commit()
    db_session.expunge_all()

    key = db_session.get(EscrowKey, "k1")

    assert key is not None
    assert key.activated_at is None


def _staff(
    username: str, *, platform_id: str | None, is_platform_login: bool, roles: list[str]
) -> StaffAccount:
    return StaffAccount(
        username=username,
        display_name=username,
        organisation="Org",
        password_hash="x",
        created_at=NOW,
        platform_id=platform_id,
        is_platform_login=is_platform_login,
        role_rows=[StaffRole(role=role) for role in roles],
    )


@pytest.mark.parametrize(
    ("platform_id", "is_platform_login", "roles", "constraint"),
    [
        (None, False, ["platform"], "platform_role"),
        ("forum", True, ["platform", "admin"], "platform_role"),
        (None, False, ["root"], "role_valid"),
        (None, True, ["platform"], "platform_binding"),
        ("forum", False, ["admin"], "platform_binding"),
    ],
    ids=[
        "platform-role-unbound",
        "platform-with-admin",
        "unknown-role",
        "flag-without-platform",
        "bound-admin",
    ],
)
def test_platform_rule_is_enforced_by_the_database(
    db_session: Session, platform_id: str | None, is_platform_login: bool, roles: list[str], constraint: str
) -> None:
    # Issue 12: what the roles table's constraints express of the platform rule (see StaffAccount).
    add_platform(db_session, "forum")
    db_session.add(_staff("eve", platform_id=platform_id, is_platform_login=is_platform_login, roles=roles))

    with pytest.raises(IntegrityError, match=constraint):
        db_session.commit()


def test_a_role_row_cannot_disagree_with_its_account_about_the_platform_flag(db_session: Session) -> None:
    # The composite foreign key: a row claiming its account is a platform login when it is not.
    db_session.add(_staff("ann", platform_id=None, is_platform_login=False, roles=["admin"]))
    db_session.commit()
    account = db_session.scalars(select(StaffAccount).where(StaffAccount.username == "ann")).one()
    db_session.add(StaffRole(staff_id=account.id, role="platform", is_platform_login=True))

    with pytest.raises(IntegrityError, match="(?i)foreign key"):
        db_session.commit()


def test_roles_read_back_as_a_set(db_session: Session) -> None:
    db_session.add(_staff("cy", platform_id=None, is_platform_login=False, roles=["legal_officer", "admin"]))
    db_session.commit()
    db_session.expunge_all()

    account = db_session.scalars(select(StaffAccount).where(StaffAccount.username == "cy")).one()

    assert account.role_set == frozenset({"admin", "legal_officer"})
