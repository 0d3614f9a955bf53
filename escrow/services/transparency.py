"""The transparency log: queue events in the caller's transaction, sequence them in batches, sign
checkpoints, serve proofs.

An RFC 9162 Merkle tree over canonical JSON entries (escrow.crypto.merkle), stored as its complete
subtrees (log_nodes) so an append writes O(log n) rows and a proof reads O(log^2 n) at worst, never the
whole tree. An event is queued (log_queue) in the transaction of the change it records; the sequencer
(`integrate`, run by a thread of every server process and by `escrow log sequence`) moves committed
queued events into the tree in batches and signs one checkpoint (C2SP tlog-checkpoint,
escrow.crypto.note) per batch (issue 15). docs/transparency.md gives every byte format and the rules.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import nacl.signing
from sqlalchemy import Table, bindparam, func, select, text, tuple_, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from escrow.crypto.merkle import (
    EMPTY_ROOT,
    NodeReader,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_to_store_after_append,
    range_proof,
    root_hash,
)
from escrow.crypto.note import format_checkpoint, sign_note, verifier_key_string
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256
from escrow.errors import NotFoundError, ServiceUnavailableError, ValidationError
from escrow.models import LogCheckpoint, LogCommitmentOpening, LogEntry, LogNode, LogQueued, LogState

ENTRY_VERSION = 1
MAX_ENTRIES_PER_PAGE = 1000
COMMITMENT_DOMAIN = b"escrow/v1/log-commitment"
COMMITMENT_SALT_BYTES = 16
T = TypeVar("T")
_KIND = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


@dataclass(frozen=True, slots=True)
class LogSigner:
    """The log's identity: its origin line and the Ed25519 key that signs its checkpoints."""

    origin: str
    signing_key: nacl.signing.SigningKey = field(repr=False)

    @property
    def verifier_key(self) -> str:
        """Returns the verifier key string (`<name>+<hash>+<key>`) auditors pin."""
        return verifier_key_string(self.origin, self.signing_key.verify_key)


@dataclass(frozen=True, slots=True)
class EntryView:
    """A log entry as served to the public."""

    index: int
    body: bytes

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.body)


def commitment(salt: bytes, value: str) -> bytes:
    """Returns SHA-256(domain || salt || value): the salted commitment published for a sensitive value."""
    return sha256(COMMITMENT_DOMAIN + salt + value.encode())


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# Statements built once: an append runs on the path of every logged use case, and building and
# cache-keying SQLAlchemy constructs per call cost more than executing them (docs/benchmarks.md).
# They run on the session's connection (same transaction) as plain Core, outside the ORM unit of work.
_STATE = cast(Table, LogState.__table__)
_NODES = cast(Table, LogNode.__table__)
_QUEUE = cast(Table, LogQueued.__table__)
_INSERT_QUEUED = _QUEUE.insert().returning(_QUEUE.c.id)
_SELECT_QUEUED = select(
    _QUEUE.c.id, _QUEUE.c.kind, _QUEUE.c.body, _QUEUE.c.openings, _QUEUE.c.created_at
).order_by(_QUEUE.c.id)
_ANY_QUEUED = select(_QUEUE.c.id).limit(1)
_DELETE_QUEUED = _QUEUE.delete().where(_QUEUE.c.id.in_(bindparam("ids", expanding=True)))
_DELETE_CHUNK = 10_000
_LOCK_HEAD_PG = select(_STATE.c.size).where(_STATE.c.id == 1).with_for_update()
_TRY_LOCK_HEAD_PG = select(_STATE.c.size).where(_STATE.c.id == 1).with_for_update(skip_locked=True)
_TOUCH_HEAD = update(_STATE).where(_STATE.c.id == 1).values(size=_STATE.c.size).returning(_STATE.c.size)
_SET_HEAD = update(_STATE).where(_STATE.c.id == 1).values(size=bindparam("size"))
_LOCK_NOT_AVAILABLE = "55P03"
# How long an append that needs its index waits for the head while a batch is being integrated.
LOG_LOCK_TIMEOUT_MS = 5000
# The most queued events an append that needs its index integrates in its caller's transaction.
APPEND_BACKLOG_MAX = 5000
_INSERT_ENTRY = cast(Table, LogEntry.__table__).insert()
_INSERT_OPENING = cast(Table, LogCommitmentOpening.__table__).insert()
_INSERT_NODE = _NODES.insert()
_INSERT_CHECKPOINT = cast(Table, LogCheckpoint.__table__).insert()
# Exactly the (level, idx) pairs a computation needs (issue 15): `level IN (...) AND idx IN (...)` let
# PostgreSQL scan the primary key on `level` alone and filter ~400,000 rows at 10^5 entries. There the
# pairs are joined from two arrays (one statement shape whatever the count); elsewhere they are a
# row-value IN list, which SQLite answers with one primary-key lookup per pair.
_SELECT_NODES_PG = text(
    "SELECT n.level, n.idx, n.hash FROM log_nodes AS n "
    "JOIN unnest(CAST(:levels AS integer[]), CAST(:indices AS bigint[])) AS k(level, idx) "
    "ON n.level = k.level AND n.idx = k.idx"
)
_SELECT_NODES = select(_NODES.c.level, _NODES.c.idx, _NODES.c.hash).where(
    tuple_(_NODES.c.level, _NODES.c.idx).in_(bindparam("pairs", expanding=True))
)


