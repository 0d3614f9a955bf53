"""Signing a drafted request: the submitter's signature submits it (under the monthly cap), other legal
officers' co-signatures make it ready for the key-holders. Who may sign is decided in policy.py."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import ROLE_COSIGN, ROLE_SUBMIT
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.errors import InvalidStateError, ValidationError
from escrow.models import Court, DisclosureCosignature, DisclosureRequest, LogState
from escrow.protocol.disclosure import DisclosureBody, parse_blinding
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.drafting import check_court_signed
from escrow.services.disclosure.expiry import expire_if_due
from escrow.services.disclosure.policy import (
    DisclosurePolicy,
    check_cosignable,
    check_not_cosigned,
    check_request_cosigner,
    is_cosigned,
    submit_signer,
)
from escrow.services.disclosure.states import RequestState
from escrow.services.disclosure.views import DisclosureView, PolicyStatus, request_view
from escrow.services.keyholders import claim_row
from escrow.services.roster import roster_policy
from escrow.services.transparency import LogSigner, append_event

_log = logging.getLogger(__name__)


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


def submit_request(
    session: Session,
    *,
    request_id: int,
    signature_b64: str,
    blinding: object,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Submits a draft with the submitter's blinding points (one per scope item, issue 14) and their
    signature over the digest of the body with those points in; logs it and commits.

    Raises NotFoundError, ValidationError (malformed or missing blinding points), InvalidStateError (not
    a draft, or the monthly cap is reached: that refusal is itself logged publicly),
    PermissionDeniedError (the signature is not the submitter's registered key over the blinded body).
    """
    row = shared.load_request(session, request_id, lock=True)
    staff = shared.staff_by_id(session, row.submitter_id)
    signer = submit_signer(row.status, submitter=shared.as_officer(staff))
    draft = DisclosureBody.from_json(row.body)
    body = draft.with_blinding(parse_blinding(blinding))  # ProtocolError is a ValidationError
    if not body.is_blinded:
        raise ValidationError(
            f"a submission carries {len(body.scope)} blinding point(s), one per pseudonym in scope "
            "(escrow officer submit and the browser key add them)"
        )
    signed = shared.verify_officer_signature(
        session,
        shared.staff_by_id(session, signer.id),
        ROLE_SUBMIT,
        body.digest(),
        signature_b64,
        refusal="the signature is not the submitter's over this request digest (with its blinding points)",
    )
    row.body, row.digest = body.canonical_bytes().decode(), body.digest()
    if policy.monthly_cap is not None:
        # Submissions queue on the log head's row lock, so two at once cannot both pass the cap.
        claim_row(session, update(LogState).where(LogState.id == 1).values(size=LogState.size))
    status = policy_status(session, policy, now=now)
    if status.is_blocked:
        append_event(
            session,
            log,
            kind="disclosure.blocked",
            data={
                "reason": "monthly-cap",
                "month": shared.iso(_month_start(now))[:7],
                "cap": status.monthly_cap,
            },
            now=now,
        )
        session.commit()
        raise InvalidStateError(
            f"the monthly cap of {status.monthly_cap} disclosure requests is reached; this is published"
        )
    court = session.get(Court, row.court_id)
    assert court is not None  # noqa: S101 - foreign key
    # A draft made before the court registered its key is refused too (issue 16 item 4).
    check_court_signed(court, row.court_verdict)
    row.status = RequestState.SUBMITTED
    row.submit_signature = signed
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
            # The signed delay (issue 14): with the reveal's time, anyone computes the notice date.
            "notify_delay_days": body.notify_delay_days,
        },
        sensitive={
            "scope": canonical_json(body.scope_list()).decode(),
            "order_sha256": row.order_sha256,
        },
        now=now,
    )
    session.commit()
    _log.info("disclosure.submitted request_id=%d", row.id)
    return request_view(session, row)


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
    row = shared.load_request(session, request_id, lock=True)
    expire_if_due(session, row, log=log, now=now)
    check_cosignable(row.status)
    staff = shared.staff_account(session, username)
    officer = shared.as_officer(staff)
    submitter = shared.as_officer(shared.staff_by_id(session, row.submitter_id))
    check_request_cosigner(roster_policy(session, policy), officer=officer, submitter=submitter)
    signed = shared.verify_officer_signature(
        session,
        staff,
        ROLE_COSIGN,
        row.digest,
        signature_b64,
        refusal="the signature is not this officer's over this request digest",
    )
    check_not_cosigned(officer, {s.id for s, _ in shared.cosigners(session, row)}, what="request")
    session.add(
        DisclosureCosignature(request_id=row.id, officer_id=staff.id, signature=signed, created_at=now)
    )
    session.flush()
    count = len(shared.cosigners(session, row))
    if is_cosigned(policy, count):
        row.status = RequestState.COSIGNED
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
    return request_view(session, row)
