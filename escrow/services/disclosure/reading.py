"""Reading requests: one, a page of them or all (closing expired ones first), the order document, and a
request's page for one member of staff with what the policy lets them do on it now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.errors import NotFoundError
from escrow.models import DisclosureRequest, OrderDocument
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import close_window_if_over, expire_if_due, sweep_disclosures
from escrow.services.disclosure.extensions import pending_extension
from escrow.services.disclosure.officer_keys import registered_officer_key
from escrow.services.disclosure.policy import DisclosurePolicy, Officer, officer_actions
from escrow.services.disclosure.views import DisclosureView, RequestPage, request_view
from escrow.services.pagination import Page, fetch_page
from escrow.services.staff import StaffView
from escrow.services.transparency import LogSigner


def _current(session: Session, request_id: int, *, log: LogSigner, now: datetime) -> DisclosureRequest:
    row = shared.load_request(session, request_id)
    expire_if_due(session, row, log=log, now=now)
    close_window_if_over(session, row, log=log, now=now)
    return row


def get_request(session: Session, *, request_id: int, log: LogSigner, now: datetime) -> DisclosureView:
    """Returns one request (closing it first if it expired). Raises NotFoundError."""
    return request_view(session, _current(session, request_id, log=log, now=now))


def request_page(
    session: Session,
    *,
    request_id: int,
    staff: StaffView,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> RequestPage:
    """Returns one request (closing it first if it expired) as its page shows it to `staff`: with their
    registered officer key and the actions the policy allows them now. Raises NotFoundError."""
    row = _current(session, request_id, log=log, now=now)
    officer = Officer.of(
        id=staff.id, username=staff.username, organisation=staff.organisation, roles=staff.roles
    )
    actions = officer_actions(
        policy,
        status=row.status,
        officer=officer,
        submitter=shared.as_officer(shared.staff_by_id(session, row.submitter_id)),
        cosigner_ids={s.id for s, _ in shared.cosigners(session, row)},
        extensions=[pending_extension(session, row, e) for e in shared.extensions_of(session, row)],
        notify_at=shared.notify_at(row),
        now=now,
    )
    return RequestPage(request_view(session, row), registered_officer_key(session, staff.username), actions)


def list_requests(session: Session, *, log: LogSigner, now: datetime) -> list[DisclosureView]:
    """Returns every request, newest first (after closing expired ones)."""
    sweep_disclosures(session, log=log, now=now)
    rows = session.scalars(select(DisclosureRequest).order_by(DisclosureRequest.id.desc())).all()
    return [request_view(session, r) for r in rows]


def page_requests(session: Session, *, log: LogSigner, now: datetime, page: int) -> Page[DisclosureView]:
    """Returns one page of the requests, newest first (after closing expired ones).

    Raises InvalidPageError, PageNotFoundError.
    """
    sweep_disclosures(session, log=log, now=now)
    statement = select(DisclosureRequest).order_by(DisclosureRequest.id.desc())
    return fetch_page(session, statement, number=page).map(lambda row: request_view(session, row))


def order_document(session: Session, *, request_id: int) -> bytes:
    """Returns a request's order document. Raises NotFoundError."""
    row = shared.load_request(session, request_id)
    document = session.get(OrderDocument, row.order_sha256)
    if document is None:  # pragma: no cover - foreign key
        raise NotFoundError("no order document")
    return document.content
