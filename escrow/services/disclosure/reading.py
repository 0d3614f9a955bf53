"""Reading requests: one, a page of them or all (closing expired ones first), the order document, and a
request's page for one member of staff with what the policy lets them do on it now.

Every reader is checked by `policy.is_readable` (issue 16): a request the reader may not read is a
NotFoundError, and the lists hold only what the reader may read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from escrow.errors import NotFoundError
from escrow.models import DisclosureRequest, OrderDocument
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.expiry import close_window_if_over, expire_if_due, sweep_disclosures
from escrow.services.disclosure.extensions import pending_extension
from escrow.services.disclosure.officer_keys import registered_officer_key
from escrow.services.disclosure.policy import (
    DisclosurePolicy,
    Officer,
    is_readable,
    officer_actions,
)
from escrow.services.disclosure.views import DisclosureView, RequestPage, request_view
from escrow.services.pagination import Page, fetch_page
from escrow.services.roster import roster_policy
from escrow.services.staff import StaffView
from escrow.services.transparency import LogSigner


def _reader(staff: StaffView) -> Officer:
    return Officer.of(
        id=staff.id, username=staff.username, organisation=staff.organisation, roles=staff.roles
    )


def _is_readable_by(
    session: Session, row: DisclosureRequest, staff: StaffView, policy: DisclosurePolicy
) -> bool:
    return is_readable(
        policy,
        status=row.status,
        is_submitted=row.submitted_at is not None,
        reader=_reader(staff),
        submitter=shared.as_officer(shared.staff_by_id(session, row.submitter_id)),
        cosigner_ids={s.id for s, _ in shared.cosigners(session, row)},
        extensions=[pending_extension(session, row, e) for e in shared.extensions_of(session, row)],
    )


def _readable(
    session: Session, request_id: int, *, staff: StaffView, policy: DisclosurePolicy
) -> DisclosureRequest:
    """Returns request `request_id` if `staff` may read it. Raises NotFoundError otherwise, as for a
    request that does not exist."""
    row = shared.load_request(session, request_id)
    if not _is_readable_by(session, row, staff, roster_policy(session, policy)):
        raise NotFoundError("no such disclosure request")
    return row


def _current(
    session: Session,
    request_id: int,
    *,
    staff: StaffView,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureRequest:
    row = _readable(session, request_id, staff=staff, policy=policy)
    expire_if_due(session, row, log=log, now=now)
    close_window_if_over(session, row, log=log, now=now)
    return row


def get_request(
    session: Session,
    *,
    request_id: int,
    staff: StaffView,
    policy: DisclosurePolicy,
    log: LogSigner,
    now: datetime,
) -> DisclosureView:
    """Returns one request `staff` may read (closing it first if it expired). Raises NotFoundError."""
    return request_view(session, _current(session, request_id, staff=staff, policy=policy, log=log, now=now))


def logged_request(session: Session, *, request_id: int, log: LogSigner, now: datetime) -> DisclosureView:
    """Returns a submitted request for the public key-holders' page, which shows only what its
    `disclosure.submitted` log entry already publishes (court, case number, verdict, scope size, ...).
    Raises NotFoundError for a request never submitted (a draft, or a draft that expired or was withdrawn)."""
    row = shared.load_request(session, request_id)
    if row.submitted_at is None:
        raise NotFoundError("no such disclosure request")
    expire_if_due(session, row, log=log, now=now)
    close_window_if_over(session, row, log=log, now=now)
    return request_view(session, row)


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
    row = _current(session, request_id, staff=staff, policy=policy, log=log, now=now)
    officer = _reader(staff)
    actions = officer_actions(
        roster_policy(session, policy),
        status=row.status,
        officer=officer,
        submitter=shared.as_officer(shared.staff_by_id(session, row.submitter_id)),
        cosigner_ids={s.id for s, _ in shared.cosigners(session, row)},
        extensions=[pending_extension(session, row, e) for e in shared.extensions_of(session, row)],
        notify_at=shared.notify_at(row),
        now=now,
    )
    return RequestPage(request_view(session, row), registered_officer_key(session, staff.username), actions)


def _readable_statement(
    session: Session, *, staff: StaffView, policy: DisclosurePolicy
) -> Select[DisclosureRequest]:
    """The requests `staff` may read, newest first (the rule is policy.is_readable, asked per row)."""
    rows = session.scalars(select(DisclosureRequest)).all()
    policy = roster_policy(session, policy)  # once, not per row
    ids = [row.id for row in rows if _is_readable_by(session, row, staff, policy)]
    return (
        select(DisclosureRequest).where(DisclosureRequest.id.in_(ids)).order_by(DisclosureRequest.id.desc())
    )


def list_requests(
    session: Session, *, staff: StaffView, policy: DisclosurePolicy, log: LogSigner, now: datetime
) -> list[DisclosureView]:
    """Returns every request `staff` may read, newest first (after closing expired ones)."""
    sweep_disclosures(session, log=log, now=now)
    rows = session.scalars(_readable_statement(session, staff=staff, policy=policy)).all()
    return [request_view(session, r) for r in rows]


def page_requests(
    session: Session, *, staff: StaffView, policy: DisclosurePolicy, log: LogSigner, now: datetime, page: int
) -> Page[DisclosureView]:
    """Returns one page of the requests `staff` may read, newest first (after closing expired ones).

    Raises InvalidPageError, PageNotFoundError.
    """
    sweep_disclosures(session, log=log, now=now)
    statement = _readable_statement(session, staff=staff, policy=policy)
    return fetch_page(session, statement, number=page).map(lambda row: request_view(session, row))


def order_document(session: Session, *, request_id: int, staff: StaffView, policy: DisclosurePolicy) -> bytes:
    """Returns the order document of a request `staff` may read. Raises NotFoundError."""
    row = _readable(session, request_id, staff=staff, policy=policy)
    document = session.get(OrderDocument, row.order_sha256)
    if document is None:  # pragma: no cover - foreign key
        raise NotFoundError("no order document")
    return document.content
