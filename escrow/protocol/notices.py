"""When a person is told of a disclosure, as anyone can compute it from the public log (issue 14).

The notice date is the time of the request's `disclosure.disclosed` entry plus the notification delay
its officers signed: `notify_delay_days` of the signed request body (logged in `disclosure.submitted`),
replaced by each signed, co-signed extension (`disclosure.notification_extended`). When it falls due
the service logs `disclosure.notice_due` with the notice tags of the envelopes in scope
(escrow.crypto.pseudonym.PseudonymSecret.notice_tag), which only the person can recognise.
`escrow audit verify` (escrow.client.audit.check_notices) replays the log with `replay_notices` and
flags a disclosed request whose notice is due but was never announced.

Pure: no database, no Flask. The service computes the same date from the signed documents it stores
(escrow.services.disclosure.notices) with `notice_due_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

NOTICE_DUE_KIND: Final = "disclosure.notice_due"
SUBMITTED_KIND: Final = "disclosure.submitted"
DISCLOSED_KIND: Final = "disclosure.disclosed"
EXTENDED_KIND: Final = "disclosure.notification_extended"
DAY: Final = timedelta(days=1)
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


def notice_due_at(disclosed_at: datetime, notify_delay_days: int) -> datetime:
    """Returns when the person is told: the reveal plus the signed delay, in whole days."""
    return disclosed_at + notify_delay_days * DAY


def parse_time(text: object) -> datetime | None:
    """Returns the UTC time of a log entry's `time` (YYYY-MM-DDTHH:MM:SSZ), or None if malformed."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime(TIME_FORMAT)


@dataclass(slots=True)
class LoggedNotice:
    """What the log says of one request's notice: the signed delay, the reveal, the announcement."""

    request: int
    delay_days: int | None = None
    disclosed_at: datetime | None = None
    due_index: int | None = None
    due_notice_at: str | None = None
    due_time: datetime | None = None

    @property
    def notice_at(self) -> datetime | None:
        """When the notice falls due; None before the reveal or if the log holds no signed delay
        (requests submitted before issue 14 logged none)."""
        if self.disclosed_at is None or self.delay_days is None:
            return None
        return notice_due_at(self.disclosed_at, self.delay_days)


def _request(data: Mapping[str, Any]) -> int | None:
    value = data.get("request")
    return value if type(value) is int else None


def replay_notices(events: Iterable[tuple[int, Mapping[str, Any]]]) -> dict[int, LoggedNotice]:
    """Returns, per request id, what the log's events (index, decoded event), in log order, say of its
    notice. Events of other kinds, and malformed members, are ignored (the caller verified the log)."""
    notices: dict[int, LoggedNotice] = {}
    for index, event in events:
        kind, data = event.get("kind"), event.get("data")
        if kind not in (SUBMITTED_KIND, DISCLOSED_KIND, EXTENDED_KIND, NOTICE_DUE_KIND):
            continue
        if not isinstance(data, Mapping) or (request := _request(data)) is None:
            continue
        notice = notices.setdefault(request, LoggedNotice(request))
        days = data.get("notify_delay_days")
        if kind in (SUBMITTED_KIND, EXTENDED_KIND) and type(days) is int:
            notice.delay_days = days
        elif kind == DISCLOSED_KIND:
            notice.disclosed_at = parse_time(event.get("time"))
        elif kind == NOTICE_DUE_KIND and notice.due_index is None:
            notice.due_index = index
            notice.due_notice_at = data.get("notice_at") if isinstance(data.get("notice_at"), str) else None
            notice.due_time = parse_time(event.get("time"))
    return notices
