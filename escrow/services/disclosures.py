"""Disclosure requests (issue 6): officer keys, courts, draft, submit, co-sign, holder decisions, reveal.

The state machine and who signs what are in docs/disclosure.md. Every step is authenticated by an
Ed25519 signature over the request digest (officers with keys from `escrow officer init`, key-holders
with their holder keys), checked here, and appended to the transparency log in the same transaction.
A revealed identity is never stored: each view re-opens the envelopes from the stored partial
decryptions, which are deleted when the viewing window ends, the request expires or is rejected.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_SUBMIT,
    ROLE_WITHDRAW,
    DisclosureSignatureError,
    court_verdict,
    extension_body,
    extension_digest,
    verify_decision,
    verify_officer,
    withdrawal_body,
    withdrawal_digest,
)
from escrow.crypto.errors import CryptoError, InvalidProofError
from escrow.crypto.pseudonym import PseudonymDeriver
from escrow.crypto.seal import Envelope, PartialDecryption, combine_and_open, verify_partial
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256
from escrow.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from escrow.models import (
    Court,
    Credential,
    DisclosureCosignature,
    DisclosureDecision,
    DisclosureExtension,
    DisclosureExtensionCosignature,
    DisclosureRequest,
    DisclosureScope,
    DisclosureWithdrawal,
    KeyHolder,
    LogEntry,
    LogState,
    OfficerKey,
    OrderDocument,
    Person,
    Platform,
    StaffAccount,
)
from escrow.protocol.disclosure import CourtReference, DisclosureBody, Submitter
from escrow.protocol.scope import PseudonymScope
from escrow.services.ceremony import holder_indices
from escrow.services.escrow_keys import active_escrow_key, escrow_key
from escrow.services.keyholders import claim_row
from escrow.services.pagination import Page, fetch_page
from escrow.services.staff import StaffView
from escrow.services.transparency import LogSigner, append_event

MAX_ORDER_BYTES: Final = 4 * 1024 * 1024  # court orders are a few pages; bounded so uploads stay cheap
PDF_MAGIC: Final = b"%PDF-"
MAX_SCOPE: Final = 50
MAX_TEXT: Final = 200
MAX_LEGAL_BASIS: Final = 4000
MAX_NOTIFY_DELAY_DAYS: Final = 3650
LEGAL_OFFICER: Final = "legal_officer"
ADMIN: Final = "admin"
OPEN_STATUSES: Final = ("submitted", "cosigned")
_END_OF_LOG: Final = 2**62  # an index beyond any log (indices are BigInteger)
WITHDRAWABLE_STATUSES: Final = ("draft", "submitted", "cosigned")
EXTENDABLE_STATUSES: Final = ("submitted", "cosigned", "disclosed")
# An extension's optional order travels base64url inside JSON; 3 MiB stays under MAX_CONTENT_LENGTH.
MAX_EXTENSION_ORDER_BYTES: Final = 3 * 1024 * 1024
DAY_S: Final = 86400

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """The configurable rules (Settings.disclosure_*; docs/disclosure.md#policy)."""

    cosigners: int = 1
    cosigner_other_org: bool = True
    min_organisations: int = 2
    monthly_cap: int | None = None
    view_window: timedelta = timedelta(hours=72)

    @classmethod
    def from_settings(cls, settings: Settings) -> DisclosurePolicy:
        return cls(
            cosigners=settings.disclosure_cosigners,
            cosigner_other_org=settings.disclosure_cosigner_other_org,
            min_organisations=settings.disclosure_min_organisations,
            monthly_cap=settings.disclosure_monthly_cap,
            view_window=timedelta(hours=settings.disclosure_view_hours),
        )


@dataclass(frozen=True, slots=True)
class CourtView:
    id: int
    name: str
    jurisdiction: str
    public_key_b64: str | None


@dataclass(frozen=True, slots=True)
class ExtensionView:
    """A notification-delay extension of a request, with its signers."""

    sequence: int
    status: str
    body: dict[str, Any]
    digest_b64: str
    proposer: str
    cosigners: tuple[str, ...]
    created_at: datetime
    effective_at: datetime | None


@dataclass(frozen=True, slots=True)
class DisclosureView:
    """A request as shown to legal officers and admins (no identity, ever)."""

    id: int
    status: str
    body: dict[str, Any]
    digest_b64: str
    submitter: str
    cosigners: tuple[str, ...]
    approvals: int
    rejections: int
    threshold: int
    log_index: int | None
    disclosed_at: datetime | None
    view_until: datetime | None
    notify_delay_days: int = 0
    notify_at: datetime | None = None
    extensions: tuple[ExtensionView, ...] = ()
    withdrawn_by: str | None = None

    @property
    def officers(self) -> tuple[str, ...]:
        """The officers of the request: its submitter and co-signers (who may extend or withdraw)."""
        return (self.submitter, *self.cosigners)

    @property
    def is_withdrawable(self) -> bool:
        return self.status in WITHDRAWABLE_STATUSES

    def is_extendable(self, now: datetime) -> bool:
        """Whether an extension may still be proposed or co-signed at `now` (the person is not told yet)."""
        return self.status in EXTENDABLE_STATUSES and (self.notify_at is None or now < self.notify_at)


@dataclass(frozen=True, slots=True, repr=False)
class RevealedIdentity:
    """One opened envelope, in memory only while a granted officer views it."""

    platform: str
    pseudonym: str
    identity: dict[str, Any]

    def __repr__(self) -> str:
        return f"RevealedIdentity(platform={self.platform!r}, <hidden>)"


@dataclass(frozen=True, slots=True)
class DisclosureNotice:
    """What a person sees about a disclosure of their identity, once the delay is over."""

    request_id: int
    disclosed_at: datetime
    court: str
    case_number: str


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    monthly_cap: int | None
    submitted_this_month: int

    @property
    def is_blocked(self) -> bool:
        return self.monthly_cap is not None and self.submitted_this_month >= self.monthly_cap


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: object, field: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise ValidationError(f"{field} must be 1 to {limit} characters")
    return value.strip()


def _key_bytes(value: str, field: str, length: int) -> bytes:
    try:
        return b64u_decode(value, length=length)
    except (CryptoError, TypeError) as e:
        raise ValidationError(f"{field} must be base64url of {length} bytes") from e


def _staff(session: Session, username: str) -> StaffAccount:
    row = session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first()
    if row is None or not row.is_active:
        raise NotFoundError("no such active member of staff")
    return row


def _officer_key(session: Session, staff: StaffAccount) -> bytes:
    row = session.get(OfficerKey, staff.id)
    if row is None:
        raise InvalidStateError(f"officer {staff.username} has no registered signing key")
    return row.public_key


# --- officer keys and courts -------------------------------------------------------------------


def registered_officer_key(session: Session, username: str) -> str | None:
    """Returns the base64url public key registered for officer `username`, or None if they have none.

    Raises NotFoundError if no active member of staff has this username.
    """
    row = session.get(OfficerKey, _staff(session, username).id)
    return None if row is None else b64u_encode(row.public_key)


def register_officer_key(
    session: Session, *, actor: StaffView, username: str, public_key_b64: str, log: LogSigner, now: datetime
) -> str:
    """Registers (or replaces) a legal officer's Ed25519 public key and commits; returns its fingerprint.

    The officer registers their own key; an admin may register anyone's. Raises PermissionDeniedError,
    NotFoundError (no such officer), ValidationError (malformed key), ConflictError (key in use).
    """
    if actor.username != username and ADMIN not in actor.roles:
        raise PermissionDeniedError("officers register their own key; an admin may register any")
    staff = _staff(session, username)
    if LEGAL_OFFICER not in staff.role_set:
        raise ValidationError("only legal officers have disclosure signing keys")
    key = _key_bytes(public_key_b64, "public_key", 32)
    other = session.scalars(select(OfficerKey).where(OfficerKey.public_key == key)).first()
    if other is not None and other.staff_id != staff.id:
        raise ConflictError("this key is registered to another officer")
    row = session.get(OfficerKey, staff.id)
    if row is None:
        session.add(OfficerKey(staff_id=staff.id, public_key=key, registered_at=now))
    else:
        row.public_key, row.registered_at = key, now
    append_event(
        session,
        log,
        kind="officer.key_registered",
        # The whole public key, so a key-holder's tool can take it from the log rather than from us
        # (docs/disclosure.md#the-key-holders-checks); officers are staff, named in the log already.
        data={
            "officer": staff.username,
            "organisation": staff.organisation,
            "fingerprint": fingerprint(key),
            "public_key": b64u_encode(key),
        },
        now=now,
    )
    session.commit()
    return fingerprint(key)


def add_court(
    session: Session,
    *,
    name: str,
    jurisdiction: str,
    public_key_b64: str | None,
    log: LogSigner,
    now: datetime,
) -> CourtView:
    """Adds a court to the registry and commits. Raises ValidationError, ConflictError (duplicate)."""
    row = Court(
        name=_text(name, "name"),
        jurisdiction=_text(jurisdiction, "jurisdiction"),
        public_key=_key_bytes(public_key_b64, "public_key", 32) if public_key_b64 else None,
        created_at=now,
    )
    if session.scalars(
        select(Court).where(Court.name == row.name, Court.jurisdiction == row.jurisdiction)
    ).first():
        raise ConflictError("this court is already registered")
    session.add(row)
    session.flush()
    append_event(
        session,
        log,
        kind="court.registered",
        data={
            "court": row.id,
            "name": row.name,
            "jurisdiction": row.jurisdiction,
            "fingerprint": fingerprint(row.public_key) if row.public_key else None,
            "public_key": b64u_encode(row.public_key) if row.public_key else None,
        },
        now=now,
    )
    session.commit()
    return _court_view(row)


def _court_view(row: Court) -> CourtView:
    return CourtView(
        row.id, row.name, row.jurisdiction, b64u_encode(row.public_key) if row.public_key else None
    )


def list_courts(session: Session) -> list[CourtView]:
    """Returns every registered court, by name."""
    return [_court_view(r) for r in session.scalars(select(Court).order_by(Court.name, Court.id))]


def page_courts(session: Session, *, page: int) -> Page[CourtView]:
    """Returns one page of the courts, by name. Raises InvalidPageError, PageNotFoundError."""
    return fetch_page(session, select(Court).order_by(Court.name, Court.id), number=page).map(_court_view)


# --- drafting, submission, co-signing ----------------------------------------------------------


def _scope_items(session: Session, scope: Sequence[object]) -> list[tuple[str, str, str, bytes]]:
    if not isinstance(scope, list | tuple) or not 1 <= len(scope) <= MAX_SCOPE:
        raise ValidationError(f"the scope must list 1 to {MAX_SCOPE} pseudonyms")
    items = []
    for entry in scope:
        if not isinstance(entry, dict):
            raise ValidationError("each scope entry names platform, pseudonym and envelope_digest")
        platform = _text(entry.get("platform"), "platform", 64)
        pseudonym = _text(entry.get("pseudonym"), "pseudonym", 64)
        digest = _text(entry.get("envelope_digest"), "envelope_digest", 64)
        credential = session.scalars(
            select(Credential).where(Credential.platform_id == platform, Credential.pseudonym == pseudonym)
        ).all()
        match = [c for c in credential if hmac.compare_digest(c.envelope_digest, digest)]
        # Refused without saying whether the pseudonym exists: the digest is what the platform holds.
        if not match or not hmac.compare_digest(b64u_encode(sha256(match[0].envelope)), digest):
            raise ValidationError("an envelope digest does not match a stored envelope for that pseudonym")
        items.append((platform, pseudonym, digest, match[0].envelope))
    if len({(p, s, d) for p, s, d, _ in items}) != len(items):
        raise ValidationError("the scope names one envelope twice")
    return items


def create_draft(
    session: Session,
    *,
    officer: StaffView,
    court_id: int,
    case_number: str,
    order: bytes | None,
    court_signature_b64: str | None,
    legal_basis: str,
    scope: Sequence[object],
    expires_at: datetime,
    notify_delay_days: int,
    is_emergency: bool,
    now: datetime,
) -> DisclosureView:
    """Creates a draft request: stores the order by SHA-256, copies the envelopes in scope, fixes the
    canonical body and its digest, and commits. Nothing can change after this; the submitter then signs
    the digest (submit_request).

    Raises PermissionDeniedError (not a legal officer), ValidationError (no or bad order document, bad
    scope, digest not matching a stored envelope, expiry in the past), NotFoundError (court),
    InvalidStateError (no active escrow key).
    """
    if LEGAL_OFFICER not in officer.roles:
        raise PermissionDeniedError("only legal officers submit disclosure requests")
    if not order:
        raise ValidationError("a disclosure request needs the court order document (PDF)")
    if len(order) > MAX_ORDER_BYTES:
        raise ValidationError(f"the order document is larger than {MAX_ORDER_BYTES // (1024 * 1024)} MiB")
    if not order.startswith(PDF_MAGIC):
        raise ValidationError("the order document must be a PDF")
    court = session.get(Court, court_id) if isinstance(court_id, int) else None
    if court is None:
        raise NotFoundError("no such court")
    signature = _key_bytes(court_signature_b64, "court_signature", 64) if court_signature_b64 else None
    if expires_at.tzinfo is None or expires_at <= now:
        raise ValidationError("the expiry must be in the future")
    if type(notify_delay_days) is not int or not 0 <= notify_delay_days <= MAX_NOTIFY_DELAY_DAYS:
        raise ValidationError(f"the notification delay is 0 to {MAX_NOTIFY_DELAY_DAYS} days")
    items = _scope_items(session, scope)
    key = active_escrow_key(session)
    order_sha = sha256(order).hex()
    if session.get(OrderDocument, order_sha) is None:
        session.add(OrderDocument(sha256=order_sha, content=order, uploaded_at=now))
    staff = _staff(session, officer.username)
    body = DisclosureBody(
        nonce=secrets.token_hex(16),
        court=CourtReference(id=court.id, name=court.name, jurisdiction=court.jurisdiction),
        case_number=_text(case_number, "case_number"),
        order_sha256=order_sha,
        court_verdict=court_verdict(court.public_key, order, signature),
        legal_basis=_text(legal_basis, "legal_basis", MAX_LEGAL_BASIS),
        is_emergency=bool(is_emergency),
        scope=tuple(PseudonymScope(p, s, d) for p, s, d, _ in items),
        expires_at=expires_at,
        notify_delay_days=notify_delay_days,
        key_id=key.key_id,
        submitter=Submitter(username=staff.username, organisation=staff.organisation),
    )
    row = DisclosureRequest(
        status="draft",
        court_id=court.id,
        case_number=body.case_number,
        order_sha256=order_sha,
        court_signature=signature,
        court_verdict=body.court_verdict,
        legal_basis=body.legal_basis,
        is_emergency=body.is_emergency,
        key_id=key.key_id,
        expires_at=expires_at,
        notify_delay_s=notify_delay_days * 86400,
        body=body.canonical_bytes().decode(),
        digest=body.digest(),
        submitter_id=staff.id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    for position, (platform, pseudonym, digest, envelope) in enumerate(items):
        session.add(
            DisclosureScope(
                request_id=row.id,
                position=position,
                platform_id=platform,
                pseudonym=pseudonym,
                envelope_digest=digest,
                envelope=envelope,
            )
        )
    session.commit()
    _log.info("disclosure.drafted request_id=%d", row.id)
    return _view(session, row)


def _get(session: Session, request_id: int, *, lock: bool = False) -> DisclosureRequest:
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


def _month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def policy_status(session: Session, policy: DisclosurePolicy, *, now: datetime) -> PolicyStatus:
    """Returns the monthly cap and how many requests were submitted this calendar month (UTC)."""
    count = session.scalar(
        select(func.count())
        .select_from(DisclosureRequest)
        .where(DisclosureRequest.submitted_at >= _month_start(now))
    )
    return PolicyStatus(policy.monthly_cap, int(count or 0))


def _signature(value: str) -> bytes:
    return _key_bytes(value, "signature", 64)


def submit_request(
    session: Session,
    *,
    request_id: int,
    signature_b64: str,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Submits a draft with the submitter's signature over its digest, logs it and commits.

    Raises NotFoundError, InvalidStateError (not a draft, or the monthly cap is reached: that refusal is
    itself logged publicly), PermissionDeniedError (the signature is not the submitter's registered key).
    """
    row = _get(session, request_id, lock=True)
    if row.status == "withdrawn":
        raise InvalidStateError("this request was withdrawn; it can no longer be submitted")
    if row.status != "draft":
        raise InvalidStateError("this request was already submitted; nothing in it can change")
    staff = session.get(StaffAccount, row.submitter_id)
    assert staff is not None  # noqa: S101 - foreign key
    try:
        verify_officer(_officer_key(session, staff), ROLE_SUBMIT, row.digest, _signature(signature_b64))
    except (DisclosureSignatureError, CryptoError) as e:
        raise PermissionDeniedError("the signature is not the submitter's over this request digest") from e
    if policy.monthly_cap is not None:
        # Submissions queue on the log head's row lock, so two at once cannot both pass the cap.
        claim_row(session, update(LogState).where(LogState.id == 1).values(size=LogState.size))
    status = policy_status(session, policy, now=now)
    if status.is_blocked:
        append_event(
            session,
            log,
            kind="disclosure.blocked",
            data={"reason": "monthly-cap", "month": _iso(_month_start(now))[:7], "cap": status.monthly_cap},
            now=now,
        )
        session.commit()
        raise InvalidStateError(
            f"the monthly cap of {status.monthly_cap} disclosure requests is reached; this is published"
        )
    body = DisclosureBody.from_json(row.body)
    row.status = "submitted"
    row.submit_signature = _signature(signature_b64)
    row.submitted_at = now
    # The court and case are public; who is in scope and which document, only as commitments.
    row.log_index = append_event(
        session,
        log,
        kind="disclosure.submitted",
        data={
            "request": row.id,
            "request_digest": b64u_encode(row.digest),
            "court": body.court.name,
            "jurisdiction": body.court.jurisdiction,
            "case_number": row.case_number,
            "court_signature": row.court_verdict,
            "emergency": row.is_emergency,
            "scope_size": len(body.scope),
            "submitter_organisation": staff.organisation,
        },
        sensitive={
            "scope": canonical_json(body.scope_list()).decode(),
            "order_sha256": row.order_sha256,
        },
        now=now,
    )
    session.commit()
    _log.info("disclosure.submitted request_id=%d", row.id)
    return _view(session, row)


def cosign_request(
    session: Session,
    *,
    request_id: int,
    username: str,
    signature_b64: str,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Adds a co-signature by legal officer `username` over the request digest, logs it and commits.

    Raises NotFoundError, InvalidStateError (not awaiting co-signatures, expired), PermissionDeniedError
    (the submitter, not a legal officer, same organisation when policy forbids it, bad signature),
    ConflictError (already co-signed by this officer).
    """
    row = _get(session, request_id, lock=True)
    _expire_if_due(session, row, log=log, now=now)
    if row.status != "submitted":
        raise InvalidStateError(f"this request is {row.status}, not awaiting co-signatures")
    staff = _staff(session, username)
    if LEGAL_OFFICER not in staff.role_set:
        raise PermissionDeniedError("only legal officers co-sign disclosure requests")
    if staff.id == row.submitter_id:
        raise PermissionDeniedError("the submitter cannot co-sign their own request")
    submitter = session.get(StaffAccount, row.submitter_id)
    assert submitter is not None  # noqa: S101 - foreign key
    if policy.cosigner_other_org and staff.organisation == submitter.organisation:
        raise PermissionDeniedError("a co-signer must belong to another organisation than the submitter")
    try:
        verify_officer(_officer_key(session, staff), ROLE_COSIGN, row.digest, _signature(signature_b64))
    except (DisclosureSignatureError, CryptoError) as e:
        raise PermissionDeniedError("the signature is not this officer's over this request digest") from e
    if session.scalars(
        select(DisclosureCosignature).where(
            DisclosureCosignature.request_id == row.id, DisclosureCosignature.officer_id == staff.id
        )
    ).first():
        raise ConflictError("this officer already co-signed this request")
    session.add(
        DisclosureCosignature(
            request_id=row.id, officer_id=staff.id, signature=_signature(signature_b64), created_at=now
        )
    )
    session.flush()
    count = len(_cosigners(session, row))
    if count >= policy.cosigners:
        row.status = "cosigned"
    append_event(
        session,
        log,
        kind="disclosure.cosigned",
        data={
            "request": row.id,
            "officer": staff.username,
            "organisation": staff.organisation,
            "cosignatures": count,
        },
        now=now,
    )
    session.commit()
    _log.info("disclosure.cosigned request_id=%d", row.id)
    return _view(session, row)


def _cosigners(session: Session, row: DisclosureRequest) -> list[tuple[StaffAccount, DisclosureCosignature]]:
    return [
        (staff, sig)
        for sig, staff in session.execute(
            select(DisclosureCosignature, StaffAccount)
            .join(StaffAccount, StaffAccount.id == DisclosureCosignature.officer_id)
            .where(DisclosureCosignature.request_id == row.id)
            .order_by(DisclosureCosignature.id)
        ).all()
    ]


# --- expiry and deletion of partial decryptions ------------------------------------------------


def _delete_partials(session: Session, row: DisclosureRequest, now: datetime) -> None:
    session.execute(
        update(DisclosureDecision)
        .where(DisclosureDecision.request_id == row.id)
        .values(partials=None)
        .execution_options(synchronize_session=False)
    )
    row.partials_deleted_at = now


def _expire_if_due(session: Session, row: DisclosureRequest, *, log: LogSigner, now: datetime) -> None:
    """Expires an open request past its expiry (deleting any partial decryptions) and commits."""
    if row.status in (*OPEN_STATUSES, "draft") and now >= row.expires_at:
        row.status = "expired"
        row.closed_at = now
        _delete_partials(session, row, now)
        append_event(session, log, kind="disclosure.expired", data={"request": row.id}, now=now)
        session.commit()


def _close_window_if_over(session: Session, row: DisclosureRequest, *, log: LogSigner, now: datetime) -> None:
    is_over = row.view_until is not None and now >= row.view_until
    if row.status == "disclosed" and is_over and row.partials_deleted_at is None:
        _delete_partials(session, row, now)
        append_event(session, log, kind="disclosure.window_closed", data={"request": row.id}, now=now)
        session.commit()


def sweep_disclosures(session: Session, *, log: LogSigner, now: datetime) -> int:
    """Expires overdue requests and deletes the partials of closed viewing windows; returns how many."""
    rows = session.scalars(
        select(DisclosureRequest).where(
            or_(
                and_(DisclosureRequest.status.in_(OPEN_STATUSES), DisclosureRequest.expires_at <= now),
                and_(
                    DisclosureRequest.status == "disclosed",
                    DisclosureRequest.view_until <= now,
                    DisclosureRequest.partials_deleted_at.is_(None),
                ),
            )
        )
    ).all()
    for row in rows:
        _expire_if_due(session, row, log=log, now=now)
        _close_window_if_over(session, row, log=log, now=now)
    return len(rows)


# --- key-holder decisions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HolderPackage:
    """Everything a key-holder's tool needs to check a request on its own machine."""

    request_id: int
    status: str
    body: dict[str, Any]
    digest_b64: str
    log_index: int | None
    officers: list[dict[str, Any]]
    envelopes: list[dict[str, Any]]
    holder_index: int
    decided: bool
    court: dict[str, Any]
    order_document_b64: str


def _holder_index(session: Session, row: DisclosureRequest, holder_id: int) -> int:
    try:
        indices = holder_indices(session, row.key_id)
    except InvalidStateError as e:
        raise InvalidStateError("the escrow key of this request has no key-holders on record") from e
    if holder_id not in indices:
        raise PermissionDeniedError("you hold no share of the escrow key this request needs")
    return indices[holder_id]


def holder_requests(
    session: Session, *, holder_id: int, log: LogSigner, now: datetime
) -> list[DisclosureView]:
    """Returns the co-signed requests awaiting this holder's decision (expired ones are closed first)."""
    sweep_disclosures(session, log=log, now=now)
    decided = select(DisclosureDecision.request_id).where(DisclosureDecision.holder_id == holder_id)
    rows = session.scalars(
        select(DisclosureRequest)
        .where(DisclosureRequest.status == "cosigned", DisclosureRequest.id.not_in(decided))
        .order_by(DisclosureRequest.id)
    ).all()
    result = []
    for row in rows:
        try:
            _holder_index(session, row, holder_id)
        except (PermissionDeniedError, InvalidStateError):
            continue
        result.append(_view(session, row))
    return result


def holder_package(session: Session, *, request_id: int, holder_id: int) -> HolderPackage:
    """Returns the request, its signatures and envelopes for holder `holder_id` to check.

    Raises NotFoundError, PermissionDeniedError (not a holder of the request's key),
    InvalidStateError (still a draft).
    """
    row = _get(session, request_id)
    if row.status == "draft":
        raise InvalidStateError("this request has not been submitted")
    index = _holder_index(session, row, holder_id)
    submitter = session.get(StaffAccount, row.submitter_id)
    assert submitter is not None  # noqa: S101 - foreign key
    officers = [
        _officer_entry(session, submitter, ROLE_SUBMIT, row.submit_signature, signed_index=row.log_index)
    ]
    officers += [
        _officer_entry(
            session, s, ROLE_COSIGN, sig.signature, signed_index=_cosign_index(session, row, s.username)
        )
        for s, sig in _cosigners(session, row)
    ]
    envelopes = [
        {"envelope_digest": s.envelope_digest, "envelope": json.loads(s.envelope)}
        for s in _scope(session, row)
    ]
    decided = session.scalars(
        select(DisclosureDecision.id).where(
            DisclosureDecision.request_id == row.id, DisclosureDecision.holder_id == holder_id
        )
    ).first()
    court = session.get(Court, row.court_id)
    assert court is not None  # noqa: S101 - foreign key
    court_entry = _last_logged(session, "court.registered", before=row.log_index, court=court.id)
    document = session.get(OrderDocument, row.order_sha256)
    assert document is not None  # noqa: S101 - foreign key
    return HolderPackage(
        row.id,
        row.status,
        DisclosureBody.from_json(row.body).to_dict(),
        b64u_encode(row.digest),
        row.log_index,
        officers,
        envelopes,
        index,
        decided is not None,
        {
            "id": court.id,
            "log_index": court_entry[0] if court_entry else None,
            "public_key": b64u_encode(court.public_key) if court.public_key else None,
            "signature": b64u_encode(row.court_signature) if row.court_signature else None,
        },
        b64u_encode(document.content),
    )


def _last_logged(
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


def _cosign_index(session: Session, row: DisclosureRequest, username: str) -> int | None:
    if row.log_index is None:
        return None
    found = _last_logged(
        session,
        "disclosure.cosigned",
        before=_END_OF_LOG,
        after=row.log_index,
        request=row.id,
        officer=username,
    )
    return found[0] if found else None


def _officer_entry(
    session: Session, staff: StaffAccount, role: str, signature: bytes | None, *, signed_index: int | None
) -> dict[str, Any]:
    """One officer's signature, with the log entries that let the holder's tool check their key: the
    entry recording the signature, and the last `officer.key_registered` for them before it (the key in
    force when they signed; docs/disclosure.md#the-key-holders-checks)."""
    registered = _last_logged(session, "officer.key_registered", before=signed_index, officer=staff.username)
    row = session.get(OfficerKey, staff.id)
    key = row.public_key if row else None
    if registered is not None and registered[1].get("public_key"):
        key = b64u_decode(str(registered[1]["public_key"]))  # a key replaced since: the one it signed with
    return {
        "role": role,
        "username": staff.username,
        "organisation": staff.organisation,
        "public_key": b64u_encode(key) if key else "",
        "signature": b64u_encode(signature) if signature else "",
        "key_log_index": registered[0] if registered else None,
        "signed_log_index": signed_index,
    }


def _scope(session: Session, row: DisclosureRequest) -> list[DisclosureScope]:
    return list(
        session.scalars(
            select(DisclosureScope)
            .where(DisclosureScope.request_id == row.id)
            .order_by(DisclosureScope.position)
        )
    )


def _envelope(scope: DisclosureScope) -> Envelope:
    # The stored copy must still hash to the digest the officers signed (a tampered row is refused).
    if not hmac.compare_digest(b64u_encode(sha256(scope.envelope)), scope.envelope_digest):
        raise InvalidStateError(f"the stored envelope {scope.position + 1} does not match its digest")
    try:
        return Envelope.from_bytes(scope.envelope)
    except CryptoError as e:
        raise InvalidStateError(f"the stored envelope {scope.position + 1} is malformed") from e


def partials_bytes(partials: Sequence[dict[str, Any]]) -> bytes:
    """Returns the canonical bytes of a list of partial decryptions (what a holder's signature covers)."""
    return canonical_json(list(partials))


def decide_request(
    session: Session,
    *,
    request_id: int,
    holder_id: int,
    decision: str,
    partials: object,
    reason: str,
    signature_b64: str,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Records key-holder `holder_id`'s signed approval (with one partial decryption per envelope in
    scope, each verified) or rejection, logs it, reveals when the quorum is met, and commits.

    Raises NotFoundError; InvalidStateError (not co-signed yet, expired, closed); PermissionDeniedError
    (no share of the key); ConflictError (this holder already decided); ValidationError (malformed input,
    a bad signature, or a partial decryption whose proof fails: the message names the holder).
    """
    row = _get(session, request_id, lock=True)
    _expire_if_due(session, row, log=log, now=now)
    if row.status in ("draft", "submitted"):
        raise InvalidStateError("this request is not co-signed yet; key-holders cannot decide on it")
    if row.status != "cosigned":
        raise InvalidStateError(f"this request is {row.status}; no more decisions are accepted")
    if decision not in ("approve", "reject"):
        raise ValidationError("decision must be approve or reject")
    index = _holder_index(session, row, holder_id)
    holder = session.get(KeyHolder, holder_id)
    assert holder is not None  # noqa: S101 - authenticated holder
    assert holder.signing_key is not None  # noqa: S101
    if session.scalars(
        select(DisclosureDecision).where(
            DisclosureDecision.request_id == row.id, DisclosureDecision.holder_id == holder_id
        )
    ).first():
        raise ConflictError(f"key-holder {holder.name} already decided on this request")
    key = escrow_key(session, row.key_id)
    stored_partials: str | None = None
    if decision == "approve":
        scope = _scope(session, row)
        if not isinstance(partials, list) or len(partials) != len(scope):
            raise ValidationError(f"send one partial decryption for each of the {len(scope)} envelopes")
        try:
            detail = partials_bytes(partials)
        except CryptoError as e:
            raise ValidationError(f"malformed partial decryptions from key-holder {holder.name}") from e
        for item, entry in zip(scope, partials, strict=True):
            envelope = _envelope(item)
            try:
                partial = PartialDecryption.from_dict(entry)
            except (CryptoError, TypeError, AttributeError) as e:
                raise ValidationError(f"malformed partial decryption from key-holder {holder.name}") from e
            if partial.holder != index:
                raise ValidationError(f"key-holder {holder.name} sent a partial for another share index")
            try:
                verify_partial(key, envelope, row.digest, partial)
            except InvalidProofError as e:
                raise ValidationError(
                    f"the partial decryption of key-holder {holder.name} (index {index}) does not verify "
                    f"for envelope {item.position + 1} of this request; it was refused"
                ) from e
        stored_partials = detail.decode()
    else:
        reason = _text(reason, "reason", MAX_LEGAL_BASIS)
        detail = reason.encode()
    try:
        verify_decision(holder.signing_key, row.digest, decision, detail, _signature(signature_b64))
    except (DisclosureSignatureError, CryptoError) as e:
        raise ValidationError(f"the decision is not signed by key-holder {holder.name}") from e
    session.add(
        DisclosureDecision(
            request_id=row.id,
            holder_id=holder_id,
            holder_index=index,
            decision=decision,
            partials=stored_partials,
            reason=None if decision == "approve" else reason,
            signature=_signature(signature_b64),
            created_at=now,
        )
    )
    session.flush()
    if decision == "approve":
        append_event(
            session,
            log,
            kind="disclosure.approved",
            data={
                "request": row.id,
                "holder": holder.id,
                "name": holder.name,
                "organisation": holder.organisation,
            },
            now=now,
        )
        _reveal_if_quorum(session, row, key_threshold=key.threshold, policy=policy, log=log, now=now)
    else:
        rejections = _count(session, row, "reject")
        is_final = rejections >= len(key.verification_keys) - key.threshold + 1
        if is_final:
            row.status = "rejected"
            row.closed_at = now
            _delete_partials(session, row, now)
        append_event(
            session,
            log,
            kind="disclosure.rejected",
            data={"request": row.id, "holder": holder.id, "name": holder.name, "is_final": is_final},
            sensitive={"reason": reason},
            now=now,
        )
    session.commit()
    _log.info("disclosure.%s request_id=%d holder_id=%d", decision, row.id, holder_id)
    return _view(session, row)


def _count(session: Session, row: DisclosureRequest, decision: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(DisclosureDecision)
            .where(DisclosureDecision.request_id == row.id, DisclosureDecision.decision == decision)
        )
        or 0
    )


def _approvals(session: Session, row: DisclosureRequest) -> list[tuple[DisclosureDecision, KeyHolder]]:
    return [
        (d, h)
        for d, h in session.execute(
            select(DisclosureDecision, KeyHolder)
            .join(KeyHolder, KeyHolder.id == DisclosureDecision.holder_id)
            .where(DisclosureDecision.request_id == row.id, DisclosureDecision.decision == "approve")
            .order_by(DisclosureDecision.id)
        ).all()
    ]


def _open_all(session: Session, row: DisclosureRequest) -> list[RevealedIdentity]:
    """Re-opens every envelope in scope from the stored partials (memory only)."""
    key = escrow_key(session, row.key_id)
    approvals = [d for d, _ in _approvals(session, row) if d.partials is not None]
    per_holder = [json.loads(d.partials) for d in approvals if d.partials is not None]
    result = []
    for position, item in enumerate(_scope(session, row)):
        partials = [PartialDecryption.from_dict(p[position]) for p in per_holder]
        try:
            opened = combine_and_open(key, _envelope(item), row.digest, partials)
        except CryptoError as e:
            raise InvalidStateError(f"envelope {position + 1} did not open") from e
        result.append(RevealedIdentity(item.platform_id, item.pseudonym, json.loads(opened.identity)))
    return result


def _reveal_if_quorum(
    session: Session,
    row: DisclosureRequest,
    *,
    key_threshold: int,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> None:
    approvals = _approvals(session, row)
    organisations = {h.organisation for _, h in approvals}
    if len(approvals) < key_threshold or len(organisations) < policy.min_organisations:
        return
    _open_all(session, row)  # proves the envelopes open; the identities are dropped at once
    row.status = "disclosed"
    row.disclosed_at = now
    row.view_until = now + policy.view_window
    append_event(
        session,
        log,
        kind="disclosure.disclosed",
        data={"request": row.id, "approvals": len(approvals), "organisations": len(organisations)},
        now=now,
    )


# --- reveal, views, notifications --------------------------------------------------------------


def view_identities(
    session: Session, *, request_id: int, officer: StaffView, log: LogSigner, now: datetime
) -> list[RevealedIdentity]:
    """Returns the identities in a disclosed request to its submitter or a co-signer, within the viewing
    window; logs the viewing and commits. Nothing revealed is stored.

    Raises NotFoundError, PermissionDeniedError (any other officer), InvalidStateError (not disclosed,
    or the window is over: the partials are then deleted).
    """
    row = _get(session, request_id)
    granted = {row.submitter_id} | {s.id for s, _ in _cosigners(session, row)}
    if officer.id not in granted:
        raise PermissionDeniedError("only the submitting and co-signing officers may view this disclosure")
    _close_window_if_over(session, row, log=log, now=now)
    if row.status != "disclosed":
        raise InvalidStateError(f"this request is {row.status}; there is nothing to view")
    if row.view_until is None or now >= row.view_until or row.partials_deleted_at is not None:
        raise InvalidStateError("the viewing window is over; a new request is needed")
    identities = _open_all(session, row)
    append_event(
        session,
        log,
        kind="disclosure.viewed",
        data={"request": row.id, "officer": officer.username},
        now=now,
    )
    session.commit()
    return identities


def _view(session: Session, row: DisclosureRequest) -> DisclosureView:
    submitter = session.get(StaffAccount, row.submitter_id)
    withdrawal = session.get(DisclosureWithdrawal, row.id) if row.status == "withdrawn" else None
    withdrawn_by = session.get(StaffAccount, withdrawal.officer_id) if withdrawal else None
    key = escrow_key(session, row.key_id)
    return DisclosureView(
        id=row.id,
        status=row.status,
        body=DisclosureBody.from_json(row.body).to_dict(),
        digest_b64=b64u_encode(row.digest),
        submitter=submitter.username if submitter else "",
        cosigners=tuple(s.username for s, _ in _cosigners(session, row)),
        approvals=_count(session, row, "approve"),
        rejections=_count(session, row, "reject"),
        threshold=key.threshold,
        log_index=row.log_index,
        disclosed_at=row.disclosed_at,
        view_until=row.view_until,
        notify_delay_days=row.notify_delay_s // DAY_S,
        notify_at=_notify_at(row),
        extensions=tuple(_extension_view(session, e) for e in _extensions(session, row)),
        withdrawn_by=withdrawn_by.username if withdrawn_by else None,
    )


def get_request(session: Session, *, request_id: int, log: LogSigner, now: datetime) -> DisclosureView:
    """Returns one request (closing it first if it expired). Raises NotFoundError."""
    row = _get(session, request_id)
    _expire_if_due(session, row, log=log, now=now)
    _close_window_if_over(session, row, log=log, now=now)
    return _view(session, row)


def list_requests(session: Session, *, log: LogSigner, now: datetime) -> list[DisclosureView]:
    """Returns every request, newest first (after closing expired ones)."""
    sweep_disclosures(session, log=log, now=now)
    rows = session.scalars(select(DisclosureRequest).order_by(DisclosureRequest.id.desc())).all()
    return [_view(session, r) for r in rows]


def page_requests(session: Session, *, log: LogSigner, now: datetime, page: int) -> Page[DisclosureView]:
    """Returns one page of the requests, newest first (after closing expired ones).

    Raises InvalidPageError, PageNotFoundError.
    """
    sweep_disclosures(session, log=log, now=now)
    statement = select(DisclosureRequest).order_by(DisclosureRequest.id.desc())
    return fetch_page(session, statement, number=page).map(lambda row: _view(session, row))


def person_notices(
    session: Session, *, person_id: int, deriver: PseudonymDeriver, log: LogSigner, now: datetime
) -> list[DisclosureNotice]:
    """Returns the disclosures of this person's identity whose notification delay is over; the first
    time each is shown it is logged (disclosure.user_notified) and committed.

    The person is found by re-deriving their pseudonyms (as for credentials), so no new link between a
    person and a request is stored.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise PermissionDeniedError("log in first")
    pairs = [
        and_(
            DisclosureScope.platform_id == p.id,
            DisclosureScope.pseudonym == deriver.pseudonym(person.person_key, p.id, slot=s),
        )
        for p in session.scalars(select(Platform))
        for s in range(p.pseudonyms_per_person)
    ]
    rows = session.execute(
        select(DisclosureScope, DisclosureRequest, Court)
        .join(DisclosureRequest, DisclosureRequest.id == DisclosureScope.request_id)
        .join(Court, Court.id == DisclosureRequest.court_id)
        .where(or_(*pairs) if pairs else false(), DisclosureRequest.status == "disclosed")
        .order_by(DisclosureRequest.id)
    ).all()
    notices: dict[int, DisclosureNotice] = {}
    for scope, request, court in rows:
        assert request.disclosed_at is not None  # noqa: S101 - status disclosed
        if now < request.disclosed_at + timedelta(seconds=request.notify_delay_s):
            continue
        if scope.notified_at is None:
            scope.notified_at = now
            append_event(session, log, kind="disclosure.user_notified", data={"request": request.id}, now=now)
        notices[request.id] = DisclosureNotice(
            request.id, request.disclosed_at, court.name, request.case_number
        )
    session.commit()
    return list(notices.values())


def order_document(session: Session, *, request_id: int) -> bytes:
    """Returns a request's order document. Raises NotFoundError."""
    row = _get(session, request_id)
    document = session.get(OrderDocument, row.order_sha256)
    if document is None:  # pragma: no cover - foreign key
        raise NotFoundError("no order document")
    return document.content


# --- notification-delay extensions and withdrawal ----------------------------------------------


def _notify_at(row: DisclosureRequest) -> datetime | None:
    """When the person is told: the reveal plus the (possibly extended) delay; None before a reveal."""
    if row.disclosed_at is None:
        return None
    return row.disclosed_at + timedelta(seconds=row.notify_delay_s)


def _extensions(session: Session, row: DisclosureRequest) -> list[DisclosureExtension]:
    return list(
        session.scalars(
            select(DisclosureExtension)
            .where(DisclosureExtension.request_id == row.id)
            .order_by(DisclosureExtension.sequence)
        )
    )


def _extension_cosigners(session: Session, extension: DisclosureExtension) -> list[StaffAccount]:
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


def _extension_view(session: Session, extension: DisclosureExtension) -> ExtensionView:
    proposer = session.get(StaffAccount, extension.proposer_id)
    return ExtensionView(
        sequence=extension.sequence,
        status=extension.status,
        body=json.loads(extension.body),
        digest_b64=b64u_encode(extension.digest),
        proposer=proposer.username if proposer else "",
        cosigners=tuple(s.username for s in _extension_cosigners(session, extension)),
        created_at=extension.created_at,
        effective_at=extension.effective_at,
    )


def _request_officer(session: Session, row: DisclosureRequest, username: object, action: str) -> StaffAccount:
    """Returns the active legal officer `username` if they submitted or co-signed `row`.

    Raises ValidationError (no username), PermissionDeniedError (anyone else).
    """
    staff = _staff(session, _text(username, "username", 64))
    officers = {row.submitter_id} | {s.id for s, _ in _cosigners(session, row)}
    if LEGAL_OFFICER not in staff.role_set or staff.id not in officers:
        raise PermissionDeniedError(
            f"only an officer of this request (its submitter or a co-signer) may {action}"
        )
    return staff


def _check_extendable(session: Session, row: DisclosureRequest, now: datetime) -> None:
    if row.status not in EXTENDABLE_STATUSES:
        raise InvalidStateError(f"this request is {row.status}; its notification delay cannot be extended")
    notify_at = _notify_at(row)
    is_told = session.scalars(
        select(DisclosureScope.id).where(
            DisclosureScope.request_id == row.id, DisclosureScope.notified_at.is_not(None)
        )
    ).first()
    if (notify_at is not None and now >= notify_at) or is_told is not None:
        # Once the person may have seen the notice it cannot be taken back (docs/disclosure.md).
        raise InvalidStateError(
            "the notification date of this request has passed; the person may already have been told, "
            "and that cannot be undone"
        )


def _order_document(session: Session, order: bytes | None, now: datetime) -> str | None:
    if not order:
        return None
    if len(order) > MAX_EXTENSION_ORDER_BYTES:
        raise ValidationError(
            f"the order document is larger than {MAX_EXTENSION_ORDER_BYTES // (1024 * 1024)} MiB"
        )
    if not order.startswith(PDF_MAGIC):
        raise ValidationError("the order document must be a PDF")
    order_sha = sha256(order).hex()
    if session.get(OrderDocument, order_sha) is None:
        session.add(OrderDocument(sha256=order_sha, content=order, uploaded_at=now))
    return order_sha


def _days(value: object, field: str) -> int:
    if type(value) is not int:
        raise ValidationError(f"{field} must be a whole number of days")
    return value


def propose_extension(
    session: Session,
    *,
    request_id: int,
    username: str,
    sequence: object,
    old_delay_days: object,
    new_delay_days: object,
    reason: str,
    order_reference: str,
    order: bytes | None,
    signature_b64: str,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Records an officer's signed proposal to extend the notification delay, logs it and commits.

    The proposer is the request's submitter or a co-signer; the signature (role `extend`) is over the
    extension digest, which binds the request id and digest, `sequence` (the next number), the current
    and the new delay, the reason, the order reference and the optional order's SHA-256. It changes
    nothing until co-signed (cosign_extension).

    Raises NotFoundError; InvalidStateError (not submitted/co-signed/disclosed, or the notification
    date has passed); PermissionDeniedError (not an officer of the request, or a bad signature);
    ValidationError (malformed fields, a new delay not longer than the current one or above the
    maximum); ConflictError (sequence or old delay no longer current: the document is stale).
    """
    row = _get(session, request_id, lock=True)
    _expire_if_due(session, row, log=log, now=now)
    _check_extendable(session, row, now)
    staff = _request_officer(session, row, username, "propose an extension")
    new_days = _days(new_delay_days, "new_delay_days")
    current_days = row.notify_delay_s // DAY_S
    if not current_days < new_days <= MAX_NOTIFY_DELAY_DAYS:
        raise ValidationError(
            f"the new notification delay must be longer than the current {current_days} day(s) and at "
            f"most {MAX_NOTIFY_DELAY_DAYS} days"
        )
    next_sequence = len(_extensions(session, row)) + 1
    if (
        _days(sequence, "sequence") != next_sequence
        or _days(old_delay_days, "old_delay_days") != current_days
    ):
        raise ConflictError(
            f"the request changed since your document (next extension {next_sequence}, current delay "
            f"{current_days} day(s)); download it again and sign anew"
        )
    body = extension_body(
        request_id=row.id,
        request_digest=row.digest,
        sequence=next_sequence,
        old_delay_days=current_days,
        new_delay_days=new_days,
        reason=_text(reason, "reason", MAX_LEGAL_BASIS),
        order_reference=_text(order_reference, "order_reference"),
        order_sha256=_order_document(session, order, now),
        proposer=staff.username,
    )
    digest = extension_digest(body)
    try:
        verify_officer(_officer_key(session, staff), ROLE_EXTEND, digest, _signature(signature_b64))
    except (DisclosureSignatureError, CryptoError) as e:
        raise PermissionDeniedError("the signature is not this officer's over this extension digest") from e
    session.add(
        DisclosureExtension(
            request_id=row.id,
            sequence=next_sequence,
            status="proposed",
            body=canonical_json(body).decode(),
            digest=digest,
            old_delay_s=row.notify_delay_s,
            new_delay_s=new_days * DAY_S,
            order_sha256=body["order_sha256"],
            proposer_id=staff.id,
            proposer_signature=_signature(signature_b64),
            created_at=now,
        )
    )
    session.flush()
    append_event(
        session,
        log,
        kind="disclosure.extension_proposed",
        data={
            "request": row.id,
            "sequence": next_sequence,
            "extension_digest": b64u_encode(digest),
            "old_delay_days": current_days,
            "new_delay_days": new_days,
            "order_reference": body["order_reference"],
            "organisation": staff.organisation,
        },
        sensitive={"reason": body["reason"], **({"order_sha256": body["order_sha256"]} if order else {})},
        now=now,
    )
    session.commit()
    _log.info("disclosure.extension_proposed request_id=%d sequence=%d", row.id, next_sequence)
    return _view(session, row)


def cosign_extension(
    session: Session,
    *,
    request_id: int,
    sequence: int,
    username: str,
    signature_b64: str,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Adds a co-signature (role `extend-cosign`) over an extension digest, logs it and commits; with
    `policy.cosigners` of them the new delay takes effect (disclosure.notification_extended) and every
    other pending extension of the request is superseded.

    The rules are those of request co-signing: a legal officer, never the proposer, by default from
    another organisation than the proposer. Raises NotFoundError (request or extension); InvalidStateError
    (the request or extension no longer accepts it, the notification date has passed);
    PermissionDeniedError (rules above, bad signature); ConflictError (already co-signed by this officer).
    """
    row = _get(session, request_id, lock=True)
    _expire_if_due(session, row, log=log, now=now)
    extension = session.scalars(
        select(DisclosureExtension).where(
            DisclosureExtension.request_id == row.id, DisclosureExtension.sequence == sequence
        )
    ).first()
    if extension is None:
        raise NotFoundError("no such extension of this request")
    _check_extendable(session, row, now)
    if extension.status != "proposed" or extension.old_delay_s != row.notify_delay_s:
        raise InvalidStateError(f"extension {sequence} is {extension.status}; it takes no more co-signatures")
    staff = _staff(session, _text(username, "username", 64))
    if LEGAL_OFFICER not in staff.role_set:
        raise PermissionDeniedError("only legal officers co-sign extensions")
    if staff.id == extension.proposer_id:
        raise PermissionDeniedError("the proposer cannot co-sign their own extension")
    proposer = session.get(StaffAccount, extension.proposer_id)
    assert proposer is not None  # noqa: S101 - foreign key
    if policy.cosigner_other_org and staff.organisation == proposer.organisation:
        raise PermissionDeniedError("a co-signer must belong to another organisation than the proposer")
    try:
        verify_officer(
            _officer_key(session, staff), ROLE_EXTEND_COSIGN, extension.digest, _signature(signature_b64)
        )
    except (DisclosureSignatureError, CryptoError) as e:
        raise PermissionDeniedError("the signature is not this officer's over this extension digest") from e
    if staff.id in {s.id for s in _extension_cosigners(session, extension)}:
        raise ConflictError("this officer already co-signed this extension")
    session.add(
        DisclosureExtensionCosignature(
            extension_id=extension.id,
            officer_id=staff.id,
            signature=_signature(signature_b64),
            created_at=now,
        )
    )
    session.flush()
    count = len(_extension_cosigners(session, extension))
    append_event(
        session,
        log,
        kind="disclosure.extension_cosigned",
        data={
            "request": row.id,
            "sequence": sequence,
            "organisation": staff.organisation,
            "cosignatures": count,
        },
        now=now,
    )
    if count >= policy.cosigners:
        extension.status, extension.effective_at = "effective", now
        row.notify_delay_s = extension.new_delay_s
        for other in _extensions(session, row):
            if other.status == "proposed":
                other.status = "superseded"
        notify_at = _notify_at(row)
        append_event(
            session,
            log,
            kind="disclosure.notification_extended",
            data={
                "request": row.id,
                "sequence": sequence,
                "notify_delay_days": row.notify_delay_s // DAY_S,
                "notify_at": _iso(notify_at) if notify_at else None,
            },
            now=now,
        )
    session.commit()
    _log.info("disclosure.extension_cosigned request_id=%d sequence=%d", row.id, sequence)
    return _view(session, row)


def withdraw_request(
    session: Session,
    *,
    request_id: int,
    username: str,
    reason: str,
    signature_b64: str,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Withdraws a request that is not yet disclosed or closed, on the signature (role `withdraw`) of
    one of its officers (the submitter or a co-signer) over the withdrawal digest; deletes any stored
    partial decryptions, logs disclosure.withdrawn and commits. Nothing is accepted on it afterwards.

    One officer suffices: withdrawing only ever reduces what is disclosed (docs/disclosure.md).
    Raises NotFoundError; InvalidStateError (disclosed, rejected, expired or already withdrawn);
    PermissionDeniedError (not an officer of the request, bad signature); ValidationError (no reason).
    """
    row = _get(session, request_id, lock=True)
    _expire_if_due(session, row, log=log, now=now)
    if row.status not in WITHDRAWABLE_STATUSES:
        raise InvalidStateError(
            f"this request is {row.status}; only a request not yet disclosed or closed can be withdrawn"
        )
    staff = _request_officer(session, row, username, "withdraw it")
    body = withdrawal_body(
        request_id=row.id,
        request_digest=row.digest,
        officer=staff.username,
        reason=_text(reason, "reason", MAX_LEGAL_BASIS),
    )
    try:
        verify_officer(
            _officer_key(session, staff), ROLE_WITHDRAW, withdrawal_digest(body), _signature(signature_b64)
        )
    except (DisclosureSignatureError, CryptoError) as e:
        raise PermissionDeniedError("the signature is not this officer's over this withdrawal") from e
    was = row.status
    row.status = "withdrawn"
    row.closed_at = now
    session.add(
        DisclosureWithdrawal(
            request_id=row.id,
            officer_id=staff.id,
            reason=body["reason"],
            signature=_signature(signature_b64),
            created_at=now,
        )
    )
    _delete_partials(session, row, now)
    append_event(
        session,
        log,
        kind="disclosure.withdrawn",
        data={
            "request": row.id,
            "was": was,
            "by": "submitter" if staff.id == row.submitter_id else "co-signer",
            "organisation": staff.organisation,
        },
        sensitive={"reason": body["reason"]},
        now=now,
    )
    session.commit()
    _log.info("disclosure.withdrawn request_id=%d", row.id)
    return _view(session, row)
