"""The transparency log: append events in the caller's transaction, sign checkpoints, serve proofs.

An RFC 9162 Merkle tree over canonical JSON entries (escrow.crypto.merkle), stored as its complete
subtrees (log_nodes) so an append writes O(log n) rows and a proof reads O(log^2 n) at worst, never the
whole tree. After each append the service signs a checkpoint (C2SP tlog-checkpoint, escrow.crypto.note)
for the new size. docs/transparency.md gives every byte format.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import nacl.signing
from sqlalchemy import Table, bindparam, func, select, text, tuple_, update
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
from escrow.crypto.transcript import b64u_encode, canonical_json, sha256
from escrow.errors import NotFoundError, ValidationError
from escrow.models import LogCheckpoint, LogCommitmentOpening, LogEntry, LogNode, LogState

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
_RESERVE_INDEX = (
    update(_STATE).where(_STATE.c.id == 1).values(size=_STATE.c.size + 1).returning(_STATE.c.size)
)
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


def append_event(
    session: Session,
    log: LogSigner,
    *,
    kind: str,
    data: Mapping[str, Any],
    sensitive: Mapping[str, str] | None = None,
    now: datetime,
) -> int:
    """Appends one event to the log inside the caller's transaction and signs the new checkpoint.

    `data` is public; each value in `sensitive` appears only as a salted commitment whose opening is
    kept in log_commitment_openings for auditors. Does not commit: the entry exists exactly when the
    change it records does. Returns the entry's index. Raises ValidationError for a malformed kind or
    data that cannot be encoded canonically.
    """
    if not _KIND.match(kind) or len(kind) > 64:
        raise ValidationError(f"invalid log event kind {kind!r}")
    openings = {name: secrets.token_bytes(COMMITMENT_SALT_BYTES) for name in sensitive or {}}
    record = {
        "v": ENTRY_VERSION,
        "kind": kind,
        "time": _timestamp(now),
        "data": dict(data),
        "commitments": {
            name: b64u_encode(commitment(salt, (sensitive or {})[name])) for name, salt in openings.items()
        },
    }
    try:
        body = canonical_json(record)
    except ValueError as e:
        raise ValidationError("log event data must be canonical JSON (no floats or bytes)") from e

    # Reserve the next index atomically; this row lock orders all appenders (docs/transparency.md).
    connection = session.connection()
    size = int(connection.execute(_RESERVE_INDEX).scalar_one())
    index = size - 1
    connection.execute(_INSERT_ENTRY, {"idx": index, "kind": kind, "body": body, "created_at": now})
    if openings:
        connection.execute(
            _INSERT_OPENING,
            [
                {"entry_idx": index, "name": name, "salt": salt, "value": (sensitive or {})[name]}
                for name, salt in openings.items()
            ],
        )
    created = _run_on_stored_nodes(session, lambda r: nodes_to_store_after_append(index, leaf_hash(body), r))
    connection.execute(_INSERT_NODE, [{"level": lv, "idx": ix, "hash": v} for lv, ix, v in created])
    root = _run_on_stored_nodes(session, lambda r: root_hash(r, size), {(lv, ix): v for lv, ix, v in created})
    note = sign_note(format_checkpoint(log.origin, size, root), log.origin, log.signing_key)
    connection.execute(_INSERT_CHECKPOINT, {"size": size, "root_hash": root, "note": note, "created_at": now})
    return index


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
