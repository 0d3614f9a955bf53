"""Telling the person (issue 14): a notice date no stored column decides, announced in the public log.

The notice date comes only from what the request's officers signed, which holders and auditors check:
the `notify_delay_days` of the signed request body (its digest must still be the one signed), replaced
by each effective extension whose signed body (digest, request digest and old delay checked) the log
recorded as in force (`disclosure.notification_extended`), counted from the log's
`disclosure.disclosed` entry. The `notify_delay_s` and `disclosed_at` columns are never read for it,
so one UPDATE neither suppresses nor delays a notice.

When a notice falls due, `announce_due_notices` (run by `escrow disclosures sweep` and lazily on the
person's notices) logs `disclosure.notice_due` with the notice tags of the envelopes in scope. A
person finds their disclosures by matching the tags of their own pseudonyms (computed from the
pseudonym secret of their session) against those events. Envelopes issued before issue 14 carry no
tag: the event counts them as `untagged`, and the person's page finds them by their pseudonyms, as
before (on the service's word only).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import extension_digest
from escrow.crypto.errors import CryptoError
from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.seal import Envelope
from escrow.crypto.transcript import b64u_encode
from escrow.errors import InvalidStateError
from escrow.models import Court, DisclosureRequest, DisclosureScope, LogEntry, Platform
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.errors import ProtocolError
from escrow.protocol.notices import (
    DISCLOSED_KIND,
    EXTENDED_KIND,
    NOTICE_DUE_KIND,
    format_time,
    notice_due_at,
    parse_time,
)
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.states import ExtensionState, RequestState
from escrow.services.disclosure.views import DisclosureNotice
from escrow.services.pseudonyms import person_pseudonyms_filter
from escrow.services.transparency import LogSigner, append_event


@dataclass(frozen=True, slots=True)
class SignedNotice:
    """A disclosed request's notice date, from its signed documents and the log."""

    request_id: int
    notify_delay_days: int
    disclosed_at: datetime
    notice_at: datetime


def _logged(session: Session, kind: str, request_id: int) -> list[dict[str, Any]]:
    # Few entries have these kinds, and `kind` is indexed.
    events = []
    for body in session.scalars(select(LogEntry.body).where(LogEntry.kind == kind).order_by(LogEntry.idx)):
        event = json.loads(body)
        if event.get("data", {}).get("request") == request_id:
            events.append(event)
    return events


def signed_delay_days(session: Session, row: DisclosureRequest) -> int:
    """Returns the notification delay of `row` in days as its officers signed it: the signed body's,
    replaced by each effective extension that the log records in force and whose signed body (digest,
    request digest) continues the chain from the delay before it. An extension that does not (a row
    changed in the database) is skipped, which can only make the notice earlier.

    Raises InvalidStateError if the stored body no longer matches the digest its officers signed.
    """
    try:
        body = DisclosureBody.from_json(row.body)
    except ProtocolError as e:
        raise InvalidStateError(f"the stored body of request {row.id} is malformed") from e
    if not hmac.compare_digest(body.digest(), row.digest):
        raise InvalidStateError(f"the stored body of request {row.id} is not the one its officers signed")
    days = body.notify_delay_days
    in_force = {e["data"].get("sequence") for e in _logged(session, EXTENDED_KIND, row.id)}
    for extension in shared.extensions_of(session, row):
        if extension.status != ExtensionState.EFFECTIVE or extension.sequence not in in_force:
            continue
        try:
            signed = json.loads(extension.body)
            is_signed = hmac.compare_digest(extension_digest(signed), extension.digest)
        except (ValueError, CryptoError):
            continue
        if (
            is_signed
            and signed.get("request_digest") == b64u_encode(row.digest)
            and signed.get("old_delay_days") == days
            and type(signed.get("new_delay_days")) is int
        ):
            days = signed["new_delay_days"]
    return days


def signed_notice(session: Session, row: DisclosureRequest) -> SignedNotice | None:
    """Returns the notice date of `row` (None before its reveal): its logged reveal plus
    signed_delay_days. Raises InvalidStateError (a stored body changed, or no logged reveal)."""
    if row.status != RequestState.DISCLOSED:
        return None
    days = signed_delay_days(session, row)
    revealed = _logged(session, DISCLOSED_KIND, row.id)
    disclosed_at = parse_time(revealed[0].get("time")) if revealed else None
    if disclosed_at is None:
        raise InvalidStateError(f"the log records no reveal of request {row.id}")
    return SignedNotice(row.id, days, disclosed_at, notice_due_at(disclosed_at, days))


