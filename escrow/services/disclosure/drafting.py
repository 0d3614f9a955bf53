"""Drafting a disclosure request: the order document, the envelopes in scope, the canonical body and its
digest, fixed once and signed by every later step (docs/disclosure.md)."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import VERDICT_UNSIGNED, VERDICT_VERIFIED, court_verdict
from escrow.crypto.transcript import b64u_encode, sha256
from escrow.errors import NotFoundError, PermissionDeniedError, ValidationError
from escrow.models import Court, Credential, DisclosureRequest, DisclosureScope
from escrow.protocol.disclosure import CourtReference, DisclosureBody, Submitter
from escrow.protocol.scope import PseudonymScope
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.policy import LEGAL_OFFICER
from escrow.services.disclosure.states import RequestState
from escrow.services.disclosure.views import DisclosureView, request_view
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.roster import check_listed_court, check_may_submit
from escrow.services.staff import StaffView

MAX_ORDER_BYTES: Final = 4 * 1024 * 1024  # court orders are a few pages; bounded so uploads stay cheap
MAX_SCOPE: Final = 50

_log = logging.getLogger(__name__)


def _scope_items(session: Session, scope: Sequence[object]) -> list[tuple[str, str, str, bytes]]:
    if not isinstance(scope, list | tuple) or not 1 <= len(scope) <= MAX_SCOPE:
        raise ValidationError(f"the scope must list 1 to {MAX_SCOPE} pseudonyms")
    items = []
    for entry in scope:
        if not isinstance(entry, dict):
            raise ValidationError("each scope entry names platform, pseudonym and envelope_digest")
        platform = shared.text(entry.get("platform"), "platform", 64)
        pseudonym = shared.text(entry.get("pseudonym"), "pseudonym", 64)
        digest = shared.text(entry.get("envelope_digest"), "envelope_digest", 64)
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


def check_court_signed(court: Court, verdict: str) -> None:
    """Refuses an order of a court that signs its orders (it registered a key) without a valid
    signature by it (issue 16 item 4). Raises ValidationError naming the court."""
    if court.public_key is not None and verdict != VERDICT_VERIFIED:
        detail = "no signature" if verdict == VERDICT_UNSIGNED else "a signature that does not verify"
        raise ValidationError(
            f"{court.name} ({court.jurisdiction}) signs its orders: this order has {detail} by the "
            "court's key; attach the court's detached signature (escrow court sign)"
        )


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
    InvalidStateError (no active escrow key). A court that signs its orders needs a valid signature
    (check_court_signed: ValidationError naming the court).
    """
    if LEGAL_OFFICER not in officer.roles:
        raise PermissionDeniedError("only legal officers submit disclosure requests")
    if not order:
        raise ValidationError("a disclosure request needs the court order document (PDF)")
    order_sha = shared.check_order(order, max_bytes=MAX_ORDER_BYTES)
    court = session.get(Court, court_id) if isinstance(court_id, int) else None
    if court is None:
        raise NotFoundError("no such court")
    signature = shared.key_bytes(court_signature_b64, "court_signature", 64) if court_signature_b64 else None
    verdict = court_verdict(court.public_key, order, signature)
    check_court_signed(court, verdict)
    # With a roster in force, only what the key-holders accepted (their tools refuse anything else).
    check_listed_court(session, court.name, court.jurisdiction, court.public_key)
    check_may_submit(session, officer.organisation)
    if expires_at.tzinfo is None or expires_at <= now:
        raise ValidationError("the expiry must be in the future")
    if type(notify_delay_days) is not int or not 0 <= notify_delay_days <= shared.MAX_NOTIFY_DELAY_DAYS:
        raise ValidationError(f"the notification delay is 0 to {shared.MAX_NOTIFY_DELAY_DAYS} days")
    items = _scope_items(session, scope)
    key = active_escrow_key(session)
    shared.save_order(session, order, order_sha, now=now)
    staff = shared.staff_account(session, officer.username)
    body = DisclosureBody(
        nonce=secrets.token_hex(16),
        court=CourtReference(id=court.id, name=court.name, jurisdiction=court.jurisdiction),
        case_number=shared.text(case_number, "case_number"),
        order_sha256=order_sha,
        court_verdict=verdict,
        legal_basis=shared.text(legal_basis, "legal_basis", shared.MAX_LEGAL_BASIS),
        is_emergency=bool(is_emergency),
        scope=tuple(PseudonymScope(p, s, d) for p, s, d, _ in items),
        expires_at=expires_at,
        notify_delay_days=notify_delay_days,
        key_id=key.key_id,
        submitter=Submitter(username=staff.username, organisation=staff.organisation),
    )
    row = DisclosureRequest(
        status=RequestState.DRAFT,
        court_id=court.id,
        case_number=body.case_number,
        order_sha256=order_sha,
        court_signature=signature,
        court_verdict=body.court_verdict,
        legal_basis=body.legal_basis,
        is_emergency=body.is_emergency,
        key_id=key.key_id,
        expires_at=expires_at,
        notify_delay_s=notify_delay_days * shared.DAY_S,
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
    return request_view(session, row)
