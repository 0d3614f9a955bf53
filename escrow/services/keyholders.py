"""Key-holder use cases: invite, enrol with public keys, authenticate signed requests, list."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Update, select, update
from sqlalchemy.orm import Session

from escrow.crypto.ceremony_messages import (
    InvalidSignatureError,
    b64,
    fingerprint,
    unb64,
    verify_message,
)
from escrow.crypto.errors import CryptoError
from escrow.errors import ConflictError, InvalidTokenError, NotFoundError, ValidationError
from escrow.models import HOLDER_STATUS_ENROLLED, HOLDER_STATUS_INVITED, KeyHolder
from escrow.protocol.ceremony import enrolment_body, invitation_digest
from escrow.protocol.signed_request import HolderAuthorization, InvalidHolderSignatureError
from escrow.services.pagination import Page, fetch_page
from escrow.services.transparency import LogSigner, append_event

INVITATION_TTL = timedelta(days=7)  # long enough to reach a trustee by post or phone, short enough to expire
INVITATION_CODE_BYTES = 16  # 128 bits: a one-time bearer secret
REQUEST_WINDOW = timedelta(minutes=5)  # clock skew allowed between a holder's machine and the service
MAX_FIELD_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Invitation:
    """A new invitation: the one-time code is shown once to the admin and never stored."""

    holder_id: int
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class KeyHolderView:
    """A key-holder as shown on pages and in the API: public data only."""

    id: int
    name: str
    organisation: str
    contact: str
    status: str
    signing_fingerprint: str | None
    exchange_fingerprint: str | None
    signing_key_b64: str | None


def claim_row(session: Session, no_op_update: Update) -> None:
    """Takes the write lock on a row before the use case reads it (run first in the transaction).

    PostgreSQL locks the row (as SELECT ... FOR UPDATE would). SQLite has no row locks, and under WAL a
    transaction that read first cannot then write once another has committed (SQLITE_BUSY, no wait):
    a write as the first statement takes the database write lock, waiting up to the busy timeout, so
    concurrent key-holders queue instead of failing.
    """
    session.execute(no_op_update)


def _view(row: KeyHolder) -> KeyHolderView:
    return KeyHolderView(
        id=row.id,
        name=row.name,
        organisation=row.organisation,
        contact=row.contact,
        status=row.status,
        signing_fingerprint=fingerprint(row.signing_key) if row.signing_key else None,
        exchange_fingerprint=fingerprint(row.exchange_key) if row.exchange_key else None,
        signing_key_b64=b64(row.signing_key) if row.signing_key else None,
    )


def _clean(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_FIELD_LENGTH:
        raise ValidationError(f"{field} must be 1 to {MAX_FIELD_LENGTH} characters")
    return value


def invite_keyholder(
    session: Session, *, name: str, organisation: str, contact: str, log: LogSigner, now: datetime
) -> Invitation:
    """Creates an invited key-holder and returns its one-time invitation code (stored only as a hash).

    Raises ValidationError for an empty or over-long field.
    """
    code = secrets.token_urlsafe(INVITATION_CODE_BYTES)
    row = KeyHolder(
        name=_clean(name, "name"),
        organisation=_clean(organisation, "organisation"),
        contact=_clean(contact, "contact"),
        status=HOLDER_STATUS_INVITED,
        invite_digest=invitation_digest(code),
        invited_at=now,
        invite_expires_at=now + INVITATION_TTL,
        last_request_ms=0,
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        log,
        kind="keyholder.invited",
        data={"holder": row.id, "organisation": row.organisation},
        now=now,
    )
    session.commit()
    return Invitation(row.id, code, row.invite_expires_at)


def enrol_keyholder(
    session: Session,
    *,
    code: str,
    signing_key_b64: str,
    exchange_key_b64: str,
    signature_b64: str,
    log: LogSigner,
    now: datetime,
) -> KeyHolderView:
    """Registers a holder's public keys against a one-time invitation code; the code is then spent.

    Raises InvalidTokenError for an unknown, spent or expired code, ValidationError for malformed
    keys, InvalidHolderSignatureError if the keys are not proven, ConflictError for a key already in use.
    """
    row = session.execute(
        select(KeyHolder).where(KeyHolder.invite_digest == invitation_digest(code)).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.status != HOLDER_STATUS_INVITED or row.invite_expires_at < now:
        raise InvalidTokenError("the invitation code is unknown, already used or expired")
    try:
        signing_key = unb64(signing_key_b64, length=32)
        exchange_key = unb64(exchange_key_b64, length=32)
        signature = unb64(signature_b64, length=64)
    except CryptoError as e:
        raise ValidationError("keys and signature must be base64url of 32, 32 and 64 bytes") from e
    try:
        verify_message(signing_key, enrolment_body(code, signing_key, exchange_key), signature)
    except InvalidSignatureError as e:
        raise InvalidHolderSignatureError("the enrolment is not signed by the key it registers") from e
    if session.execute(select(KeyHolder.id).where(KeyHolder.signing_key == signing_key)).first():
        raise ConflictError("this signing key is already registered")
    row.signing_key = signing_key
    row.exchange_key = exchange_key
    row.status = HOLDER_STATUS_ENROLLED
    row.enrolled_at = now
    row.invite_digest = None  # spent
    append_event(
        session,
        log,
        kind="keyholder.enrolled",
        # Key-holders are public trustees: the transparency report lists them by name and organisation.
        data={
            "holder": row.id,
            "name": row.name,
            "organisation": row.organisation,
            "signing_fingerprint": fingerprint(signing_key),
        },
        now=now,
    )
    session.commit()
    return _view(row)


def authenticate_holder(
    session: Session,
    *,
    authorization: HolderAuthorization,
    method: str,
    target: str,
    body: bytes,
    now: datetime,
) -> int:
    """Returns the id of the enrolled holder who signed this request.

    The timestamp must be within REQUEST_WINDOW of `now` and newer than the holder's last accepted
    request (a replayed request is refused). Raises InvalidHolderSignatureError otherwise.
    """
    signing_key, timestamp_ms = authorization.signing_key, authorization.timestamp_ms
    claim_row(
        session,
        update(KeyHolder)
        .where(KeyHolder.signing_key == signing_key)
        .values(last_request_ms=KeyHolder.last_request_ms),
    )
    row = session.execute(
        select(KeyHolder).where(KeyHolder.signing_key == signing_key).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.status != HOLDER_STATUS_ENROLLED:
        raise InvalidHolderSignatureError("no enrolled key-holder has this signing key")
    now_ms = int(now.timestamp() * 1000)
    if abs(now_ms - timestamp_ms) > REQUEST_WINDOW.total_seconds() * 1000:
        raise InvalidHolderSignatureError(
            "the request timestamp is outside the accepted window; check the clock"
        )
    if timestamp_ms <= row.last_request_ms:
        raise InvalidHolderSignatureError("replayed or out-of-order request")
    authorization.verify(method, target, body)
    row.last_request_ms = timestamp_ms
    session.commit()
    return row.id


def list_keyholders(session: Session) -> list[KeyHolderView]:
    """Returns every key-holder, oldest first."""
    return [_view(r) for r in session.execute(select(KeyHolder).order_by(KeyHolder.id)).scalars()]


def page_keyholders(session: Session, *, page: int) -> Page[KeyHolderView]:
    """Returns one page of the key-holders, oldest first. Raises InvalidPageError, PageNotFoundError."""
    return fetch_page(session, select(KeyHolder).order_by(KeyHolder.id), number=page).map(_view)


def get_keyholder(session: Session, holder_id: int) -> KeyHolderView:
    """Returns one key-holder. Raises NotFoundError if unknown."""
    row = session.get(KeyHolder, holder_id)
    if row is None:
        raise NotFoundError(f"no key-holder {holder_id}")
    return _view(row)
