"""Idempotency-Key records (issue 17 finding 6, draft-ietf-httpapi-idempotency-key-header): claim a
key, run the operation and keep its sealed answer in ONE transaction, and give that answer to every retry.

A retry whose answer was lost (a crash after the commit, a dropped connection) gets the same status
and body; the same key with another body is refused (422). Claim, operation and answer commit together
(escrow.api.idempotency runs the view inside the claim's transaction), so a worker killed at any point
leaves either all three or none: nothing that a retry could run a second time (the kill -9 test,
tests/test_kill9_gunicorn.py). A duplicate sent while the first runs waits for the first's commit on the
claim's unique key and then gets its answer. Keys expire after KEY_TTL. A committed claim without an
answer (only left by versions before this one) may be taken over after IN_FLIGHT_LEASE; before that it
is refused (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
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
    """Claims ``lookup`` for a request with ``request_digest`` in the caller's transaction (the one the
    operation and keep_answer then use; the caller commits them together); returns None when the
    caller should run the operation, or the stored answer to send again. Does not commit.

    Raises IdempotencyKeyReusedError if the key was used with another request, and
    IdempotencyKeyInFlightError for a committed claim without an answer whose lease has not run out.
    """
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    try:
        # A Core INSERT in a SAVEPOINT, not session.add(): the loser of a race gets the IntegrityError
        # here (on PostgreSQL after waiting for the winner's transaction), and the caller's transaction
        # goes on. SQLite has one writer at a time, so the loser waited on the busy timeout.
        with session.begin_nested():
            session.execute(
                insert(IdempotencyRecord).values(
                    lookup=lookup, request_digest=request_digest, claimed_at=now, expires_at=now + KEY_TTL
                )
            )
        return None
    except IntegrityError:
        pass
    row = session.execute(
        select(IdempotencyRecord).where(IdempotencyRecord.lookup == lookup)
    ).scalar_one_or_none()
    if row is None:  # expired and removed by a concurrent claim in between: the caller retries
        raise IdempotencyKeyInFlightError("a request with this Idempotency-Key is still in progress")
    if row.request_digest != request_digest:
        raise IdempotencyKeyReusedError("this Idempotency-Key was used with a different request")
    if row.status is not None and row.response is not None:
        return StoredAnswer(status=row.status, sealed_body=row.response)
    # A claim committed without its answer: taken over only once its lease has run out, by one
    # claimant (a conditional update).
    taken = session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.lookup == lookup,
            IdempotencyRecord.status.is_(None),
            IdempotencyRecord.claimed_at <= now - IN_FLIGHT_LEASE,
        )
        .values(claimed_at=now)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise IdempotencyKeyInFlightError("a request with this Idempotency-Key is still in progress")
    return None


def keep_answer(session: Session, *, lookup: bytes, status: int, sealed_body: bytes) -> None:
    """Stores the answer of the claimed request (sealed by the caller), in the claim's transaction.
    Does not commit: the caller commits claim, operation and answer together."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.lookup == lookup, IdempotencyRecord.status.is_(None))
        .values(status=status, response=sealed_body)
    )


def release_key(session: Session, *, lookup: bytes) -> None:
    """Forgets an unfinished claim in the caller's transaction (the request was refused, so a retry
    runs it again). Does not commit."""
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.lookup == lookup, IdempotencyRecord.status.is_(None)
        )
    )