def _announced(session: Session) -> dict[int, dict[str, object]]:
    found: dict[int, dict[str, object]] = {}
    for body in session.scalars(select(LogEntry.body).where(LogEntry.kind == NOTICE_DUE_KIND)):
        data = json.loads(body).get("data", {})
        if type(data.get("request")) is int:
            found.setdefault(data["request"], data)
    return found


def _tags(session: Session, row: DisclosureRequest) -> tuple[list[str], int]:
    tags, untagged = set(), 0
    for item in shared.scope_rows(session, row):
        try:
            tag = Envelope.from_bytes(item.envelope).context.get("notice")
        except CryptoError:
            tag = None
        if isinstance(tag, str):
            tags.add(tag)
        else:
            untagged += 1
    return sorted(tags), untagged


def _is_due(session: Session, row: DisclosureRequest, now: datetime) -> bool:
    try:
        notice = signed_notice(session, row)
    except InvalidStateError:
        return False  # a tampered request: never announced, and `escrow audit verify` says so
    return notice is not None and now >= notice.notice_at


def announce_due_notices(session: Session, *, log: LogSigner, now: datetime) -> int:
    """Logs `disclosure.notice_due` for every disclosed request whose notice is due and not yet
    announced; commits. Returns how many were announced.

    A request whose stored documents no longer match their signatures is skipped (and stays missing
    from the log, which `escrow audit verify` reports).
    """
    announced = set(_announced(session))
    count = 0
    for request_id in session.scalars(
        select(DisclosureRequest.id).where(DisclosureRequest.status == RequestState.DISCLOSED)
    ).all():
        if request_id in announced or not _is_due(session, shared.load_request(session, request_id), now):
            continue
        row = shared.load_request(session, request_id, lock=True)  # then check again, under the lock
        notice = signed_notice(session, row)
        if notice is None or now < notice.notice_at or request_id in _announced(session):
            session.rollback()
            continue
        tags, untagged = _tags(session, row)
        append_event(
            session,
            log,
            kind=NOTICE_DUE_KIND,
            data={
                "request": row.id,
                "notice_at": format_time(notice.notice_at),
                "notify_delay_days": notice.notify_delay_days,
                "tags": tags,
                "untagged": untagged,
            },
            now=now,
        )
        session.commit()
        count += 1
    return count


def person_notices(
    session: Session, *, person_id: int, secret: PseudonymSecret, log: LogSigner, now: datetime
) -> list[DisclosureNotice]:
    """Returns the disclosures that concerned this person and whose notice is due: those whose logged
    `disclosure.notice_due` lists the notice tag of one of the person's pseudonyms (and, for envelopes
    issued before issue 14, which carry no tag, those whose scope names one of their pseudonyms).
    Announces due notices first; the first time each is shown it is logged (disclosure.user_notified)
    and committed.

    The person's pseudonyms and tags are re-derived from their ``secret``, so no new link between a
    person and a request is stored. Raises PermissionDeniedError (no such person).
    """
    owned = person_pseudonyms_filter(
        session,
        person_id=person_id,
        secret=secret,
        platform=DisclosureScope.platform_id,
        pseudonym=DisclosureScope.pseudonym,
    )
    announce_due_notices(session, log=log, now=now)
    mine = {
        b64u_encode(secret.notice_tag(p.id, secret.pseudonym(p.id, slot=s)))
        for p in session.scalars(select(Platform))
        for s in range(p.pseudonyms_per_person)
    }
    announced = _announced(session)
    matched = {
        request_id
        for request_id, data in announced.items()
        if isinstance(data.get("tags"), list) and mine.intersection(data["tags"])  # type: ignore[arg-type]
    }
    untagged = {request_id for request_id, data in announced.items() if data.get("untagged")}
    scopes = session.scalars(
        select(DisclosureScope).where(owned, DisclosureScope.request_id.in_(matched | untagged))
    ).all()
    found = matched | {s.request_id for s in scopes if s.request_id in untagged}
    notices = []
    for request_id in sorted(found):
        request = session.get(DisclosureRequest, request_id)
        court = None if request is None else session.get(Court, request.court_id)
        if request is None or court is None or request.disclosed_at is None:
            continue
        newly = [s for s in scopes if s.request_id == request_id and s.notified_at is None]
        for scope in newly:
            scope.notified_at = now
        if newly:
            append_event(session, log, kind="disclosure.user_notified", data={"request": request_id}, now=now)
        notices.append(DisclosureNotice(request_id, request.disclosed_at, court.name, request.case_number))
    session.commit()
    return notices
