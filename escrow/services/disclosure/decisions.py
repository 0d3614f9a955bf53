"""Key-holder decisions: the requests awaiting a holder, the package their tool checks, and their signed
approval (with verified partial decryptions) or rejection; a quorum of approvals reveals the request,
enough rejections close it (both decided in policy.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_SUBMIT,
    DisclosureSignatureError,
    verify_decision,
)
from escrow.crypto.errors import CryptoError, InvalidProofError
from escrow.crypto.seal import PartialDecryption, verify_partial
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from escrow.models import (
    Court,
    DisclosureDecision,
    DisclosureRequest,
    KeyHolder,
    OfficerKey,
    OrderDocument,
    StaffAccount,
)
from escrow.protocol.disclosure import DisclosureBody
from escrow.services.ceremony import holder_indices
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import delete_partials, expire_if_due, sweep_disclosures
from escrow.services.disclosure.policy import DisclosurePolicy, check_decidable, check_readable, is_rejected
from escrow.services.disclosure.reveal import reveal_if_quorum, stored_envelope
from escrow.services.disclosure.states import HolderDecision, RequestState
from escrow.services.disclosure.views import DisclosureView, HolderPackage, request_view
from escrow.services.escrow_keys import escrow_key
from escrow.services.roster import certificate_for
from escrow.services.transparency import LogSigner, append_event

_log = logging.getLogger(__name__)


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
        .where(DisclosureRequest.status == RequestState.COSIGNED, DisclosureRequest.id.not_in(decided))
        .order_by(DisclosureRequest.id)
    ).all()
    result = []
    for row in rows:
        try:
            _holder_index(session, row, holder_id)
        except (PermissionDeniedError, InvalidStateError):
            continue
        result.append(request_view(session, row))
    return result


def _holder_readable(
    session: Session, request_id: int, holder_id: int, policy: DisclosurePolicy
) -> tuple[DisclosureRequest, int]:
    """Returns the request and holder `holder_id`'s index in its key, if the holder may read it
    (policy.is_readable). Raises NotFoundError otherwise."""
    row = shared.load_request(session, request_id)
    try:
        index: int | None = _holder_index(session, row, holder_id)
    except (PermissionDeniedError, InvalidStateError):
        index = None
    check_readable(
        policy,
        status=row.status,
        is_submitted=row.submitted_at is not None,
        reader=None,
        submitter=shared.as_officer(shared.staff_by_id(session, row.submitter_id)),
        cosigner_ids=(),
        is_holder=index is not None,
    )
    assert index is not None  # noqa: S101 - check_readable refused every other holder
    return row, index


def holder_order_document(
    session: Session, *, request_id: int, holder_id: int, policy: DisclosurePolicy
) -> bytes:
    """Returns the order document of a request holder `holder_id` may read (a holder of its key, once
    submitted: policy.is_readable). Raises NotFoundError otherwise."""
    row, _ = _holder_readable(session, request_id, holder_id, policy)
    document = session.get(OrderDocument, row.order_sha256)
    if document is None:  # pragma: no cover - foreign key
        raise NotFoundError("no order document")
    return document.content


def holder_package(
    session: Session, *, request_id: int, holder_id: int, policy: DisclosurePolicy
) -> HolderPackage:
    """Returns the request, its signatures and envelopes for holder `holder_id` to check.

    Raises NotFoundError (no such request, never submitted, or `holder_id` holds no share of its key:
    policy.is_readable).
    """
    row, index = _holder_readable(session, request_id, holder_id, policy)
    submitter = shared.staff_by_id(session, row.submitter_id)
    officers = [
        _officer_entry(session, submitter, ROLE_SUBMIT, row.submit_signature, signed_index=row.log_index)
    ]
    officers += [
        _officer_entry(
            session, s, ROLE_COSIGN, sig.signature, signed_index=_cosign_index(session, row, s.username)
        )
        for s, sig in shared.cosigners(session, row)
    ]
    envelopes = [
        {"envelope_digest": s.envelope_digest, "envelope": json.loads(s.envelope)}
        for s in shared.scope_rows(session, row)
    ]
    decided = session.scalars(
        select(DisclosureDecision.id).where(
            DisclosureDecision.request_id == row.id, DisclosureDecision.holder_id == holder_id
        )
    ).first()
    court = session.get(Court, row.court_id)
    assert court is not None  # noqa: S101 - foreign key
    court_entry = shared.last_logged(session, "court.registered", before=row.log_index, court=court.id)
    document = session.get(OrderDocument, row.order_sha256)
    assert document is not None  # noqa: S101 - foreign key
    return HolderPackage(
        row.id,
        RequestState(row.status),
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


def _cosign_index(session: Session, row: DisclosureRequest, username: str) -> int | None:
    if row.log_index is None:
        return None
    found = shared.last_logged(
        session,
        "disclosure.cosigned",
        before=shared.END_OF_LOG,
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
    registered = shared.last_logged(
        session, "officer.key_registered", before=signed_index, officer=staff.username
    )
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
        # The organisation's certificate for that key: the holder's tool checks it against the roster
        # the holders signed (issue 16), so a key the service registered alone is refused.
        "certificate": certificate_for(session, staff.id, key) if key else None,
    }


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
    row = shared.load_request(session, request_id, lock=True)
    expire_if_due(session, row, log=log, now=now)
    check_decidable(row.status)
    if decision not in tuple(HolderDecision):
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
    if decision == HolderDecision.APPROVE:
        detail = _checked_partials(session, row, holder, index, partials)
        stored_partials = detail.decode()
    else:
        reason = shared.text(reason, "reason", shared.MAX_LEGAL_BASIS)
        detail = reason.encode()
    try:
        verify_decision(holder.signing_key, row.digest, decision, detail, shared.signature(signature_b64))
    except (DisclosureSignatureError, CryptoError) as e:
        raise ValidationError(f"the decision is not signed by key-holder {holder.name}") from e
    session.add(
        DisclosureDecision(
            request_id=row.id,
            holder_id=holder_id,
            holder_index=index,
            decision=decision,
            partials=stored_partials,
            reason=None if decision == HolderDecision.APPROVE else reason,
            signature=shared.signature(signature_b64),
            created_at=now,
        )
    )
    session.flush()
    if decision == HolderDecision.APPROVE:
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
        reveal_if_quorum(session, row, key_threshold=key.threshold, policy=policy, log=log, now=now)
    else:
        is_final = is_rejected(
            rejections=shared.count_decisions(session, row, HolderDecision.REJECT),
            holders=len(key.verification_keys),
            threshold=key.threshold,
        )
        if is_final:
            row.status = RequestState.REJECTED
            row.closed_at = now
            delete_partials(session, row, now)
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
    return request_view(session, row)


def _checked_partials(
    session: Session, row: DisclosureRequest, holder: KeyHolder, index: int, partials: object
) -> bytes:
    """Returns the canonical bytes of a holder's partial decryptions s_i*(R + B), one per envelope in
    scope, each verified against the escrow key and the submitter's blinding point B. Raises
    ValidationError naming the holder."""
    key = escrow_key(session, row.key_id)
    scope = shared.scope_rows(session, row)
    if not isinstance(partials, list) or len(partials) != len(scope):
        raise ValidationError(f"send one partial decryption for each of the {len(scope)} envelopes")
    try:
        detail = partials_bytes(partials)
    except CryptoError as e:
        raise ValidationError(f"malformed partial decryptions from key-holder {holder.name}") from e
    blinding = DisclosureBody.from_json(row.body).blinding
    if len(blinding) != len(scope):
        raise InvalidStateError("this request carries no blinding points; it cannot be approved")
    for item, entry, blind in zip(scope, partials, blinding, strict=True):
        envelope = stored_envelope(item)
        try:
            partial = PartialDecryption.from_dict(entry)
        except (CryptoError, TypeError, AttributeError) as e:
            raise ValidationError(f"malformed partial decryption from key-holder {holder.name}") from e
        if partial.holder != index:
            raise ValidationError(f"key-holder {holder.name} sent a partial for another share index")
        try:
            verify_partial(key, envelope, row.digest, partial, blind=blind)
        except InvalidProofError as e:
            raise ValidationError(
                f"the partial decryption of key-holder {holder.name} (index {index}) does not verify "
                f"for envelope {item.position + 1} of this request; it was refused"
            ) from e
    return detail
