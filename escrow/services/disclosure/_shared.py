"""Helpers the disclosure modules share: input checks, row lookups and the log search (private)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import DisclosureSignatureError, verify_officer
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode, sha256
from escrow.errors import InvalidStateError, NotFoundError, PermissionDeniedError, ValidationError
from escrow.models import (
    DisclosureCosignature,
    DisclosureDecision,
    DisclosureExtension,
    DisclosureExtensionCosignature,
    DisclosureRequest,
    DisclosureScope,
    KeyHolder,
    LogEntry,
    OfficerKey,
    OrderDocument,
    StaffAccount,
)
from escrow.services.disclosure.policy import Officer
from escrow.services.disclosure.states import HolderDecision
from escrow.services.keyholders import claim_row

MAX_TEXT: Final = 200
MAX_LEGAL_BASIS: Final = 4000
MAX_NOTIFY_DELAY_DAYS: Final = 3650
PDF_MAGIC: Final = b"%PDF-"
DAY_S: Final = 86400
END_OF_LOG: Final = 2**62  # an index beyond any log (indices are BigInteger)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def text(value: object, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise ValidationError(f"{field} must be 1 to {limit} characters")
    return value.strip()


def key_bytes(value: str, field: str, length: int) -> bytes:
    try:
        return b64u_decode(value, length=length)
    except (CryptoError, TypeError) as e:
        raise ValidationError(f"{field} must be base64url of {length} bytes") from e


def signature(value: str) -> bytes:
    return key_bytes(value, "signature", 64)


def verify_officer_signature(
    session: Session, staff: StaffAccount, role: str, digest: bytes, signature_b64: str, *, refusal: str
) -> bytes:
    """Checks `staff`'s registered key signed `digest` in `role`; returns the signature's bytes.

    Raises InvalidStateError (no registered key), ValidationError (malformed signature),
    PermissionDeniedError with `refusal` (not their signature).
    """
    key = officer_key(session, staff)
    signed = signature(signature_b64)
    try:
        verify_officer(key, role, digest, signed)
    except (DisclosureSignatureError, CryptoError) as e:
        raise PermissionDeniedError(refusal) from e
    return signed


def check_order(order: bytes, *, max_bytes: int) -> str:
    """Returns the SHA-256 (hex) of a court order: a PDF of at most `max_bytes`.

    Raises ValidationError (too large, not a PDF).
    """
    if len(order) > max_bytes:
        raise ValidationError(f"the order document is larger than {max_bytes // (1024 * 1024)} MiB")
    if not order.startswith(PDF_MAGIC):
        raise ValidationError("the order document must be a PDF")
    return sha256(order).hex()


def save_order(session: Session, order: bytes, order_sha: str, *, now: datetime) -> None:
    """Stores a checked court order by its SHA-256, once (without committing)."""
    if session.get(OrderDocument, order_sha) is None:
        session.add(OrderDocument(sha256=order_sha, content=order, uploaded_at=now))


def staff_account(session: Session, username: str) -> StaffAccount:
    row = session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first()
    if row is None or not row.is_active:
        raise NotFoundError("no such active member of staff")
    return row


def as_officer(staff: StaffAccount) -> Officer:
    """The member of staff as the policy sees them."""
    return Officer.of(
        id=staff.id, username=staff.username, organisation=staff.organisation, roles=staff.role_set
    )


def staff_by_id(session: Session, staff_id: int) -> StaffAccount:
    staff = session.get(StaffAccount, staff_id)
    assert staff is not None  # noqa: S101 - foreign key
    return staff


def officer_key(session: Session, staff: StaffAccount) -> bytes:
    row = session.get(OfficerKey, staff.id)
    if row is None:
        raise InvalidStateError(f"officer {staff.username} has no registered signing key")
    return row.public_key


def load_request(session: Session, request_id: int, *, lock: bool = False) -> DisclosureRequest:
    """Returns request `request_id` (row-locked first if `lock`). Raises NotFoundError."""
    if lock:
        claim_row(
            session,
            update(DisclosureRequest)
            .where(DisclosureRequest.id == request_id)
            .values(status=DisclosureRequest.status),
        )
    row = session.get(DisclosureRequest, request_id) if isinstance(request_id, int) else None
    if row is None:
        raise NotFoundError("no such disclosure request")
    return row


def cosigners(session: Session, row: DisclosureRequest) -> list[tuple[StaffAccount, DisclosureCosignature]]:
    return [
        (staff, sig)
        for sig, staff in session.execute(
            select(DisclosureCosignature, StaffAccount)
            .join(StaffAccount, StaffAccount.id == DisclosureCosignature.officer_id)
            .where(DisclosureCosignature.request_id == row.id)
            .order_by(DisclosureCosignature.id)
        ).all()
    ]


def officer_ids(session: Session, row: DisclosureRequest) -> set[int]:
    """The staff ids of the request's officers: its submitter and co-signers."""
    return {row.submitter_id} | {s.id for s, _ in cosigners(session, row)}


