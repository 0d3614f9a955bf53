"""Finding a person's records by re-deriving their pseudonyms from their pseudonym secret, the one query
credentials, consents and disclosure notices share (no stored row links a person to a pseudonym, and
nothing stored derives one: the secret comes from the person's signed-in session; issue 13)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from escrow.crypto.pseudonym import PseudonymSecret
from escrow.errors import PermissionDeniedError
from escrow.models import Person, Platform


def person_pseudonyms_filter(
    session: Session,
    *,
    person_id: int,
    secret: PseudonymSecret,
    platform: InstrumentedAttribute[str],
    pseudonym: InstrumentedAttribute[str],
) -> ColumnElement[bool]:
    """Returns a WHERE clause matching the rows whose (`platform`, `pseudonym`) columns are one of the
    pseudonyms of ``secret`` on any platform, in any of its slots (false when there are no platforms).

    Raises PermissionDeniedError if there is no such person (the caller is not logged in).
    """
    if session.get(Person, person_id) is None:
        raise PermissionDeniedError("log in first")
    pairs = [
        and_(platform == p.id, pseudonym == secret.pseudonym(p.id, slot=s))
        for p in session.scalars(select(Platform))
        for s in range(p.pseudonyms_per_person)
    ]
    return or_(*pairs) if pairs else false()
