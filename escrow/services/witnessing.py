"""Witnessed checkpoints (issue 15): ask the witnesses to cosign the latest checkpoint, keep the
cosignature lines they return, and raise an alarm for every witness that refuses or does not answer.

The log asks after a checkpoint is committed, never inside the transaction that makes it: a witness
that cosigned a checkpoint that then rolled back would hold a size the log never reached. A thread of
each server process asks about the newest checkpoint every second (escrow.bootstrap.start_witnessing),
and a checkpoint is also witnessed when first served (GET /api/v1/log/checkpoint), so no one is shown a
checkpoint the witnesses were not asked about; each process asks each witness once per new size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.note import Checkpoint, add_signature_lines, parse_checkpoint, split_note
from escrow.models import LogCheckpoint, LogCosignature, WitnessAlarm
from escrow.protocol.witness import WitnessAnswer
from escrow.services.transparency import (
    LogSigner,
    checkpoint_at,
    latest_checkpoint,
    prove_consistency,
    tree_size,
)

log = logging.getLogger("escrow.witnessing")
ALARMS_ON_REPORT = 50


class Cosigners(Protocol):
    """What the log needs of its witnesses (escrow.client.witness.WitnessPool)."""

    def cosign(
        self,
        note: str,
        checkpoint: Checkpoint,
        proof_from: Callable[[int], Sequence[bytes]],
        *,
        have: Collection[str] = (),
    ) -> Sequence[WitnessAnswer]: ...


def cosignature_lines(session: Session, size: int) -> list[str]:
    """The cosignature lines kept for the checkpoint of `size`, by witness name."""
    rows = session.execute(
        select(LogCosignature.line).where(LogCosignature.size == size).order_by(LogCosignature.witness)
    ).scalars()
    return list(rows)


def with_cosignatures(session: Session, note: str, size: int) -> str:
    """The signed checkpoint `note` with the cosignature lines kept for it appended."""
    lines = cosignature_lines(session, size)
    return add_signature_lines(note, lines) if lines else note


def record_answers(session: Session, answers: Sequence[WitnessAnswer], *, now: datetime) -> None:
    """Keeps each cosignature and raises an alarm (log line and witness_alarms row) for each refusal.

    A witness that already holds a larger checkpoint this log did sign (another worker had it cosigned
    first) is no alarm; one holding a size the log never reached (the log was rolled back) or never
    signed a checkpoint for (a size inside a batch: someone else signed it) is.
    """
    size_now = tree_size(session)
    for answer in answers:
        # Only a size this log signed a checkpoint for: the sequencer signs one per batch (issue 15),
        # so a held size inside a batch was signed by someone else with the log key (a split view).
        if (
            answer.held is not None
            and answer.size < answer.held <= size_now
            and session.get(LogCheckpoint, answer.held) is not None
        ):
            continue
        if answer.ok:
            if session.get(LogCosignature, (answer.size, answer.witness)) is None:
                session.add(
                    LogCosignature(size=answer.size, witness=answer.witness, line=answer.line, created_at=now)
                )
            continue
        what = f"refused (HTTP {answer.status})" if answer.status is not None else "did not answer"
        log.warning(
            "witness alarm: %s %s the checkpoint of size %d: %s",
            answer.witness,
            what,
            answer.size,
            answer.detail,
        )
        session.add(
            WitnessAlarm(
                witness=answer.witness,
                size=answer.size,
                status=answer.status,
                detail=answer.detail[:1000],
                created_at=now,
            )
        )


def witnessed_latest_checkpoint(
    session: Session, log_signer: LogSigner, cosigners: Cosigners, *, now: datetime
) -> str:
    """Returns the latest signed checkpoint with every cosignature gathered for it, asking the
    witnesses that have not been asked about it yet (in parallel, bounded). Commits what it keeps."""
    note = latest_checkpoint(session, log_signer)
    checkpoint = parse_checkpoint(split_note(note)[0])
    # The note's own size, not a second read of the head: on PostgreSQL (READ COMMITTED) a batch can
    # commit in between, and a proof or cosignatures for another size would make a false alarm.
    size = checkpoint.size
    have = {line[2:].partition(" ")[0] for line in cosignature_lines(session, size)}
    answers = cosigners.cosign(note, checkpoint, lambda old: prove_consistency(session, old, size), have=have)
    if answers:
        # End the read first: on SQLite (WAL) a transaction that read before another one committed (a
        # batch, during the up to witness_timeout_s the round took) cannot then write.
        session.commit()
        record_answers(session, answers, now=now)
        session.commit()
    return with_cosignatures(session, note, size)


def witnessed_checkpoint_at(session: Session, size: int) -> str:
    """The checkpoint signed at `size` with the cosignatures kept for it. Raises NotFoundError."""
    return with_cosignatures(session, checkpoint_at(session, size), size)


@dataclass(frozen=True, slots=True)
class AlarmView:
    witness: str
    size: int
    status: int | None
    detail: str
    at: datetime


def recent_alarms(session: Session, limit: int = ALARMS_ON_REPORT) -> list[AlarmView]:
    """The newest witness alarms, newest first."""
    rows = session.execute(select(WitnessAlarm).order_by(WitnessAlarm.id.desc()).limit(limit)).scalars()
    return [AlarmView(r.witness, r.size, r.status, r.detail, r.created_at) for r in rows]