class _RecordingReader:
    """A NodeReader that records which nodes a computation asks for (answering placeholder hashes).

    The RFC 9162 algorithms choose which nodes to read from sizes and indices alone, never from hash
    values, so one recording pass tells exactly which rows to fetch in a single query.
    """

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def node(self, level: int, index: int) -> bytes:
        self.keys.add((level, index))
        return bytes(32)


class _DictReader:
    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self._nodes = nodes

    def node(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]


def _run_on_stored_nodes(
    session: Session, compute: Callable[[NodeReader], T], known: dict[tuple[int, int], bytes] | None = None
) -> T:
    """Runs `compute` over the stored nodes, fetching every node it needs in one query."""
    recorder = _RecordingReader()
    compute(recorder)
    nodes = dict(known or {})
    wanted = recorder.keys - nodes.keys()
    if wanted:
        pairs = sorted(wanted)
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            rows = connection.execute(
                _SELECT_NODES_PG, {"levels": [lv for lv, _ in pairs], "indices": [ix for _, ix in pairs]}
            ).all()
        else:
            rows = connection.execute(_SELECT_NODES, {"pairs": pairs}).all()
        nodes.update({(level, idx): h for level, idx, h in rows})
    return compute(_DictReader(nodes))


def _encode_event(
    kind: str, data: Mapping[str, Any], sensitive: Mapping[str, str] | None, now: datetime
) -> tuple[bytes, dict[str, tuple[bytes, str]]]:
    """Returns an event's canonical entry bytes and its commitments' openings {name: (salt, value)}."""
    if not _KIND.match(kind) or len(kind) > 64:
        raise ValidationError(f"invalid log event kind {kind!r}")
    openings = {
        name: (secrets.token_bytes(COMMITMENT_SALT_BYTES), value) for name, value in (sensitive or {}).items()
    }
    record = {
        "v": ENTRY_VERSION,
        "kind": kind,
        "time": _timestamp(now),
        "data": dict(data),
        "commitments": {
            name: b64u_encode(commitment(salt, value)) for name, (salt, value) in openings.items()
        },
    }
    try:
        return canonical_json(record), openings
    except ValueError as e:
        raise ValidationError("log event data must be canonical JSON (no floats or bytes)") from e


def queue_event(
    session: Session,
    *,
    kind: str,
    data: Mapping[str, Any],
    sensitive: Mapping[str, str] | None = None,
    now: datetime,
) -> int:
    """Queues one event for the log inside the caller's transaction; the sequencer gives it its place.

    `data` is public; each value in `sensitive` appears only as a salted commitment whose opening is
    kept in log_commitment_openings for auditors. Does not commit: the event exists exactly when the
    change it records does, and a rolled-back change leaves nothing. Takes no lock shared with other
    writers (issue 15). Returns the queue id (not the entry's index: use append_event when the caller
    needs that). Raises ValidationError for a malformed kind or data that cannot be encoded canonically.
    """
    body, openings = _encode_event(kind, data, sensitive, now)
    encoded = (
        canonical_json(
            {name: [b64u_encode(salt), value] for name, (salt, value) in openings.items()}
        ).decode()
        if openings
        else None
    )
    row = session.connection().execute(
        _INSERT_QUEUED, {"kind": kind, "body": body, "openings": encoded, "created_at": now}
    )
    return int(row.scalar_one())


