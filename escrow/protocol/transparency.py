"""The transparency log's JSON wire formats: entries and RFC 9162 proofs as /api/v1/log serves them.

Checkpoints are C2SP tlog-checkpoint signed notes (escrow.crypto.note); the proofs here are checked
against a checkpoint's root with escrow.crypto.merkle. The version is the API's (/api/v1): a new
format gets a new path. Parsers are strict: exact types, canonical base64url, hashes of 32 bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from escrow.crypto.errors import EncodingError
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.protocol.errors import ProtocolError

HASH_BYTES: Final = 32
MAX_PAGE: Final = 1000  # entries per page (escrow.services.transparency.MAX_ENTRIES_PER_PAGE)


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProtocolError(f"{what} must be a JSON object")
    return data


def _count(data: Mapping[str, Any], name: str, what: str) -> int:
    value = data.get(name)
    if type(value) is not int or value < 0:
        raise ProtocolError(f"{what}: {name!r} must be a non-negative integer")
    return value


def _hashes(data: Mapping[str, Any], what: str) -> tuple[bytes, ...]:
    value = data.get("proof")
    if not isinstance(value, list):
        raise ProtocolError(f"{what}: 'proof' must be a list of hashes")
    try:
        return tuple(b64u_decode(h, length=HASH_BYTES) for h in value)
    except EncodingError as e:
        raise ProtocolError(f"{what}: a proof hash is not 32 bytes of base64url") from e


def _encoded(hashes: Sequence[bytes]) -> list[str]:
    return [b64u_encode(h) for h in hashes]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 section 2.1.3: entry ``index`` is in the tree of ``tree_size`` entries."""

    index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "tree_size": self.tree_size, "proof": _encoded(self.hashes)}

    @classmethod
    def from_dict(cls, data: object) -> InclusionProof:
        """Returns the proof in ``data``. Raises ProtocolError if malformed."""
        what = "inclusion proof"
        body = _object(data, what)
        return cls(_count(body, "index", what), _count(body, "tree_size", what), _hashes(body, what))


@dataclass(frozen=True, slots=True)
class RangeProof:
    """The hashes that, with entries [start, end), rebuild the root of the tree of ``tree_size``."""

    start: int
    end: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "tree_size": self.tree_size,
            "proof": _encoded(self.hashes),
        }

    @classmethod
    def from_dict(cls, data: object) -> RangeProof:
        """Returns the proof in ``data``. Raises ProtocolError if malformed."""
        what = "range proof"
        body = _object(data, what)
        return cls(
            _count(body, "start", what),
            _count(body, "end", what),
            _count(body, "tree_size", what),
            _hashes(body, what),
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 section 2.1.4: the tree of ``second`` entries extends the tree of ``first``."""

    first: int
    second: int
    hashes: tuple[bytes, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second, "proof": _encoded(self.hashes)}

    @classmethod
    def from_dict(cls, data: object) -> ConsistencyProof:
        """Returns the proof in ``data``. Raises ProtocolError if malformed."""
        what = "consistency proof"
        body = _object(data, what)
        return cls(_count(body, "first", what), _count(body, "second", what), _hashes(body, what))


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry: its index and the exact leaf bytes (canonical JSON of the event)."""

    index: int
    body: bytes

    def to_dict(self) -> dict[str, Any]:
        # `event` is a convenience copy for readers; verifiers hash `body`, never `event`.
        return {"index": self.index, "body": b64u_encode(self.body), "event": json.loads(self.body)}

    def event(self) -> dict[str, Any]:
        """Returns the decoded event. Raises ProtocolError if the leaf is not a JSON event object."""
        try:
            event = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            raise ProtocolError(f"log entry {self.index} is not JSON") from e
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise ProtocolError(f"log entry {self.index} is not a log event")
        return event


@dataclass(frozen=True, slots=True)
class EntriesPage:
    """A page of consecutive entries and the log's size when it was read."""

    tree_size: int
    entries: tuple[LogEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: object, *, start: int) -> EntriesPage:
        """Returns the page in ``data``, whose entries must be consecutive from ``start``.

        Raises ProtocolError if malformed, out of order or longer than a page.
        """
        what = "log entries"
        body = _object(data, what)
        rows = body.get("entries")
        if not isinstance(rows, list) or len(rows) > MAX_PAGE:
            raise ProtocolError(f"{what}: 'entries' must be a list of at most {MAX_PAGE}")
        entries = []
        for expected, row in enumerate(rows, start):
            entry = _object(row, f"log entry {expected}")
            if entry.get("index") != expected or type(entry.get("index")) is not int:
                raise ProtocolError(
                    f"entry {expected} is missing (the server sent index {entry.get('index')!r})"
                )
            try:
                entries.append(LogEntry(expected, b64u_decode(entry.get("body"))))  # type: ignore[arg-type]
            except EncodingError as e:
                raise ProtocolError(f"entry {expected} is malformed") from e
        return cls(_count(body, "tree_size", what), tuple(entries))
