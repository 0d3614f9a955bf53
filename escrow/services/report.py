"""The public transparency report, computed from the public log alone (anyone can recompute it), and
the witness alarms: every time a witness refused to cosign a checkpoint or did not answer (issue 15)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.errors import InvalidStateError
from escrow.models import LogEntry
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.witnessing import recent_alarms

# Report rows and the log event kinds they count (docs/transparency.md#events).
METRICS: dict[str, str] = {
    "registrations": "person.registered",
    "credentials_issued": "credential.issued",
    "requests_submitted": "disclosure.submitted",
    "requests_cosigned": "disclosure.cosigned",
    "requests_approved": "disclosure.approved",
    "requests_rejected": "disclosure.rejected",
    "requests_expired": "disclosure.expired",
    "requests_withdrawn": "disclosure.withdrawn",
    "notification_delays_extended": "disclosure.notification_extended",
    "identities_disclosed": "disclosure.disclosed",
}
_DISCLOSURE_KINDS = {k for k in METRICS.values() if k.startswith("disclosure.")}
# A holder is listed from enrolment (or from joining a key in a reshare) until a reshare leaves them out.
_HOLDER_KINDS = ("keyholder.enrolled", "keyholder.joined", "keyholder.removed")


@dataclass(frozen=True, slots=True)
class Report:
    """Per-quarter counts, disclosures by court, the key-holders, and the escrow key in force."""

    quarters: list[str]
    counts: dict[str, dict[str, int]]  # metric -> quarter -> count
    by_court: dict[str, dict[str, int]]  # court -> metric -> count (disclosure metrics only)
    keyholders: list[dict[str, str]] = field(default_factory=list)
    escrow_key: dict[str, Any] | None = None
    # The newest witness alarms: witness, size, HTTP status (None: no answer), detail, time.
    witness_alarms: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quarters": self.quarters,
            "counts": self.counts,
            "by_court": self.by_court,
            "keyholders": self.keyholders,
            "escrow_key": self.escrow_key,
            "witness_alarms": self.witness_alarms,
        }


def quarter_of(moment: datetime) -> str:
    """Returns the calendar quarter label, e.g. '2026-Q4'."""
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def build_report(session: Session) -> Report:
    """Returns the report for the whole log (a query over the kinds it counts)."""
    kinds = set(METRICS.values()) | set(_HOLDER_KINDS)
    rows = session.execute(
        select(LogEntry.kind, LogEntry.created_at, LogEntry.body)
        .where(LogEntry.kind.in_(kinds))
        .order_by(LogEntry.idx)
    ).all()
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    by_court: dict[str, Counter[str]] = defaultdict(Counter)
    holders: dict[str, dict[str, str]] = {}  # holder id -> name and organisation
    quarters: set[str] = set()
    metric_of = {kind: metric for metric, kind in METRICS.items()}
    for kind, created_at, body in rows:
        data = json.loads(body).get("data", {})
        if kind in _HOLDER_KINDS:
            name = str(data.get("name", ""))
            who = str(data.get("holder", name))  # the holder's id; two holders may share a name
            if kind != "keyholder.removed":
                holders[who] = {"name": name, "organisation": str(data.get("organisation", ""))}
            else:
                holders.pop(who, None)
            continue
        quarter = quarter_of(created_at)
        quarters.add(quarter)
        per_kind[metric_of[kind]][quarter] += 1
        if kind in _DISCLOSURE_KINDS and data.get("court"):
            by_court[str(data["court"])][metric_of[kind]] += 1
    ordered = sorted(quarters)
    try:
        key = active_escrow_key(session)
        escrow_key: dict[str, Any] | None = {
            "key_id": key.key_id,
            "threshold": key.threshold,
            "holders": len(key.verification_keys),
        }
    except InvalidStateError:
        escrow_key = None
    return Report(
        quarters=ordered,
        counts={metric: {q: per_kind[metric][q] for q in ordered} for metric in METRICS},
        by_court={court: dict(sorted(c.items())) for court, c in sorted(by_court.items())},
        keyholders=sorted(holders.values(), key=lambda h: (h["organisation"], h["name"])),
        escrow_key=escrow_key,
        witness_alarms=[
            {
                "witness": a.witness,
                "size": a.size,
                "status": a.status,
                "detail": a.detail,
                "time": a.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for a in recent_alarms(session)
        ],
    )