def append_event(
    session: Session,
    log: LogSigner,
    *,
    kind: str,
    data: Mapping[str, Any],
    sensitive: Mapping[str, str] | None = None,
    now: datetime,
) -> int:
    """Appends one event whose place in the tree the caller needs now, inside its transaction.

    Queues the event, then integrates the queue with this event last, so a checkpoint of exactly
    index + 1 entries is signed. Holds the log head until the caller commits, which orders it with the
    sequencer and other such appends; waits at most LOG_LOCK_TIMEOUT_MS for the head on PostgreSQL
    (ServiceUnavailableError, HTTP 503 with Retry-After, beyond), and refuses the same way when more than
    APPEND_BACKLOG_MAX events wait for the sequencer (the step would integrate them all). Returns the
    entry's index; raises ValidationError like queue_event. Use it for the rare events a later step
    cites by index or reads back (disclosure, ceremony, key, roster and staff events); queue_event for
    the frequent ones.
    """
    queued = queue_event(session, kind=kind, data=data, sensitive=sensitive, now=now)
    backlog = queued_count(session)
    if backlog > APPEND_BACKLOG_MAX:
        # Integrating it all here would hold the request (and the log head) for seconds or minutes;
        # the sequencers drain it, and the caller retries (issue 15: bounded, or 503 with Retry-After).
        raise ServiceUnavailableError(
            f"the transparency log's sequencer is {backlog - 1} events behind; try again shortly",
            retry_after_s=1,
        )
    batch = integrate(session, log, now=now, last=queued)
    assert batch is not None  # noqa: S101 - integrate waits for the head when wait=True
    return batch.size - 1


@dataclass(frozen=True, slots=True)
class IntegratedBatch:
    """What one integration did: the tree grew from `start` to `size` entries (one checkpoint)."""

    start: int
    size: int

    @property
    def count(self) -> int:
        return self.size - self.start