def scope_rows(session: Session, row: DisclosureRequest) -> list[DisclosureScope]:
    return list(
        session.scalars(
            select(DisclosureScope)
            .where(DisclosureScope.request_id == row.id)
            .order_by(DisclosureScope.position)
        )
    )


def count_decisions(session: Session, row: DisclosureRequest, decision: HolderDecision) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(DisclosureDecision)
            .where(DisclosureDecision.request_id == row.id, DisclosureDecision.decision == decision)
        )
        or 0
    )


def approvals(session: Session, row: DisclosureRequest) -> list[tuple[DisclosureDecision, KeyHolder]]:
    return [
        (d, h)
        for d, h in session.execute(
            select(DisclosureDecision, KeyHolder)
            .join(KeyHolder, KeyHolder.id == DisclosureDecision.holder_id)
            .where(
                DisclosureDecision.request_id == row.id,
                DisclosureDecision.decision == HolderDecision.APPROVE,
            )
            .order_by(DisclosureDecision.id)
        ).all()
    ]


def notify_at(row: DisclosureRequest) -> datetime | None:
    """When the person is told: the reveal plus the (possibly extended) delay; None before a reveal."""
    if row.disclosed_at is None:
        return None
    return row.disclosed_at + timedelta(seconds=row.notify_delay_s)


def extensions_of(session: Session, row: DisclosureRequest) -> list[DisclosureExtension]:
    return list(
        session.scalars(
            select(DisclosureExtension)
            .where(DisclosureExtension.request_id == row.id)
            .order_by(DisclosureExtension.sequence)
        )
    )


def extension_cosigners(session: Session, extension: DisclosureExtension) -> list[StaffAccount]:
    return list(
        session.scalars(
            select(StaffAccount)
            .join(
                DisclosureExtensionCosignature, DisclosureExtensionCosignature.officer_id == StaffAccount.id
            )
            .where(DisclosureExtensionCosignature.extension_id == extension.id)
            .order_by(DisclosureExtensionCosignature.id)
        )
    )


def last_logged(
    session: Session, kind: str, *, before: int | None, after: int = -1, **match: object
) -> tuple[int, dict[str, Any]] | None:
    """Returns (index, data) of the latest `kind` entry in (after, before) whose data has `match`.

    Few entries have these kinds (officer keys, courts, co-signatures), and `kind` is indexed.
    """
    if before is None:
        return None
    rows = session.execute(
        select(LogEntry.idx, LogEntry.body)
        .where(LogEntry.kind == kind, LogEntry.idx < before, LogEntry.idx > after)
        .order_by(LogEntry.idx.desc())
    )
    for idx, body in rows:
        data = json.loads(body).get("data", {})
        if all(data.get(k) == v for k, v in match.items()):
            return int(idx), dict(data)
    return None
