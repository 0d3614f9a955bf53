"""The witness's own state (stdlib sqlite3): per log origin, the latest size and root it cosigned.

The check of a request's old size and the update to the new checkpoint run in one ``BEGIN IMMEDIATE``
transaction (c2sp.org/tlog-witness: otherwise two requests could roll the state back), and triggers
refuse any update that lowers a size or changes the root of the same size, and any delete: the state
never rolls back, whatever the code above it does. ``synchronous=FULL``: a cosigned checkpoint is on
disk before its cosignature is sent, so a power loss cannot make the witness forget what it cosigned.

Refused requests that prove the log misbehaved (a second root for a size it cosigned, a proof that
does not verify), signed by the log's key, are kept in ``evidence``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from escrow.crypto.merkle import EMPTY_ROOT

T = TypeVar("T")
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),
    checkpoint TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS logs_never_roll_back BEFORE UPDATE ON logs
    WHEN NEW.size < OLD.size OR (NEW.size = OLD.size AND NEW.root_hash != OLD.root_hash)
    BEGIN SELECT RAISE(ABORT, 'a witness never rolls back'); END;
CREATE TRIGGER IF NOT EXISTS logs_never_forget BEFORE DELETE ON logs
    BEGIN SELECT RAISE(ABORT, 'a witness never forgets a log'); END;
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class LogHead:
    """What the witness holds for one log: the size and root hash it last cosigned."""

    size: int
    root_hash: bytes


class WitnessState:
    """The witness's state in one SQLite file, safe to share between processes and threads."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._connect().executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():  # never reuse one across fork
            self._local.pid = os.getpid()
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def head(self, origin: str) -> LogHead:
        """The latest cosigned head of `origin` (size 0 and the empty root if it never cosigned one)."""
        row = (
            self._connect().execute("SELECT size, root_hash FROM logs WHERE origin = ?", (origin,)).fetchone()
        )
        return LogHead(0, EMPTY_ROOT) if row is None else LogHead(int(row[0]), bytes(row[1]))

    def advance(self, origin: str, decide: Callable[[LogHead], tuple[LogHead, str, T]], *, now_ms: int) -> T:
        """Runs `decide(current head)` inside one write transaction: it returns the new head, its
        checkpoint note and a result, or raises to refuse (nothing changes). Returns the result once
        the new head is committed and durable."""
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            current = self.head(origin)
            new, checkpoint, result = decide(current)
            db.execute(
                "INSERT INTO logs (origin, size, root_hash, checkpoint, updated_ms) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root_hash = excluded.root_hash, "
                "checkpoint = excluded.checkpoint, updated_ms = excluded.updated_ms",
                (origin, new.size, new.root_hash, checkpoint, now_ms),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    def keep_evidence(self, origin: str, reason: str, request: bytes, *, now_ms: int) -> None:
        self._connect().execute(
            "INSERT INTO evidence (origin, at_ms, reason, request) VALUES (?, ?, ?, ?)",
            (origin, now_ms, reason, request),
        )

    def heads(self) -> dict[str, tuple[int, bytes]]:
        rows = self._connect().execute("SELECT origin, size, root_hash FROM logs ORDER BY origin")
        return {origin: (int(size), bytes(root)) for origin, size, root in rows}

    def evidence_count(self) -> int:
        return int(self._connect().execute("SELECT count(*) FROM evidence").fetchone()[0])
