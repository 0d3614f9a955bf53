"""Revealing and viewing: opening the envelopes once a quorum approved, showing the identities to the
request's officers within the viewing window (logged), and telling the person afterwards.

A revealed identity is never stored: each viewing re-opens the envelopes from the stored partial
decryptions, which are deleted when the window ends, the request expires or is rejected.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime

from sqlalchemy.orm import Session

from escrow.crypto.errors import CryptoError
from escrow.crypto.seal import Envelope, PartialDecryption, combine_and_open
from escrow.crypto.transcript import b64u_encode, sha256
from escrow.errors import InvalidStateError
from escrow.models import DisclosureRequest, DisclosureScope
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import close_window_if_over
from escrow.services.disclosure.policy import DisclosurePolicy, check_viewer, is_quorum
from escrow.services.disclosure.states import RequestState
from escrow.services.disclosure.views import RevealedIdentity
from escrow.services.escrow_keys import escrow_key
from escrow.services.staff import StaffView
from escrow.services.transparency import LogSigner, append_event


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


def _open_all(session: Session, row: DisclosureRequest) -> list[RevealedIdentity]:
    """Re-opens every envelope in scope from the stored partials (memory only)."""
    key = escrow_key(session, row.key_id)
    approvals = [d for d, _ in shared.approvals(session, row) if d.partials is not None]
    per_holder = [json.loads(d.partials) for d in approvals if d.partials is not None]
    result = []
    for position, item in enumerate(shared.scope_rows(session, row)):
        partials = [PartialDecryption.from_dict(p[position]) for p in per_holder]
        try:
            opened = combine_and_open(key, stored_envelope(item), row.digest, partials)
        except CryptoError as e:
            raise InvalidStateError(f"envelope {position + 1} did not open") from e
        result.append(RevealedIdentity(item.platform_id, item.pseudonym, json.loads(opened.identity)))
    return result


def reveal_if_quorum(
    session: Session,
    row: DisclosureRequest,
    *,
    key_threshold: int,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> None:
    """Discloses `row` (without committing) if its approvals make a quorum, once the envelopes are proven
    to open."""
    approvals = shared.approvals(session, row)
    organisations = [h.organisation for _, h in approvals]
    if not is_quorum(policy, approving_organisations=organisations, threshold=key_threshold):
        return
    _open_all(session, row)  # proves the envelopes open; the identities are dropped at once
    row.status = RequestState.DISCLOSED
    row.disclosed_at = now
    row.view_until = now + policy.view_window
    append_event(
        session,
        log,
        kind="disclosure.disclosed",
        data={"request": row.id, "approvals": len(approvals), "organisations": len(set(organisations))},
        now=now,
    )


def view_identities(
    session: Session, *, request_id: int, officer: StaffView, log: LogSigner, now: datetime
) -> list[RevealedIdentity]:
    """Returns the identities in a disclosed request to its submitter or a co-signer, within the viewing
    window; logs the viewing and commits. Nothing revealed is stored.

    Raises NotFoundError (also to any other officer), InvalidStateError (not disclosed,
    or the window is over: the partials are then deleted).
    """
    row = shared.load_request(session, request_id)
    check_viewer(officer.id, officer_ids=shared.officer_ids(session, row))
    close_window_if_over(session, row, log=log, now=now)
    if row.status != RequestState.DISCLOSED:
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
