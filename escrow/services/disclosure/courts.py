"""The registry of courts whose orders a disclosure request may cite (and whose signatures are checked)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.transcript import b64u_encode
from escrow.errors import ConflictError
from escrow.models import Court
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.views import CourtView, court_view
from escrow.services.pagination import Page, fetch_page
from escrow.services.transparency import LogSigner, append_event


def add_court(
    session: Session,
    *,
    name: str,
    jurisdiction: str,
    public_key_b64: str | None,
    log: LogSigner,
    now: datetime,
) -> CourtView:
    """Adds a court to the registry and commits. Raises ValidationError, ConflictError (duplicate)."""
    row = Court(
        name=shared.text(name, "name"),
        jurisdiction=shared.text(jurisdiction, "jurisdiction"),
        public_key=shared.key_bytes(public_key_b64, "public_key", 32) if public_key_b64 else None,
        created_at=now,
    )
    if session.scalars(
        select(Court).where(Court.name == row.name, Court.jurisdiction == row.jurisdiction)
    ).first():
        raise ConflictError("this court is already registered")
    session.add(row)
    session.flush()
    append_event(
        session,
        log,
        kind="court.registered",
        data={
            "court": row.id,
            "name": row.name,
            "jurisdiction": row.jurisdiction,
            "fingerprint": fingerprint(row.public_key) if row.public_key else None,
            "public_key": b64u_encode(row.public_key) if row.public_key else None,
        },
        now=now,
    )
    session.commit()
    return court_view(row)


def list_courts(session: Session) -> list[CourtView]:
    """Returns every registered court, by name."""
    return [court_view(r) for r in session.scalars(select(Court).order_by(Court.name, Court.id))]


def page_courts(session: Session, *, page: int) -> Page[CourtView]:
    """Returns one page of the courts, by name. Raises InvalidPageError, PageNotFoundError."""
    return fetch_page(session, select(Court).order_by(Court.name, Court.id), number=page).map(court_view)
