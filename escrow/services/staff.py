"""Staff accounts: create (admin, CLI), authenticate (login), look up. Never imports Flask."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import argon2
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escrow.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from escrow.models import STAFF_ROLE_PLATFORM, STAFF_ROLES, Platform, StaffAccount, StaffRole
from escrow.services import totp
from escrow.services.pagination import Page, fetch_page
from escrow.services.passwords import MIN_PASSWORD_LENGTH, hash_password, password_matches
from escrow.services.transparency import LogSigner, append_event

# Legal officers always need a second factor (issue 6); Settings.totp_all_staff extends it to all.
TOTP_ROLES = frozenset({"legal_officer"})
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
# A valid hash of a random password: verifying against it when the username is unknown costs the
# same time as a real check, so response time does not reveal which usernames exist.
_DUMMY_PASSWORD = "not-a-password-" + "x" * 16
_dummy_hashes: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: argon2.PasswordHasher) -> str:
    params = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if params not in _dummy_hashes:
        _dummy_hashes[params] = hash_password(hasher, _DUMMY_PASSWORD)
    return _dummy_hashes[params]


@dataclass(frozen=True, slots=True)
class StaffView:
    """What the web and API layers may know about a member of staff."""

    id: int
    username: str
    display_name: str
    organisation: str
    roles: frozenset[str]
    has_totp: bool = False
    # Issue 8: the one platform a `platform` login manages (None for every other role).
    platform_id: str | None = None

    def needs_totp(self, *, all_staff: bool) -> bool:
        """Whether this account must pass a TOTP code to log in (enrolling first if it has none)."""
        return all_staff or bool(self.roles & TOTP_ROLES)


def _view(account: StaffAccount) -> StaffView:
    return StaffView(
        account.id,
        account.username,
        account.display_name,
        account.organisation,
        account.role_set,
        account.totp_secret is not None,
        account.platform_id,
    )


def _active_account(session: Session, staff_id: int) -> StaffAccount:
    account = session.get(StaffAccount, staff_id)
    if account is None or not account.is_active:
        raise NotFoundError("no such staff account")
    return account


def _check_roles(roles: Iterable[str]) -> list[str]:
    chosen = sorted(set(roles))
    unknown = [r for r in chosen if r not in STAFF_ROLES]
    if not chosen or unknown:
        raise ValidationError(f"roles must be one or more of {', '.join(STAFF_ROLES)}")
    return chosen


def create_staff(
    session: Session,
    hasher: argon2.PasswordHasher,
    log: LogSigner,
    *,
    username: str,
    display_name: str,
    organisation: str,
    roles: Iterable[str],
    password: str,
    now: datetime,
    platform_id: str | None = None,
) -> StaffView:
    """Creates a staff account, logs `staff.added` (username, organisation, roles, platform) and commits.

    A `platform` login (issue 8) has that role alone and names the existing platform it manages;
    every other account names none. This function checks the whole rule (the database checks what
    a constraint can express: see StaffAccount).

    Raises ValidationError for a malformed username, unknown role, short password or a wrong platform
    binding, ConflictError if the username is taken.
    """
    if not _USERNAME.match(username):
        raise ValidationError("username: 2-63 characters of a-z, 0-9, '.', '_' or '-'")
    if not display_name.strip() or not organisation.strip():
        raise ValidationError("display name and organisation are required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    chosen = _check_roles(roles)
    _check_platform_binding(session, chosen, platform_id)
    account = StaffAccount(
        username=username,
        display_name=display_name.strip(),
        organisation=organisation.strip(),
        role_rows=[StaffRole(role=role) for role in chosen],
        password_hash=hash_password(hasher, password),
        is_active=True,
        created_at=now,
        platform_id=platform_id,
        is_platform_login=platform_id is not None,
    )
    session.add(account)
    try:
        session.flush()
    except IntegrityError as e:
        session.rollback()
        raise ConflictError(f"username {username!r} is taken") from e
    data: dict[str, object] = {"username": username, "organisation": account.organisation, "roles": chosen}
    if platform_id is not None:
        data["platform"] = platform_id
    append_event(session, log, kind="staff.added", data=data, now=now)
    session.commit()
    return _view(account)


def _check_platform_binding(session: Session, roles: list[str], platform_id: str | None) -> None:
    if STAFF_ROLE_PLATFORM not in roles:
        if platform_id is not None:
            raise ValidationError("only a platform login is bound to a platform")
        return
    if roles != [STAFF_ROLE_PLATFORM]:
        raise ValidationError("the platform role cannot be combined with another role")
    if not isinstance(platform_id, str) or session.get(Platform, platform_id) is None:
        raise ValidationError("a platform login must name an existing platform")


def authenticate_staff(
    session: Session, hasher: argon2.PasswordHasher, username: str, password: str
) -> StaffView:
    """Returns the active account with this username and password.

    Raises AuthenticationError (one message for unknown user, wrong password or disabled account).
    """
    account = session.execute(
        select(StaffAccount).where(StaffAccount.username == username)
    ).scalar_one_or_none()
    if account is None:
        password_matches(hasher, _dummy_hash(hasher), password)
        raise AuthenticationError("unknown username or wrong password")
    if not password_matches(hasher, account.password_hash, password) or not account.is_active:
        raise AuthenticationError("unknown username or wrong password")
    return _view(account)


def get_staff(session: Session, staff_id: int) -> StaffView:
    """Returns the active account `staff_id`. Raises NotFoundError if missing or disabled."""
    return _view(_active_account(session, staff_id))


def enrol_totp(
    session: Session, log: LogSigner, totp_key: bytes, *, staff_id: int, secret: str, code: str, now: datetime
) -> StaffView:
    """Stores ``secret`` (sealed) as the account's second factor once ``code`` proves the app has it.

    The matching step counts as used. Logs `staff.totp_enrolled` (username) and commits. Raises
    NotFoundError (no active account), ConflictError (already enrolled: an admin must reset it
    first) or AuthenticationError (malformed or wrong code).
    """
    account = _active_account(session, staff_id)
    if account.totp_secret is not None:
        raise ConflictError("this account already has an authenticator app; ask an administrator to reset it")
    step = totp.matching_step(secret, code, now, after=None)
    username = account.username
    # End the read transaction, then one conditional UPDATE (issue 17): of two enrolments racing
    # (two tabs) exactly one stores its key and logs; the other is the same ConflictError.
    session.commit()
    result = session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == staff_id, StaffAccount.totp_secret.is_(None))
        .values(
            totp_secret=totp.seal_secret(totp_key, staff_id, secret),
            totp_last_step=step,
            totp_enrolled_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise ConflictError("this account already has an authenticator app; ask an administrator to reset it")
    append_event(session, log, kind="staff.totp_enrolled", data={"username": username}, now=now)
    session.commit()
    session.refresh(account)
    return _view(account)


def check_totp(session: Session, totp_key: bytes, *, staff_id: int, code: str, now: datetime) -> StaffView:
    """Accepts ``code`` once for the enrolled account ``staff_id``; returns the account.

    The accepted step is recorded by a conditional UPDATE, so two logins racing with one code
    cannot both pass, on SQLite or PostgreSQL. Raises AuthenticationError (malformed, wrong or
    already used code; account without TOTP) or NotFoundError (no active account).
    """
    account = _active_account(session, staff_id)
    if account.totp_secret is None:
        raise AuthenticationError("this account has no authenticator app enrolled")
    secret = totp.open_secret(totp_key, staff_id, account.totp_secret)
    step = totp.matching_step(secret, code, now, after=account.totp_last_step)
    view = _view(account)
    session.commit()  # end the read before writing (SQLite cannot upgrade a read lock under load)
    used = session.execute(
        update(StaffAccount)
        .where(
            StaffAccount.id == staff_id,
            or_(StaffAccount.totp_last_step.is_(None), StaffAccount.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    session.commit()
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise AuthenticationError("wrong or already used code")
    return view


def reset_totp(session: Session, log: LogSigner, *, username: str, now: datetime) -> StaffView:
    """Removes an account's authenticator (a lost phone): it must enrol again at its next login.

    Logs `staff.totp_reset` (username) and commits. Raises NotFoundError if no active account has
    this username, ConflictError if it has no authenticator.
    """
    account = session.execute(
        select(StaffAccount).where(StaffAccount.username == username, StaffAccount.is_active)
    ).scalar_one_or_none()
    if account is None:
        raise NotFoundError(f"no active staff account {username!r}")
    if account.totp_secret is None:
        raise ConflictError(f"{username!r} has no authenticator app to reset")
    account.totp_secret = None
    account.totp_last_step = None
    account.totp_enrolled_at = None
    append_event(session, log, kind="staff.totp_reset", data={"username": username}, now=now)
    session.commit()
    return _view(account)


def list_staff(session: Session) -> list[StaffView]:
    """Returns every staff account, by username."""
    return [_view(a) for a in session.execute(select(StaffAccount).order_by(StaffAccount.username)).scalars()]


def page_staff(session: Session, *, role: str, page: int) -> Page[StaffView]:
    """Returns one page of the active and disabled accounts with ``role``, by username.

    Raises ValidationError for an unknown role, InvalidPageError, PageNotFoundError.
    """
    _check_roles([role])
    has_role = StaffAccount.role_rows.any(StaffRole.role == role)
    statement = select(StaffAccount).where(has_role).order_by(StaffAccount.username)
    return fetch_page(session, statement, number=page).map(_view)


def disable_staff(session: Session, log: LogSigner, *, username: str, now: datetime) -> StaffView:
    """Disables an account (it can no longer log in), logs `staff.removed` and commits.

    Raises NotFoundError if no active account has this username.
    """
    account = session.execute(
        select(StaffAccount).where(StaffAccount.username == username)
    ).scalar_one_or_none()
    if account is None or not account.is_active:
        raise NotFoundError(f"no active staff account {username!r}")
    account.is_active = False
    append_event(
        session,
        log,
        kind="staff.removed",
        data={"username": username, "organisation": account.organisation, "roles": sorted(account.role_set)},
        now=now,
    )
    session.commit()
    return _view(account)