def _lock_head(session: Session, *, wait: bool) -> int | None:
    """Takes the log head (one sequencer at a time) and returns the tree size; None if another
    sequencer holds it and `wait` is False.

    PostgreSQL: SELECT ... FOR UPDATE on the single log_state row, with SKIP LOCKED when not waiting
    (docs/transparency.md#sequencing says why not an advisory lock). SQLite has one writer at a time:
    a no-op UPDATE takes the write lock at once (a read first could deadlock on lock upgrade).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if wait:
            connection.execute(text(f"SET LOCAL lock_timeout = {LOG_LOCK_TIMEOUT_MS:d}"))
            try:
                size = int(connection.execute(_LOCK_HEAD_PG).scalar_one())
                connection.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
                return size
            except OperationalError as e:
                if getattr(e.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    raise ServiceUnavailableError(
                        "the transparency log is busy integrating events; try again shortly",
                        retry_after_s=1,
                    ) from e
                raise
        held = connection.execute(_TRY_LOCK_HEAD_PG).scalar_one_or_none()
        return None if held is None else int(held)
    return int(connection.execute(_TOUCH_HEAD).scalar_one())


def integrate(
    session: Session,
    log: LogSigner,
    *,
    now: datetime,
    limit: int | None = None,
    wait: bool = True,
    last: int | None = None,
) -> IntegratedBatch | None:
    """The sequencer: moves queued events into the tree and signs one checkpoint for the new size.

    Takes the log head (`wait`=False: returns None at once if another sequencer holds it), reads up
    to `limit` committed queued events (all when None) in id order, with the queued event `last`
    moved to the end, writes their entries, commitment openings and Merkle nodes, the new head and
    one signed checkpoint, and deletes them from the queue, all in the caller's transaction: a crash
    at any point leaves either the whole batch or none of it. Does not commit. Returns the batch
    (empty, with no new checkpoint, when nothing is queued).
    """
    size = _lock_head(session, wait=wait)
    if size is None:
        return None
    connection = session.connection()
    query = _SELECT_QUEUED if limit is None else _SELECT_QUEUED.limit(limit)
    rows = list(connection.execute(query).all())
    if last is not None:
        rows.sort(key=lambda r: r.id == last)  # stable: the others keep their id order
        if not rows or rows[-1].id != last:
            raise ValidationError(f"queued event {last} is not in the queue")
    if not rows:
        return IntegratedBatch(size, size)
    # Every node an append reads is on the right edge of the tree before the batch or made by it.
    known = _run_on_stored_nodes(session, lambda r: _frontier(r, size))
    entries: list[dict[str, Any]] = []
    openings: list[dict[str, Any]] = []
    nodes: list[dict[str, Any]] = []
    for offset, row in enumerate(rows):
        index = size + offset
        entries.append({"idx": index, "kind": row.kind, "body": row.body, "created_at": row.created_at})
        if row.openings is not None:
            for name, (salt, value) in json.loads(row.openings).items():
                openings.append({"entry_idx": index, "name": name, "salt": b64u_decode(salt), "value": value})
        created = nodes_to_store_after_append(index, leaf_hash(row.body), _DictReader(known))
        known.update({(lv, ix): v for lv, ix, v in created})
        nodes.extend({"level": lv, "idx": ix, "hash": v} for lv, ix, v in created)
    new_size = size + len(rows)
    connection.execute(_INSERT_ENTRY, entries)
    if openings:
        connection.execute(_INSERT_OPENING, openings)
    connection.execute(_INSERT_NODE, nodes)
    connection.execute(_SET_HEAD, {"size": new_size})
    root = root_hash(_DictReader(known), new_size)
    note = sign_note(format_checkpoint(log.origin, new_size, root), log.origin, log.signing_key)
    connection.execute(
        _INSERT_CHECKPOINT, {"size": new_size, "root_hash": root, "note": note, "created_at": now}
    )
    ids = [row.id for row in rows]
    for at in range(0, len(ids), _DELETE_CHUNK):  # PostgreSQL binds at most 65,535 values a statement
        connection.execute(_DELETE_QUEUED, {"ids": ids[at : at + _DELETE_CHUNK]})
    return IntegratedBatch(size, new_size)


def _frontier(reader: NodeReader, size: int) -> dict[tuple[int, int], bytes]:
    """Reads the complete subtrees on the right edge of a tree of `size` leaves (at most log2 size)."""
    nodes: dict[tuple[int, int], bytes] = {}
    for level in range(size.bit_length()):
        if size >> level & 1:
            index = (size >> level) - 1
            nodes[(level, index)] = reader.node(level, index)
    return nodes


def queued_count(session: Session) -> int:
    """Returns the number of committed events waiting for the sequencer."""
    return int(session.execute(select(func.count()).select_from(LogQueued)).scalar_one())


def oldest_queued_at(session: Session) -> datetime | None:
    """Returns when the oldest event waiting for the sequencer was queued (None: the queue is empty).
    Its age is the sequencer's lag: the time an event can be dropped from the queue unseen
    (docs/transparency.md#what-a-seized-server-can-and-cannot-do)."""
    return session.execute(select(func.min(LogQueued.created_at))).scalar_one_or_none()


def tree_size(session: Session) -> int:
    """Returns the number of entries (committed or in this transaction)."""
    return session.execute(select(LogState.size).where(LogState.id == 1)).scalar_one()


def latest_checkpoint(session: Session, log: LogSigner) -> str:
    """Returns the signed checkpoint note for the current tree size (the empty tree is signed on demand)."""
    size = tree_size(session)
    if size == 0:
        return sign_note(format_checkpoint(log.origin, 0, EMPTY_ROOT), log.origin, log.signing_key)
    return checkpoint_at(session, size)


def checkpoint_at(session: Session, size: int) -> str:
    """Returns the signed checkpoint note made when the log reached `size`. Raises NotFoundError."""
    row = session.get(LogCheckpoint, size)
    if row is None:
        raise NotFoundError(f"no checkpoint for tree size {size}")
    return row.note


def checkpoint_sizes(session: Session, *, after: int, limit: int = MAX_ENTRIES_PER_PAGE) -> list[int]:
    """Returns the tree sizes greater than `after` that have a signed checkpoint (one per batch),
    ascending, at most `limit`."""
    rows = session.execute(
        select(LogCheckpoint.size).where(LogCheckpoint.size > after).order_by(LogCheckpoint.size).limit(limit)
    )
    return [int(size) for size in rows.scalars()]


def _check_range(size: int, *values: int) -> None:
    for v in values:
        if v < 0 or v > size:
            raise ValidationError(f"{v} is outside the tree (size {size})")


def entries(session: Session, start: int, end: int) -> list[EntryView]:
    """Returns entries [start, end), at most MAX_ENTRIES_PER_PAGE. Raises ValidationError for a bad range."""
    size = tree_size(session)
    _check_range(size, start, end)
    if start > end:
        raise ValidationError("start must not exceed end")
    end = min(end, start + MAX_ENTRIES_PER_PAGE)
    rows = session.execute(
        select(LogEntry.idx, LogEntry.body)
        .where(LogEntry.idx >= start, LogEntry.idx < end)
        .order_by(LogEntry.idx)
    ).all()
    return [EntryView(index=i, body=b) for i, b in rows]


def prove_inclusion(session: Session, index: int, size: int) -> list[bytes]:
    """Returns the RFC 9162 inclusion proof of entry `index` in the tree of `size` entries."""
    _check_range(tree_size(session), size)
    if not 0 <= index < size:
        raise ValidationError(f"index {index} is not in a tree of size {size}")
    return _run_on_stored_nodes(session, lambda r: inclusion_proof(r, index, size))


def prove_range(session: Session, start: int, end: int, size: int) -> list[bytes]:
    """Returns the range proof of entries [start, end) in the tree of `size` entries (merkle.range_proof).

    Raises ValidationError unless start < end <= size <= the tree size.
    """
    _check_range(tree_size(session), size)
    if not start < end <= size:
        raise ValidationError(f"the range [{start}, {end}) is not a non-empty part of a tree of size {size}")
    return _run_on_stored_nodes(session, lambda r: range_proof(r, start, end, size))


def prove_consistency(session: Session, first: int, second: int) -> list[bytes]:
    """Returns the RFC 9162 consistency proof between tree sizes `first` <= `second`."""
    _check_range(tree_size(session), first, second)
    if first > second:
        raise ValidationError("first size must not exceed second size")
    return _run_on_stored_nodes(session, lambda r: consistency_proof(r, first, second))


def count_events(session: Session, kinds: Sequence[str] | None = None) -> dict[str, int]:
    """Returns the number of entries per kind (all kinds, or those given)."""
    query = select(LogEntry.kind, func.count()).group_by(LogEntry.kind)
    if kinds is not None:
        query = query.where(LogEntry.kind.in_(kinds))
    return {kind: n for kind, n in session.execute(query).all()}


def sequence_pending(
    session_factory: Callable[[], Session],
    log: LogSigner,
    *,
    clock: Callable[[], datetime],
    batch_max: int,
    wait: bool = False,
) -> int:
    """One round of the sequencer: integrates committed queued events in batches of at most
    `batch_max`, each committed with its checkpoint, until the queue is empty. Returns how many events
    it integrated (0 at once when another sequencer holds the log head and `wait` is False).
    """
    integrated = 0
    while True:
        with session_factory() as session:
            # A read first: an idle round takes no lock (on SQLite the head lock is the database's
            # one write lock, which every worker's round would otherwise take every few hundred ms).
            if session.execute(_ANY_QUEUED).first() is None:
                return integrated
            session.rollback()
            batch = integrate(session, log, now=clock(), limit=batch_max, wait=wait)
            session.commit()
        if batch is None:
            return integrated
        integrated += batch.count
        if batch.count < batch_max:
            return integrated
