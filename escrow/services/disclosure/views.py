"""What the disclosure services return: frozen views of courts, requests, extensions, holder packages,
reveal packages and notices (never a database row, and never an identity)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from escrow.crypto.transcript import b64u_encode
from escrow.models import Court, DisclosureExtension, DisclosureRequest, DisclosureWithdrawal, StaffAccount
from escrow.protocol.disclosure import DisclosureBody
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure import policy
from escrow.services.disclosure.states import ExtensionState, HolderDecision, RequestState
from escrow.services.escrow_keys import escrow_key


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
    status: ExtensionState
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
    status: RequestState
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


@dataclass(frozen=True, slots=True)
class RequestPage:
    """One request as its page shows it to one member of staff: the request, their registered officer
    key, and what the policy lets them do on it now."""

    request: DisclosureView
    registered_key_b64: str | None
    actions: policy.OfficerActions


@dataclass(frozen=True, slots=True)
class HolderPackage:
    """Everything a key-holder's tool needs to check a request on its own machine."""

    request_id: int
    status: RequestState
    body: dict[str, Any]
    digest_b64: str
    log_index: int | None
    officers: list[dict[str, Any]]
    envelopes: list[dict[str, Any]]
    holder_index: int
    decided: bool
    court: dict[str, Any]
    order_document_b64: str


@dataclass(frozen=True, slots=True)
class RevealPackage:
    """What the submitting officer's tool opens a disclosed request from (escrow.client.disclosure.reveal):
    nothing in it opens an envelope without the officer's blinding scalars."""

    request_id: int
    digest: str
    body: dict[str, Any]
    key: dict[str, Any]
    envelopes: list[dict[str, Any]]
    partials: list[list[dict[str, Any]]]
    view_until: str
    oprf_key_log_index: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.request_id,
            "digest": self.digest,
            "body": self.body,
            "key": self.key,
            "envelopes": self.envelopes,
            "partials": self.partials,
            "view_until": self.view_until,
            "oprf_key_log_index": self.oprf_key_log_index,
        }


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
        return policy.is_capped(monthly_cap=self.monthly_cap, submitted_this_month=self.submitted_this_month)


def court_view(row: Court) -> CourtView:
    return CourtView(
        row.id, row.name, row.jurisdiction, b64u_encode(row.public_key) if row.public_key else None
    )


def extension_view(session: Session, extension: DisclosureExtension) -> ExtensionView:
    proposer = session.get(StaffAccount, extension.proposer_id)
    return ExtensionView(
        sequence=extension.sequence,
        status=ExtensionState(extension.status),
        body=json.loads(extension.body),
        digest_b64=b64u_encode(extension.digest),
        proposer=proposer.username if proposer else "",
        cosigners=tuple(s.username for s in shared.extension_cosigners(session, extension)),
        created_at=extension.created_at,
        effective_at=extension.effective_at,
    )


def request_view(session: Session, row: DisclosureRequest) -> DisclosureView:
    submitter = session.get(StaffAccount, row.submitter_id)
    withdrawal = session.get(DisclosureWithdrawal, row.id) if row.status == RequestState.WITHDRAWN else None
    withdrawn_by = session.get(StaffAccount, withdrawal.officer_id) if withdrawal else None
    key = escrow_key(session, row.key_id)
    return DisclosureView(
        id=row.id,
        status=RequestState(row.status),
        body=DisclosureBody.from_json(row.body).to_dict(),
        digest_b64=b64u_encode(row.digest),
        submitter=submitter.username if submitter else "",
        cosigners=tuple(s.username for s, _ in shared.cosigners(session, row)),
        approvals=shared.count_decisions(session, row, HolderDecision.APPROVE),
        rejections=shared.count_decisions(session, row, HolderDecision.REJECT),
        threshold=key.threshold,
        log_index=row.log_index,
        disclosed_at=row.disclosed_at,
        view_until=row.view_until,
        notify_delay_days=row.notify_delay_s // shared.DAY_S,
        notify_at=shared.notify_at(row),
        extensions=tuple(extension_view(session, e) for e in shared.extensions_of(session, row)),
        withdrawn_by=withdrawn_by.username if withdrawn_by else None,
    )
