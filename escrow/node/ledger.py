"""The node's own append-only record (stdlib sqlite3): how many elements it evaluated, and when.

One row per answered request (time and element count, no input: the node never sees one). Rows cannot
be updated or deleted (triggers), so the published hourly counts only ever grow. Quotas per minute,
hour and day are checked against per-minute counters kept beside it, and counted, in one
``BEGIN IMMEDIATE`` transaction, so gunicorn workers sharing the file cannot together exceed a quota.
The same transaction remembers each request's nonce for the freshness window: a replayed request is
refused.

Durability: WAL with ``synchronous=NORMAL``. A committed answer survives the node process being
killed (kill -9: the write-ahead log is in the operating system's hands); a power loss or kernel crash
can lose the last transactions before a checkpoint, which undercounts by at most those answers.
Waiting for the disk on every request would cost more than the evaluation itself (docs/benchmarks.md).
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

WINDOW_MINUTES: Final[Mapping[str, int]] = {"minute": 1, "hour": 60, "day": 1440}
MINUTE_MS: Final = 60_000
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
CREATE TABLE IF NOT EXISTS minute_counts (minute INTEGER PRIMARY KEY, elements INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_at ON nonces (at_ms);
"""
# The three windows in one range read of at most 1440 counters (the current minute is the newest).
_USED: Final = """
SELECT COALESCE(SUM(CASE WHEN minute > :now - 1 THEN elements END), 0),
       COALESCE(SUM(CASE WHEN minute > :now - 60 THEN elements END), 0),
       COALESCE(SUM(elements), 0),
       MIN(CASE WHEN minute > :now - 60 THEN minute END),
       MIN(minute)
FROM minute_counts WHERE minute > :now - 1440
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
        self._connect().executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():  # never reuse one across fork
            self._local.pid = os.getpid()
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def admit(self, *, nonce: bytes, elements: int, now_ms: int, limits: Limits, freshness_ms: int) -> None:
        """Counts `elements` for a request with `nonce` at `now_ms`, or refuses it with nothing counted.

        Raises ReplayedRequestError for a nonce seen within the freshness window and QuotaExceededError
        if any window would pass its limit.
        """
        minute = now_ms // MINUTE_MS
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            # Twice the window: a request is fresh for +/- freshness_ms, so its nonce must outlive both.
            db.execute("DELETE FROM nonces WHERE at_ms < ?", (now_ms - 2 * freshness_ms,))
            try:
                db.execute("INSERT INTO nonces (nonce, at_ms) VALUES (?, ?)", (nonce, now_ms))
            except sqlite3.IntegrityError:
                raise ReplayedRequestError("this request was already answered (its nonce is spent)") from None
            used_minute, used_hour, used_day, oldest_hour, oldest_day = db.execute(
                _USED, {"now": minute}
            ).fetchone()
            for window, used, limit, oldest in (
                ("minute", used_minute, limits.minute, minute),
                ("hour", used_hour, limits.hour, oldest_hour),
                ("day", used_day, limits.day, oldest_day),
            ):
                if used + elements > limit:
                    raise QuotaExceededError(window, limit, _retry_after(window, oldest, now_ms, used))
            db.execute("INSERT INTO evaluations (at_ms, elements) VALUES (?, ?)", (now_ms, elements))
            db.execute(
                "INSERT INTO minute_counts (minute, elements) VALUES (?, ?) "
                "ON CONFLICT (minute) DO UPDATE SET elements = elements + excluded.elements",
                (minute, elements),
            )
            db.execute("DELETE FROM minute_counts WHERE minute <= ?", (minute - 1440,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def hourly_counts(self, *, hours: int, now_ms: int) -> tuple[tuple[datetime, int], ...]:
        """Returns (UTC hour, elements) for the last `hours` hours that had any evaluation, newest first."""
        since = (now_ms // HOUR_MS - hours + 1) * HOUR_MS
        rows = self._connect().execute(
            "SELECT at_ms / ? AS h, SUM(elements) FROM evaluations WHERE at_ms >= ? "
            "GROUP BY h ORDER BY h DESC",
            (HOUR_MS, since),
        )
        return tuple((datetime.fromtimestamp(h * HOUR_MS / 1000, UTC), int(n)) for h, n in rows)


def _retry_after(window: str, oldest_minute: int | None, now_ms: int, used: int) -> int:
    """Seconds until the oldest counted minute of `window` leaves it (the whole window if none is
    counted: the request alone is larger than the limit, and no wait helps)."""
    span = WINDOW_MINUTES[window]
    if oldest_minute is None or not used:
        return span * 60
    leaves_ms = (oldest_minute + span) * MINUTE_MS
    return max(1, math.ceil((leaves_ms - now_ms) / 1000))
