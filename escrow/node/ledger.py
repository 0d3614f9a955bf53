"""The node's own append-only record (stdlib sqlite3): how many elements it evaluated, and when.

One row per answered request (time and element count, no input: the node never sees one). Quotas per
minute, hour and day are sums over this table, checked and counted in one ``BEGIN IMMEDIATE``
transaction, so gunicorn workers sharing the file cannot together exceed a quota. Rows cannot be
updated or deleted (triggers), so the published hourly counts only ever grow. The same transaction
remembers each request's nonce for the freshness window: a replayed request is refused.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

WINDOWS_MS: Final[Mapping[str, int]] = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
HOUR_MS: Final = 3_600_000
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    elements INTEGER NOT NULL CHECK (elements > 0)
);
CREATE INDEX IF NOT EXISTS evaluations_at ON evaluations (at_ms);
CREATE TRIGGER IF NOT EXISTS evaluations_no_update BEFORE UPDATE ON evaluations
    BEGIN SELECT RAISE(ABORT, 'the evaluation record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS evaluations_no_delete BEFORE DELETE ON evaluations
    BEGIN SELECT RAISE(ABORT, 'the evaluation record is append-only'); END;
CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_at ON nonces (at_ms);
"""


class QuotaExceededError(Exception):
    """The request would take a quota window past its limit; `retry_after` seconds until it would not."""

    def __init__(self, window: str, limit: int, retry_after: int) -> None:
        super().__init__(f"this node evaluates at most {limit} elements per {window}; try again later")
        self.window = window
        self.retry_after = retry_after


class ReplayedRequestError(Exception):
    """A request with this nonce was already answered."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Elements per window; every window is enforced."""

    minute: int
    hour: int
    day: int

    def as_dict(self) -> dict[str, int]:
        return {"minute": self.minute, "hour": self.hour, "day": self.day}


class Ledger:
    """The node's record in one SQLite file (WAL), safe to share between processes and threads."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():  # never reuse one across fork
            self._local.pid = os.getpid()
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def admit(self, *, nonce: bytes, elements: int, now_ms: int, limits: Limits, freshness_ms: int) -> None:
        """Counts `elements` for a request with `nonce` at `now_ms`, or refuses it with nothing counted.

        Raises ReplayedRequestError for a nonce seen within the freshness window and QuotaExceededError
        if any window would pass its limit.
        """
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            # Twice the window: a request is fresh for +/- freshness_ms, so its nonce must outlive both.
            db.execute("DELETE FROM nonces WHERE at_ms < ?", (now_ms - 2 * freshness_ms,))
            try:
                db.execute("INSERT INTO nonces (nonce, at_ms) VALUES (?, ?)", (nonce, now_ms))
            except sqlite3.IntegrityError:
                raise ReplayedRequestError("this request was already answered (its nonce is spent)") from None
            for window, limit in limits.as_dict().items():
                start = now_ms - WINDOWS_MS[window]
                used = db.execute(
                    "SELECT COALESCE(SUM(elements), 0) FROM evaluations WHERE at_ms > ?", (start,)
                ).fetchone()[0]
                if used + elements > limit:
                    raise QuotaExceededError(window, limit, self._retry_after(db, start, now_ms, window))
            db.execute("INSERT INTO evaluations (at_ms, elements) VALUES (?, ?)", (now_ms, elements))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _retry_after(db: sqlite3.Connection, start: int, now_ms: int, window: str) -> int:
        oldest: int | None = db.execute(
            "SELECT MIN(at_ms) FROM evaluations WHERE at_ms > ?", (start,)
        ).fetchone()[0]
        if oldest is None:  # the request alone is larger than the limit: no wait helps
            return math.ceil(WINDOWS_MS[window] / 1000)
        return max(1, math.ceil((oldest + WINDOWS_MS[window] - now_ms) / 1000))

    def hourly_counts(self, *, hours: int, now_ms: int) -> tuple[tuple[datetime, int], ...]:
        """Returns (UTC hour, elements) for the last `hours` hours that had any evaluation, newest first."""
        since = (now_ms // HOUR_MS - hours + 1) * HOUR_MS
        rows = self._connect().execute(
            "SELECT at_ms / ? AS h, SUM(elements) FROM evaluations WHERE at_ms >= ? "
            "GROUP BY h ORDER BY h DESC",
            (HOUR_MS, since),
        )
        return tuple((datetime.fromtimestamp(h * HOUR_MS / 1000, UTC), int(n)) for h, n in rows)
