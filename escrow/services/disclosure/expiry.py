"""Closing disclosure requests on time: expiry of open requests, the end of a viewing window, and the
deletion of stored partial decryptions that both bring (docs/disclosure.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from escrow.models import DisclosureDecision, DisclosureRequest
from escrow.services.disclosure.notices import announce_due_notices
from escrow.services.disclosure.states import EXPIRABLE_STATES, OPEN_STATES, RequestState
from escrow.services.transparency import LogSigner, append_event


def delete_partials(session: Session, row: DisclosureRequest, now: datetime) -> None:
    """Deletes the partial decryptions stored for `row` (without committing)."""
    session.execute(
        update(DisclosureDecision)
        .where(DisclosureDecision.request_id == row.id)
        .values(partials=None)
        .execution_options(synchronize_session=False)
    )
    row.partials_deleted_at = now


def expire_if_due(session: Session, row: DisclosureRequest, *, log: LogSigner, now: datetime) -> None:
    """Expires an open request past its expiry (deleting any partial decryptions) and commits."""
    if row.status in EXPIRABLE_STATES and now >= row.expires_at:
        row.status = RequestState.EXPIRED
        row.closed_at = now
        delete_partials(session, row, now)
        append_event(session, log, kind="disclosure.expired", data={"request": row.id}, now=now)
        session.commit()


def close_window_if_over(session: Session, row: DisclosureRequest, *, log: LogSigner, now: datetime) -> None:
    """Deletes the partials of a disclosed request whose viewing window is over, and commits."""
    is_over = row.view_until is not None and now >= row.view_until
    if row.status == RequestState.DISCLOSED and is_over and row.partials_deleted_at is None:
        delete_partials(session, row, now)
        append_event(session, log, kind="disclosure.window_closed", data={"request": row.id}, now=now)
        session.commit()


def sweep_disclosures(session: Session, *, log: LogSigner, now: datetime) -> int:
    """Expires overdue requests, deletes the partials of closed viewing windows and logs the notices
    that fell due (disclosure.notice_due, issue 14); returns how many requests it closed or announced."""
    rows = session.scalars(
        select(DisclosureRequest).where(
            or_(
                and_(DisclosureRequest.status.in_(OPEN_STATES), DisclosureRequest.expires_at <= now),
                and_(
                    DisclosureRequest.status == RequestState.DISCLOSED,
                    DisclosureRequest.view_until <= now,
                    DisclosureRequest.partials_deleted_at.is_(None),
                ),
            )
        )
    ).all()
    for row in rows:
        expire_if_due(session, row, log=log, now=now)
        close_window_if_over(session, row, log=log, now=now)
    return len(rows) + announce_due_notices(session, log=log, now=now)
