"""Idempotency-Key records (issue 17 finding 6, draft-ietf-httpapi-idempotency-key-header): claim a
key before the operation runs, keep its sealed answer after, and give that answer to every retry.

A retry whose answer was lost (a crash after the commit, a dropped connection) gets the same status
and body; the same key with another body is refused (422); a duplicate while the first is still
running is refused (409). Keys expire after KEY_TTL. A claim whose request never finished (its worker
was killed) may be taken over after IN_FLIGHT_LEASE: the operation then runs again, and for
redemption that answers 409 (already redeemed) as it did before idempotency keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escrow.errors import IdempotencyKeyInFlightError, IdempotencyKeyReusedError
from escrow.models import IdempotencyRecord

KEY_TTL = timedelta(hours=24)  # docs/platforms.md#idempotency
IN_FLIGHT_LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer the first request with a key got: its status and its sealed body."""

    status: int
    sealed_body: bytes


def claim_key(
    session: Session, *, lookup: bytes, request_digest: bytes, now: datetime
) -> StoredAnswer | None:
    """Claims ``lookup`` for a request with ``request_digest``; returns None when the caller should run
    the operation, or the stored answer to send again. Commits the claim.

    Raises IdempotencyKeyReusedError if the key was used with another request, and
    IdempotencyKeyInFlightError while the first request with it is still running.
    """
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    session.commit()
    try:
        # A Core INSERT, not session.add(): the loser of a race gets the IntegrityError here.
        session.execute(
            insert(IdempotencyRecord).values(
                lookup=lookup, request_digest=request_digest, claimed_at=now, expires_at=now + KEY_TTL
            )
        )
        session.commit()
        return None
    except IntegrityError:
        session.rollback()
    row = session.get(IdempotencyRecord, lookup)
    if row is None:  # expired and removed by a concurrent claim in between: try once more
        return claim_key(session, lookup=lookup, request_digest=request_digest, now=now)
    if row.request_digest != request_digest:
        raise IdempotencyKeyReusedError("this Idempotency-Key was used with a different request")
    if row.status is not None and row.response is not None:
        return StoredAnswer(status=row.status, sealed_body=row.response)
    # In flight: taken over only once its lease has run out, by one claimant (a conditional update).
    taken = session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.lookup == lookup,
            IdempotencyRecord.status.is_(None),
            IdempotencyRecord.claimed_at <= now - IN_FLIGHT_LEASE,
        )
        .values(claimed_at=now)
    )
    session.commit()
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise IdempotencyKeyInFlightError("a request with this Idempotency-Key is still in progress")
    return None


def keep_answer(session: Session, *, lookup: bytes, status: int, sealed_body: bytes) -> None:
    """Stores the answer of the claimed request (sealed by the caller). Commits."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.lookup == lookup, IdempotencyRecord.status.is_(None))
        .values(status=status, response=sealed_body)
    )
    session.commit()


def release_key(session: Session, *, lookup: bytes) -> None:
    """Forgets an unfinished claim (the request failed, so a retry runs it again). Commits."""
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.lookup == lookup, IdempotencyRecord.status.is_(None)
        )
    )
    session.commit()
