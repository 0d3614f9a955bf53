"""Holding each OPRF node's public counts against the transparency log (issue 13, docs/oprf.md).

The service logs, for every finished UTC hour, how many elements it sent to each node (``oprf.usage``);
each node publishes how many it evaluated per hour (``GET /stats``) and its public share (``GET /key``).
A node that evaluated more in an hour than the log says it was sent was asked by someone other than the
logging service: a seized server testing guessed identities, say. A node whose key or public share is
not the one the log recorded (``oprf.key_activated``) is not a node of the logged key. This runs on an
auditor's machine (the light install) over a log it has verified itself (escrow.client.audit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from escrow.client.http import HttpClient
from escrow.crypto.errors import CryptoError
from escrow.crypto.ristretto import Element
from escrow.crypto.transcript import b64u_decode
from escrow.protocol._fields import utc_second
from escrow.protocol.errors import ProtocolError
from escrow.protocol.oprf import NodeKey, NodeStats
from escrow.protocol.transparency import LogEntry


@dataclass(frozen=True, slots=True)
class LoggedKey:
    """The OPRF key as the log recorded it: id, threshold and every node's public share."""

    key_id: str
    threshold: int
    public_shares: dict[int, Element]


@dataclass(slots=True)
class UsageAudit:
    """What the comparison found; `excess` holds the lines that mean someone else asked a node."""

    key: LoggedKey | None
    hours_logged: int = 0
    lines: list[str] = field(default_factory=list)
    excess: list[str] = field(default_factory=list)
    key_mismatch: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.excess and not self.key_mismatch


def _events(entries: Sequence[LogEntry], kind: str) -> list[dict[str, Any]]:
    found = []
    for entry in entries:
        event = entry.event()
        if event.get("kind") == kind:
            found.append(event["data"])
    return found


def logged_key(entries: Sequence[LogEntry]) -> LoggedKey | None:
    """Returns the last OPRF key the log activated (None if there is none).

    Raises ProtocolError if its record is malformed.
    """
    events = _events(entries, "oprf.key_activated")
    return key_from_event(events[-1]) if events else None


def key_from_event(data: object) -> LoggedKey:
    """Returns the OPRF key an ``oprf.key_activated`` event's data records. Raises ProtocolError."""
    if not isinstance(data, dict):
        raise ProtocolError("the log's oprf.key_activated record is malformed")
    try:
        shares = {int(i): Element.decode(b64u_decode(v, length=32)) for i, v in data["public_shares"].items()}
        return LoggedKey(str(data["key_id"]), int(data["threshold"]), shares)
    except (KeyError, TypeError, ValueError, AttributeError, CryptoError) as e:
        raise ProtocolError("the log's oprf.key_activated record is malformed") from e


def logged_usage(entries: Sequence[LogEntry]) -> dict[datetime, dict[int, int]]:
    """Returns hour -> node -> elements the service says it sent, from every ``oprf.usage`` entry.

    Raises ProtocolError if an entry is malformed.
    """
    usage: dict[datetime, dict[int, int]] = {}
    for data in _events(entries, "oprf.usage"):
        try:
            hour = utc_second(data, "hour", "oprf.usage")
            nodes = {int(i): int(n) for i, n in data.get("nodes", {}).items()}
        except (TypeError, ValueError, AttributeError) as e:
            raise ProtocolError("an oprf.usage entry of the log is malformed") from e
        usage[hour] = nodes
    return usage


def audit_usage(entries: Sequence[LogEntry], nodes: Mapping[int, HttpClient]) -> UsageAudit:
    """Compares each node's /key and /stats with the verified log `entries`.

    Raises RemoteError (escrow.client.http) when a node cannot be reached, ProtocolError when its
    answer or the log is malformed.
    """
    key = logged_key(entries)
    usage = logged_usage(entries)
    audit = UsageAudit(key, hours_logged=len(usage))
    if key is None:
        audit.lines.append("the log records no OPRF key yet")
        return audit
    audit.lines.append(
        f"log: OPRF key {key.key_id}, {key.threshold} of {len(key.public_shares)} nodes; "
        f"{len(usage)} finished hour(s) of counts"
    )
    for index, client in sorted(nodes.items()):
        node_key = NodeKey.parse(client.get_bytes("/key"))
        if node_key.key_id != key.key_id or node_key.node != index:
            audit.key_mismatch.append(
                f"node {index}: serves node {node_key.node} of key {node_key.key_id}, "
                f"not node {index} of {key.key_id}"
            )
            continue
        if key.public_shares.get(index) != node_key.public_share:
            audit.key_mismatch.append(f"node {index}: its public share is not the one the log recorded")
            continue
        stats = NodeStats.parse(client.get_bytes("/stats"))
        compared = 0
        for hour, evaluated in stats.hours:
            if hour not in usage:
                continue  # the current hour, or one older than the log's counts: nothing to hold it to
            compared += 1
            sent = usage[hour].get(index, 0)
            if evaluated > sent:
                audit.excess.append(
                    f"node {index}: evaluated {evaluated} element(s) in the hour from {hour.isoformat()}, "
                    f"the log says the service sent it {sent}: someone else asked this node"
                )
        audit.lines.append(f"node {index}: key and public share match the log; {compared} hour(s) compared")
    return audit
