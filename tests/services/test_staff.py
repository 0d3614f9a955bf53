"""Staff accounts: creation rules, authentication, and the log entry each creation writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import nacl.signing
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from escrow.models import LogEntry, StaffAccount
from escrow.services.passwords import make_password_hasher
from escrow.services.staff import authenticate_staff, create_staff, get_staff, list_staff
from escrow.services.transparency import LogSigner

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LOG = LogSigner("escrow.test/log", nacl.signing.SigningKey(b"\x01" * 32))
HASHER = make_password_hasher(Settings.for_tests("sqlite://", __import__("pathlib").Path("/nonexistent")))
PASSWORD = "a long enough password"


def _create(session: Session, username: str = "alice", **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "username": username,
        "display_name": "Alice Admin",
        "organisation": "Escrow Operator",
        "roles": ["admin"],
        "password": PASSWORD,
        "now": NOW,
    }
    values.update(overrides)
    return create_staff(session, HASHER, LOG, **values)  # type: ignore[arg-type]


def test_created_account_authenticates_and_is_logged_without_its_password(db_session: Session) -> None:
    view = _create(db_session)

    assert authenticate_staff(db_session, HASHER, "alice", PASSWORD) == view
    stored = db_session.execute(select(StaffAccount)).scalar_one()
    assert PASSWORD not in stored.password_hash
    assert stored.password_hash.startswith("$argon2id$")
    entry = db_session.execute(select(LogEntry).where(LogEntry.kind == "staff.added")).scalar_one()
    assert json.loads(entry.body)["data"] == {
        "username": "alice",
        "organisation": "Escrow Operator",
        "roles": ["admin"],
    }
    assert get_staff(db_session, view.id) == view
    assert list_staff(db_session) == [view]


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong password!!"), ("nobody", PASSWORD), ("ALICE", PASSWORD)]
)
def test_wrong_password_and_unknown_user_fail_alike(
    db_session: Session, username: str, password: str
) -> None:
    _create(db_session)
    with pytest.raises(AuthenticationError, match="unknown username or wrong password"):
        authenticate_staff(db_session, HASHER, username, password)


def test_disabled_account_cannot_log_in_or_load(db_session: Session) -> None:
    view = _create(db_session)
    db_session.get(StaffAccount, view.id).is_active = False  # type: ignore[union-attr]
    with pytest.raises(AuthenticationError):
        authenticate_staff(db_session, HASHER, "alice", PASSWORD)
    with pytest.raises(NotFoundError):
        get_staff(db_session, view.id)


def test_duplicate_username_is_a_conflict(db_session: Session) -> None:
    _create(db_session)
    with pytest.raises(ConflictError):
        _create(db_session)


@pytest.mark.parametrize(
    "overrides",
    [
        {"username": "A"},
        {"username": "has space"},
        {"roles": []},
        {"roles": ["root"]},
        {"password": "short"},
        {"display_name": "  "},
    ],
)
def test_invalid_accounts_are_refused(db_session: Session, overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _create(db_session, **overrides)


def test_disabling_an_account_logs_it_and_blocks_login(db_session: Session) -> None:
    from escrow.services.staff import disable_staff

    _create(db_session)
    disable_staff(db_session, LOG, username="alice", now=NOW)
    with pytest.raises(AuthenticationError):
        authenticate_staff(db_session, HASHER, "alice", PASSWORD)
    entry = db_session.execute(select(LogEntry).where(LogEntry.kind == "staff.removed")).scalar_one()
    assert json.loads(entry.body)["data"]["username"] == "alice"
    with pytest.raises(NotFoundError):
        disable_staff(db_session, LOG, username="alice", now=NOW)
