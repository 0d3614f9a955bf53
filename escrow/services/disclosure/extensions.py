"""Extending a request's notification delay: an officer of the request proposes (signed, role `extend`),
co-signers (role `extend-cosign`) make it take effect, while the person has not been told yet."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import ROLE_EXTEND, ROLE_EXTEND_COSIGN, extension_body, extension_digest
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from escrow.models import (
    DisclosureExtension,
    DisclosureExtensionCosignature,
    DisclosureRequest,
    DisclosureScope,
    StaffAccount,
)
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import expire_if_due
from escrow.services.disclosure.notices import signed_delay_days, signed_notice
from escrow.services.disclosure.policy import (
    DisclosurePolicy,
    PendingExtension,
    check_extension_cosignable,
    check_extension_cosigner,
    check_not_cosigned,
    check_request_officer,
    is_cosigned,
    is_extendable,
)
from escrow.services.disclosure.states import EXTENDABLE_STATES, ExtensionState
from escrow.services.disclosure.views import DisclosureView, request_view
from escrow.services.roster import roster_policy
from escrow.services.transparency import LogSigner, append_event

# An extension's optional order travels base64url inside JSON; 3 MiB stays under MAX_CONTENT_LENGTH.
MAX_EXTENSION_ORDER_BYTES: Final = 3 * 1024 * 1024

_log = logging.getLogger(__name__)


def request_officer(session: Session, row: DisclosureRequest, username: object, action: str) -> StaffAccount:
    """Returns the active legal officer `username` if they submitted or co-signed `row`.

    Raises ValidationError (no username), NotFoundError, PermissionDeniedError (anyone else).
    """
    staff = shared.staff_account(session, shared.text(username, "username", 64))
    check_request_officer(
        shared.as_officer(staff), officer_ids=shared.officer_ids(session, row), action=action
    )
    return staff


def is_told(session: Session, row: DisclosureRequest) -> bool:
    """Whether the person behind any pseudonym in scope has seen the notice."""
    return (
        session.scalars(
            select(DisclosureScope.id).where(
                DisclosureScope.request_id == row.id, DisclosureScope.notified_at.is_not(None)
            )
        ).first()
        is not None
    )


def pending_extension(
    session: Session, row: DisclosureRequest, extension: DisclosureExtension
) -> PendingExtension:
    """The extension as the policy sees it."""
    return PendingExtension(
        sequence=extension.sequence,
        status=ExtensionState(extension.status),
        proposer=shared.as_officer(shared.staff_by_id(session, extension.proposer_id)),
        cosigner_ids=frozenset(s.id for s in shared.extension_cosigners(session, extension)),
        is_current=extension.old_delay_s == signed_delay_days(session, row) * shared.DAY_S,
    )


def _check_extendable(session: Session, row: DisclosureRequest, now: datetime) -> None:
    if row.status not in EXTENDABLE_STATES:
        raise InvalidStateError(f"this request is {row.status}; its notification delay cannot be extended")
    notice = signed_notice(session, row)  # the signed date, never the stored column (issue 14)
    notify_at = None if notice is None else notice.notice_at
    if not is_extendable(row.status, notify_at=notify_at, now=now, is_told=is_told(session, row)):
        # Once the person may have seen the notice it cannot be taken back (docs/disclosure.md).
        raise InvalidStateError(
            "the notification date of this request has passed; the person may already have been told, "
            "and that cannot be undone"
        )


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
    row = shared.load_request(session, request_id, lock=True)
    expire_if_due(session, row, log=log, now=now)
    _check_extendable(session, row, now)
    staff = request_officer(session, row, username, "propose an extension")
    new_days = _days(new_delay_days, "new_delay_days")
    current_days = signed_delay_days(session, row)  # what was signed, not the stored column (issue 14)
    if not current_days < new_days <= shared.MAX_NOTIFY_DELAY_DAYS:
        raise ValidationError(
            f"the new notification delay must be longer than the current {current_days} day(s) and at "
            f"most {shared.MAX_NOTIFY_DELAY_DAYS} days"
        )
    next_sequence = len(shared.extensions_of(session, row)) + 1
    if (
        _days(sequence, "sequence") != next_sequence
        or _days(old_delay_days, "old_delay_days") != current_days
    ):
        raise ConflictError(
            f"the request changed since your document (next extension {next_sequence}, current delay "
            f"{current_days} day(s)); download it again and sign anew"
        )
    reason = shared.text(reason, "reason", shared.MAX_LEGAL_BASIS)
    order_reference = shared.text(order_reference, "order_reference")
    order_sha = None
    if order:
        order_sha = shared.check_order(order, max_bytes=MAX_EXTENSION_ORDER_BYTES)
        shared.save_order(session, order, order_sha, now=now)
    body = extension_body(
        request_id=row.id,
        request_digest=row.digest,
        sequence=next_sequence,
        old_delay_days=current_days,
        new_delay_days=new_days,
        reason=reason,
        order_reference=order_reference,
        order_sha256=order_sha,
        proposer=staff.username,
    )
    digest = extension_digest(body)
    signed = shared.verify_officer_signature(
        session,
        staff,
        ROLE_EXTEND,
        digest,
        signature_b64,
        refusal="the signature is not this officer's over this extension digest",
    )
    session.add(
        DisclosureExtension(
            request_id=row.id,
            sequence=next_sequence,
            status=ExtensionState.PROPOSED,
            body=canonical_json(body).decode(),
            digest=digest,
            old_delay_s=current_days * shared.DAY_S,
            new_delay_s=new_days * shared.DAY_S,
            order_sha256=body["order_sha256"],
            proposer_id=staff.id,
            proposer_signature=signed,
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
    return request_view(session, row)


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
    row = shared.load_request(session, request_id, lock=True)
    expire_if_due(session, row, log=log, now=now)
    extension = session.scalars(
        select(DisclosureExtension).where(
            DisclosureExtension.request_id == row.id, DisclosureExtension.sequence == sequence
        )
    ).first()
    if extension is None:
        raise NotFoundError("no such extension of this request")
    _check_extendable(session, row, now)
    pending = pending_extension(session, row, extension)
    check_extension_cosignable(pending)
    staff = shared.staff_account(session, shared.text(username, "username", 64))
    officer = shared.as_officer(staff)
    check_extension_cosigner(roster_policy(session, policy), officer=officer, proposer=pending.proposer)
    signed = shared.verify_officer_signature(
        session,
        staff,
        ROLE_EXTEND_COSIGN,
        extension.digest,
        signature_b64,
        refusal="the signature is not this officer's over this extension digest",
    )
    check_not_cosigned(officer, pending.cosigner_ids, what="extension")
    session.add(
        DisclosureExtensionCosignature(
            extension_id=extension.id, officer_id=staff.id, signature=signed, created_at=now
        )
    )
    session.flush()
    count = len(shared.extension_cosigners(session, extension))
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
    if is_cosigned(policy, count):
        extension.status, extension.effective_at = ExtensionState.EFFECTIVE, now
        row.notify_delay_s = extension.new_delay_s
        for other in shared.extensions_of(session, row):
            if other.status == ExtensionState.PROPOSED:
                other.status = ExtensionState.SUPERSEDED
        notify_at = shared.notify_at(row)
        append_event(
            session,
            log,
            kind="disclosure.notification_extended",
            data={
                "request": row.id,
                "sequence": sequence,
                "notify_delay_days": row.notify_delay_s // shared.DAY_S,
                "notify_at": shared.iso(notify_at) if notify_at else None,
            },
            now=now,
        )
    session.commit()
    _log.info("disclosure.extension_cosigned request_id=%d sequence=%d", row.id, sequence)
    return request_view(session, row)
