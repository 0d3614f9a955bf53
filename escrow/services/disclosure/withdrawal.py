"""Withdrawing a request before it is disclosed or closed, on the signature of one of its officers."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from escrow.crypto.disclosure import ROLE_WITHDRAW, withdrawal_body, withdrawal_digest
from escrow.errors import InvalidStateError
from escrow.models import DisclosureWithdrawal
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import delete_partials, expire_if_due
from escrow.services.disclosure.extensions import request_officer
from escrow.services.disclosure.policy import is_withdrawable
from escrow.services.disclosure.states import RequestState
from escrow.services.disclosure.views import DisclosureView, request_view
from escrow.services.transparency import LogSigner, append_event

_log = logging.getLogger(__name__)


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
    row = shared.load_request(session, request_id, lock=True)
    expire_if_due(session, row, log=log, now=now)
    if not is_withdrawable(row.status):
        raise InvalidStateError(
            f"this request is {row.status}; only a request not yet disclosed or closed can be withdrawn"
        )
    staff = request_officer(session, row, username, "withdraw it")
    body = withdrawal_body(
        request_id=row.id,
        request_digest=row.digest,
        officer=staff.username,
        reason=shared.text(reason, "reason", shared.MAX_LEGAL_BASIS),
    )
    signed = shared.verify_officer_signature(
        session,
        staff,
        ROLE_WITHDRAW,
        withdrawal_digest(body),
        signature_b64,
        refusal="the signature is not this officer's over this withdrawal",
    )
    was = row.status
    row.status = RequestState.WITHDRAWN
    row.closed_at = now
    session.add(
        DisclosureWithdrawal(
            request_id=row.id,
            officer_id=staff.id,
            reason=body["reason"],
            signature=signed,
            created_at=now,
        )
    )
    delete_partials(session, row, now)
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
    return request_view(session, row)
