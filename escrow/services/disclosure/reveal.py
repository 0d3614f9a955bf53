"""Revealing: a quorum of approvals discloses a request; within the viewing window the submitting
officer's tool fetches the blinded partials (logged) and opens the envelopes on the officer's machine,
then has the OPRF nodes evaluate the revealed identity keys (logged) to prove it is the person behind
each pseudonym (issue 14; escrow.client.disclosure.reveal). Telling the person is in notices.py.

The server never opens an envelope and cannot: the partials are of R + B, B = b*G with b known only to
the submitter's tool; they are deleted when the window ends, the request expires or is rejected.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import ROLE_OPRF_CHECK, ROLE_REVEAL, oprf_check_digest
from escrow.crypto.errors import CryptoError
from escrow.crypto.ristretto import Element
from escrow.crypto.seal import Envelope
from escrow.crypto.transcript import b64u_decode, b64u_encode, sha256
from escrow.errors import (
    InvalidStateError,
    NotFoundError,
    OprfUnavailableError,
    PermissionDeniedError,
    ValidationError,
)
from escrow.models import DisclosureRequest, DisclosureScope, LogEntry, StaffAccount
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import close_window_if_over
from escrow.services.disclosure.policy import DisclosurePolicy, is_quorum
from escrow.services.disclosure.states import RequestState
from escrow.services.disclosure.views import RevealPackage
from escrow.services.escrow_keys import escrow_key
from escrow.services.oprf import BlindEvaluator
from escrow.services.oprf_keys import active_oprf_key, record_evaluations
from escrow.services.transparency import LogSigner, append_event
from escrow.services.webhooks import EVENT_PSEUDONYM_DISCLOSED, enqueue_event


def stored_envelope(scope: DisclosureScope) -> Envelope:
    """Returns the envelope copied into the request's scope.

    Raises InvalidStateError if it no longer hashes to the digest the officers signed (a tampered row).
    """
    if not hmac.compare_digest(b64u_encode(sha256(scope.envelope)), scope.envelope_digest):
        raise InvalidStateError(f"the stored envelope {scope.position + 1} does not match its digest")
    try:
        return Envelope.from_bytes(scope.envelope)
    except CryptoError as e:
        raise InvalidStateError(f"the stored envelope {scope.position + 1} is malformed") from e


def reveal_if_quorum(
    session: Session,
    row: DisclosureRequest,
    *,
    key_threshold: int,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> None:
    """Discloses `row` (without committing) if its approvals make a quorum.

    Nothing is opened here: every stored partial was verified when its holder sent it, and they are
    partials of R + B, which only the submitting officer's tool can turn into an identity (issue 14).
    """
    approvals = shared.approvals(session, row)
    organisations = [h.organisation for _, h in approvals]
    if not is_quorum(policy, approving_organisations=organisations, threshold=key_threshold):
        return
    row.status = RequestState.DISCLOSED
    row.disclosed_at = now
    row.view_until = now + policy.view_window
    index = append_event(
        session,
        log,
        kind="disclosure.disclosed",
        data={"request": row.id, "approvals": len(approvals), "organisations": len(set(organisations))},
        now=now,
    )
    # Issue 19: each platform in scope hears that its own pseudonym was disclosed, with the request id
    # and the public log entry; nothing of the person or of other platforms (docs/platforms.md#webhooks).
    scoped = session.execute(
        select(DisclosureScope.platform_id, DisclosureScope.pseudonym)
        .where(DisclosureScope.request_id == row.id)
        .order_by(DisclosureScope.position)
    )
    for platform_id, pseudonym in dict.fromkeys(tuple(r) for r in scoped):
        enqueue_event(
            session,
            platform_id=platform_id,
            event_type=EVENT_PSEUDONYM_DISCLOSED,
            data={"sub": pseudonym, "request": row.id, "log_index": index},
            now=now,
        )


def _openable(session: Session, request_id: int, *, log: LogSigner, now: datetime) -> DisclosureRequest:
    """Returns a disclosed request whose viewing window is open. Raises NotFoundError, InvalidStateError."""
    row = shared.load_request(session, request_id)
    close_window_if_over(session, row, log=log, now=now)
    if row.status != RequestState.DISCLOSED:
        raise InvalidStateError(f"this request is {row.status}; there is nothing to reveal")
    if row.view_until is None or now >= row.view_until or row.partials_deleted_at is not None:
        raise InvalidStateError("the viewing window is over; a new request is needed")
    return row


def _submitter_signed(
    session: Session, row: DisclosureRequest, role: str, digest: bytes, signature_b64: str
) -> StaffAccount:
    """Checks that the request's submitter signed `digest` in `role`; returns them.

    Raises NotFoundError to anyone else (a co-signer included: the blinding is the submitter's, so only
    their tool can open; docs/disclosure.md#who-sees-the-identity), PermissionDeniedError for a bad
    signature.
    """
    submitter = shared.staff_by_id(session, row.submitter_id)
    try:
        shared.verify_officer_signature(
            session, submitter, role, digest, signature_b64, refusal="not the submitter's signature"
        )
    except (PermissionDeniedError, ValidationError) as e:
        raise NotFoundError("no such disclosure request") from e
    return submitter


def reveal_package(
    session: Session, *, request_id: int, signature_b64: str, log: LogSigner, now: datetime
) -> RevealPackage:
    """Returns what the submitting officer's tool opens the request's envelopes from: the request, the
    escrow key, the envelopes and every holder's verified partials of R + B. Logs the fetch
    (``disclosure.partials_fetched``) and commits before anything is sent.

    Authenticated by the submitter's signature over the request digest (role ``reveal``). Raises
    NotFoundError (no such request, or not the submitter), InvalidStateError (not disclosed, or the
    window is over).
    """
    row = _openable(session, request_id, log=log, now=now)
    submitter = _submitter_signed(session, row, ROLE_REVEAL, row.digest, signature_b64)
    key = escrow_key(session, row.key_id)
    approvals = [d for d, _ in shared.approvals(session, row) if d.partials is not None]
    envelopes = [json.loads(item.envelope) for item in shared.scope_rows(session, row)]
    partials = [json.loads(d.partials) for d in approvals if d.partials is not None]
    oprf_entry = shared.last_logged(session, "oprf.key_activated", before=shared.END_OF_LOG)
    append_event(
        session,
        log,
        kind="disclosure.partials_fetched",
        data={"request": row.id, "officer": submitter.username},
        now=now,
    )
    session.commit()
    return RevealPackage(
        request_id=row.id,
        digest=b64u_encode(row.digest),
        body=json.loads(row.body),
        key=key.to_dict(),
        envelopes=envelopes,
        partials=partials,
        view_until=shared.iso(row.view_until) if row.view_until else "",
        oprf_key_log_index=oprf_entry[0] if oprf_entry else None,
    )


MAX_OPRF_CHECKS_PER_ITEM = 2
"""How many identity keys per pseudonym in scope the submitter may have evaluated (a retry after a
network failure): the check is not an OPRF oracle for guessing other people's identities."""


def check_revealed_identities(
    session: Session,
    *,
    request_id: int,
    blinded: object,
    signature_b64: str,
    oprf: BlindEvaluator,
    log: LogSigner,
    now: datetime,
) -> dict[str, Any]:
    """Has the OPRF nodes evaluate the blinded identity keys the submitting officer's tool revealed,
    so it can derive the pseudonyms and check they are the ones in scope (issue 14). Logged
    (``disclosure.oprf_checked``, with the count) and committed before the nodes are asked.

    Authenticated by the submitter's signature over oprf_check_digest (role ``oprf-check``). Returns
    the OPRF key id, the log index of its activation (what the tool checks every node's answer
    against) and the t node answers. Raises NotFoundError, InvalidStateError, ValidationError (malformed
    elements, or more than MAX_OPRF_CHECKS_PER_ITEM per pseudonym in scope), OprfUnavailableError.
    """
    row = _openable(session, request_id, log=log, now=now)
    scope_size = len(shared.scope_rows(session, row))
    if not isinstance(blinded, list) or not 1 <= len(blinded) <= scope_size:
        raise ValidationError(f"send 1 to {scope_size} blinded elements")
    try:
        elements = tuple(Element.decode(b64u_decode(str(e), length=32)) for e in blinded)
    except (CryptoError, TypeError) as e:
        raise ValidationError("a blinded element is not a valid ristretto255 element") from e
    digest = oprf_check_digest(row.digest, [bytes(e) for e in elements])
    submitter = _submitter_signed(session, row, ROLE_OPRF_CHECK, digest, signature_b64)
    done = sum(
        int(json.loads(body).get("data", {}).get("elements", 0))
        for (body,) in session.execute(
            select(LogEntry.body).where(
                LogEntry.kind == "disclosure.oprf_checked", LogEntry.idx > (row.log_index or 0)
            )
        )
        if json.loads(body).get("data", {}).get("request") == row.id
    )
    if done + len(elements) > MAX_OPRF_CHECKS_PER_ITEM * scope_size:
        raise ValidationError(
            f"this request's identities were checked {done} time(s) already; at most "
            f"{MAX_OPRF_CHECKS_PER_ITEM * scope_size} evaluations are allowed"
        )
    key = active_oprf_key(session)
    entry = shared.last_logged(session, "oprf.key_activated", before=shared.END_OF_LOG, key_id=key.key_id)
    append_event(
        session,
        log,
        kind="disclosure.oprf_checked",
        data={"request": row.id, "officer": submitter.username, "elements": len(elements)},
        now=now,
    )
    session.commit()
    try:
        result = oprf.evaluate_blinded(key, elements)
    except OprfUnavailableError as e:
        if e.asked:
            record_evaluations(session, elements=0, nodes=e.asked, log=log, now=now, sent=len(elements))
        raise
    record_evaluations(session, elements=len(elements), nodes=result.asked, log=log, now=now)
    return {
        "key_id": key.key_id,
        "log_index": entry[0] if entry else None,
        "answers": [
            {
                "node": a.index,
                "evaluated": [b64u_encode(bytes(e)) for e in a.evaluated],
                "proof": b64u_encode(a.proof.to_bytes()),
            }
            for a in result.answers
        ],
    }
