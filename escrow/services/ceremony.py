"""Key ceremony use cases: open, relay signed messages, abort on a proven cheat, activate, cancel, reshare.

The service is a relay and a referee: it stores the signed messages holders send (shares inside are
sealed to their recipients, so it cannot read them), checks each one with escrow.protocol.ceremony,
and activates the key only when every recipient has signed the transcript hash and passed the drill.

One ceremony makes either key (issue 13): purpose ``escrow`` installs the escrow key, purpose ``oprf``
the key the OPRF nodes share (escrow.services.oprf_keys). The participants of an OPRF ceremony are
enrolled key-holder rows like any other, but a share of the OPRF key approves nothing: disclosures ask
only the holders of the escrow key (holder_indices).
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import CryptoError
from escrow.crypto.seal import Envelope, combine_and_open
from escrow.crypto.transcript import b64u_encode, canonical_json, sha256
from escrow.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from escrow.models import (
    HOLDER_STATUS_ENROLLED,
    Ceremony,
    CeremonyMessage,
    CeremonyParticipant,
    KeyHolder,
    LogEntry,
    Person,
)
from escrow.protocol import ceremony as protocol
from escrow.protocol.ceremony import (
    CONFIRM,
    DRILL,
    KIND_CREATE,
    KIND_RESHARE,
    PURPOSE_ESCROW,
    PURPOSE_OPRF,
    PURPOSES,
    ROUND1,
    ROUND2,
    AccessStructure,
    CeremonyHeader,
    CheatingHolderError,
    Participant,
    SignedMessage,
    access_floor,
    check_access_floor,
    check_confirmed_access,
)
from escrow.services.escrow_keys import active_escrow_key, escrow_key, install_escrow_key
from escrow.services.keyholders import claim_row
from escrow.services.oprf_keys import install_oprf_key
from escrow.services.pagination import Page, fetch_page
from escrow.services.transparency import LogSigner, append_event

OPEN_STATUSES = ("round1", "round2", "confirm")
STATUS_ACTIVE = "active"
STATUS_ABORTED = "aborted"
STATUS_CANCELLED = "cancelled"
MIN_HOLDERS = 2  # one holder is a single point of trust: use `escrow admin ceremony simulate` for a toy key
_EVENT_KINDS = {
    ROUND1: "ceremony.holder_dealt",
    ROUND2: "ceremony.holder_finalised",
    CONFIRM: "ceremony.holder_signed",
    DRILL: "ceremony.holder_drilled",
}
_ALLOWED = {"round1": (ROUND1,), "round2": (ROUND2,), "confirm": (CONFIRM, DRILL)}


@dataclass(frozen=True, slots=True)
class CeremonyState:
    """A ceremony as the public, the holders and the admin pages see it."""

    id: int
    kind: str
    status: str
    header: CeremonyHeader
    messages: tuple[SignedMessage, ...]
    key: ThresholdPublicKey | None
    drill_envelope: dict[str, Any] | None
    outcome: str | None
    blamed_holder: int | None
    created_at: datetime
    finished_at: datetime | None
    organisations: Mapping[int, str] = field(default_factory=dict)

    def access(self) -> AccessStructure:
        """Returns the access structure a holder confirms (t, n, purpose, members and organisations)."""
        return AccessStructure(self.header, self.organisations)

    def has_sent(self, holder: int, kind: str) -> bool:
        return any(int(m.body["holder"]) == holder and m.kind == kind for m in self.messages)

    def transcript(self) -> dict[str, Any]:
        """Returns the public transcript (what `escrow ceremony verify` checks)."""
        return {
            "format": "escrow-ceremony-transcript",
            "version": 1,
            "status": self.status,
            "header": self.header.to_dict(),
            "messages": [m.to_dict() for m in self.messages],
            "drill_envelope": self.drill_envelope,
            "key": None if self.key is None else self.key.to_dict(),
            "outcome": self.outcome,
            "blamed_holder": self.blamed_holder,
            # Not covered by the header (issue 16): each success message signs what its holder saw.
            "organisations": {str(k): v for k, v in self.organisations.items()},
        }


def _enrolled(session: Session, holder_ids: Sequence[int]) -> list[KeyHolder]:
    if len(set(holder_ids)) != len(holder_ids):
        raise ValidationError("a key-holder may appear only once")
    rows = []
    for holder_id in holder_ids:
        row = session.get(KeyHolder, holder_id)
        if row is None or row.status != HOLDER_STATUS_ENROLLED:
            raise ValidationError(f"key-holder {holder_id} is not enrolled")
        rows.append(row)
    return rows


def _check_no_open_ceremony(session: Session) -> None:
    if session.execute(select(Ceremony.id).where(Ceremony.status.in_(OPEN_STATUSES))).first():
        raise InvalidStateError("another ceremony is in progress: finish or cancel it first")


def _check_threshold(threshold: int, holders: int) -> None:
    if holders < MIN_HOLDERS:
        raise ValidationError(f"a ceremony needs at least {MIN_HOLDERS} key-holders")
    if not 1 <= threshold <= holders:
        raise ValidationError(f"threshold must be between 1 and {holders}")
    # The published minimum (issue 16): the same check every holder tool makes on the header.
    check_access_floor(threshold, holders)


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValidationError(f"purpose must be one of {', '.join(PURPOSES)} (not {purpose!r})")


def _check_oprf_key_replaceable(session: Session) -> None:
    # install_oprf_key refuses a new OPRF key once persons are registered (their person keys come from
    # the old one); say so before anyone spends an hour on a ceremony whose key could never activate.
    if session.execute(select(Person.id).limit(1)).first() is not None:
        raise InvalidStateError(
            "persons are registered under the active OPRF key; a new OPRF key would lock them out "
            "(resharing the OPRF key among new nodes is future work)"
        )


def _new_ceremony(
    session: Session,
    kind: str,
    threshold: int,
    now: datetime,
    old_key_id: str | None,
    purpose: str = PURPOSE_ESCROW,
    context: str | None = None,
) -> Ceremony:
    row = Ceremony(
        kind=kind,
        purpose=purpose,
        status="round1",
        threshold=threshold,
        context=context or secrets.token_hex(16),
        old_key_id=old_key_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def open_ceremony(
    session: Session,
    *,
    threshold: int,
    holder_ids: Sequence[int],
    log: LogSigner,
    now: datetime,
    purpose: str = PURPOSE_ESCROW,
    context: str | None = None,
) -> int:
    """Opens a dealerless ceremony for a new key among enrolled holders (indices 1..n in order): the
    escrow key (purpose ``escrow``) or the OPRF nodes' key (purpose ``oprf``, one holder per node).
    `context` (default: 16 fresh random bytes, hex) binds every proof to this ceremony; only the
    development simulation names one (escrow.services.dev_ceremony).

    Returns the ceremony id. Raises ValidationError for a bad purpose, threshold or holder list and
    InvalidStateError if another ceremony is open or (purpose ``oprf``) persons are already registered.
    """
    _check_purpose(purpose)
    holders = _enrolled(session, holder_ids)
    _check_threshold(threshold, len(holders))
    _check_no_open_ceremony(session)
    if purpose == PURPOSE_OPRF:
        _check_oprf_key_replaceable(session)
    row = _new_ceremony(session, KIND_CREATE, threshold, now, None, purpose, context)
    for index, holder in enumerate(holders, start=1):
        session.add(
            CeremonyParticipant(
                ceremony_id=row.id, holder_id=holder.id, dealer_index=index, recipient_index=index
            )
        )
    append_event(
        session,
        log,
        kind="ceremony.opened",
        data={
            "ceremony": row.id,
            "kind": KIND_CREATE,
            "purpose": purpose,
            "threshold": threshold,
            "holders": [h.id for h in holders],
            "access_floor": access_floor(),
        },
        now=now,
    )
    session.commit()
    return row.id


DEV_CONTEXT_PREFIX = "dev-"
"""Context of the record escrow.services.dev_ceremony keeps of a simulated key's holders (no reshare)."""


def holder_indices(session: Session, key_id: str) -> dict[int, int]:
    """Returns holder id -> share index for the holders of escrow key `key_id` (issue 6: disclosures).

    Raises InvalidStateError for a key not made by a ceremony through this service.
    """
    return _current_indices(session, key_id)


def _current_indices(session: Session, key_id: str) -> dict[int, int]:
    """Returns holder id -> index for the holders of `key_id` (from the ceremony that last set its shares)."""
    last = session.execute(
        select(Ceremony)
        .where(
            Ceremony.key_id == key_id, Ceremony.status == STATUS_ACTIVE, Ceremony.purpose == PURPOSE_ESCROW
        )
        .order_by(Ceremony.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None:
        raise InvalidStateError(
            f"key {key_id} was not made by a ceremony through this service (a development key?); "
            "it cannot be reshared"
        )
    rows = session.execute(
        select(CeremonyParticipant).where(
            CeremonyParticipant.ceremony_id == last.id, CeremonyParticipant.recipient_index.is_not(None)
        )
    ).scalars()
    return {r.holder_id: int(r.recipient_index) for r in rows if r.recipient_index is not None}


def open_reshare(
    session: Session,
    *,
    threshold: int,
    dealer_ids: Sequence[int],
    holder_ids: Sequence[int],
    log: LogSigner,
    now: datetime,
    purpose: str = PURPOSE_ESCROW,
) -> int:
    """Opens a reshare of the active escrow key: current holders `dealer_ids` (at least the current
    threshold) deal their shares to `holder_ids` (new indices 1..n' in order) with the new `threshold`.

    Returns the ceremony id. Raises ValidationError (also for purpose ``oprf``: resharing the OPRF key
    is not supported yet), InvalidStateError (no key, key not from a ceremony, another ceremony open).
    """
    _check_purpose(purpose)
    if purpose == PURPOSE_OPRF:
        # ceremonies.old_key_id references escrow_keys, and the OPRF key lives in oprf_keys: a reshare
        # of it needs a schema change first (future work, docs/operations.md#oprf-node-ceremony).
        raise ValidationError(
            "resharing the OPRF key is not supported yet: only the escrow key can be reshared"
        )
    key = active_escrow_key(session)
    old_indices = _current_indices(session, key.key_id)
    if session.scalars(
        select(Ceremony.id).where(
            Ceremony.key_id == key.key_id, Ceremony.context.startswith(DEV_CONTEXT_PREFIX)
        )
    ).first():
        raise InvalidStateError(
            f"key {key.key_id} was not made by a ceremony through this service (a development key); "
            "it cannot be reshared"
        )
    dealers = _enrolled(session, dealer_ids)
    recipients = _enrolled(session, holder_ids)
    _check_threshold(threshold, len(recipients))
    for d in dealers:
        if d.id not in old_indices:
            raise ValidationError(f"key-holder {d.id} holds no share of key {key.key_id}")
    if len(dealers) < key.threshold:
        raise ValidationError(f"resharing needs at least {key.threshold} current key-holders")
    _check_no_open_ceremony(session)
    row = _new_ceremony(session, KIND_RESHARE, threshold, now, key.key_id)
    new_indices = {h.id: i for i, h in enumerate(recipients, start=1)}
    for holder_id in dict.fromkeys([*(d.id for d in dealers), *new_indices]):
        dealer_index = old_indices[holder_id] if holder_id in {d.id for d in dealers} else None
        session.add(
            CeremonyParticipant(
                ceremony_id=row.id,
                holder_id=holder_id,
                dealer_index=dealer_index,
                recipient_index=new_indices.get(holder_id),
            )
        )
    append_event(
        session,
        log,
        kind="ceremony.opened",
        data={
            "ceremony": row.id,
            "kind": KIND_RESHARE,
            "key_id": key.key_id,
            "threshold": threshold,
            "dealers": [d.id for d in dealers],
            "holders": list(new_indices),
            "access_floor": access_floor(),
        },
        now=now,
    )
    session.commit()
    return row.id


def _get(session: Session, ceremony_id: int, *, lock: bool = False) -> Ceremony:
    if lock:
        claim_row(session, update(Ceremony).where(Ceremony.id == ceremony_id).values(status=Ceremony.status))
    query = select(Ceremony).where(Ceremony.id == ceremony_id)
    row = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no ceremony {ceremony_id}")
    return row


def _header(session: Session, row: Ceremony) -> CeremonyHeader:
    participants = session.execute(
        select(CeremonyParticipant, KeyHolder)
        .join(KeyHolder, KeyHolder.id == CeremonyParticipant.holder_id)
        .where(CeremonyParticipant.ceremony_id == row.id)
        .order_by(CeremonyParticipant.id)
    ).all()
    old_key = None
    if row.old_key_id is not None:
        old_key = _old_key(session, row) or escrow_key(session, row.old_key_id)
    return CeremonyHeader(
        ceremony=row.id,
        kind=row.kind,
        context=row.context,
        threshold=row.threshold,
        purpose=row.purpose,
        participants=tuple(
            Participant(
                holder=h.id,
                name=h.name,
                signing_key=h.signing_key or b"",
                exchange_key=h.exchange_key or b"",
                dealer_index=p.dealer_index,
                recipient_index=p.recipient_index,
            )
            for p, h in participants
        ),
        old_key=old_key,
    )


def _old_key(session: Session, row: Ceremony) -> ThresholdPublicKey | None:
    # The key as it was when the reshare opened: the previous ceremony's result (the stored key row
    # changes once this reshare completes, but the transcript must stay verifiable).
    previous = session.execute(
        select(Ceremony.result_key)
        .where(Ceremony.key_id == row.old_key_id, Ceremony.status == STATUS_ACTIVE, Ceremony.id < row.id)
        .order_by(Ceremony.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if previous is None else ThresholdPublicKey.from_dict(json.loads(previous))


def _messages(session: Session, row: Ceremony) -> list[SignedMessage]:
    return [
        SignedMessage.from_dict({"body": json.loads(m.body), "signature": m.signature})
        for m in session.execute(
            select(CeremonyMessage).where(CeremonyMessage.ceremony_id == row.id).order_by(CeremonyMessage.id)
        ).scalars()
    ]


def ceremony_state(session: Session, ceremony_id: int) -> CeremonyState:
    """Returns the public state of a ceremony. Raises NotFoundError if unknown."""
    row = _get(session, ceremony_id)
    return CeremonyState(
        id=row.id,
        kind=row.kind,
        status=row.status,
        header=_header(session, row),
        messages=tuple(_messages(session, row)),
        key=None if row.result_key is None else ThresholdPublicKey.from_dict(json.loads(row.result_key)),
        drill_envelope=None if row.drill_envelope is None else json.loads(row.drill_envelope),
        outcome=row.outcome,
        blamed_holder=row.blamed_holder_id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        organisations=_organisations(session, row),
    )


def _organisations(session: Session, row: Ceremony) -> dict[int, str]:
    holder_ids = select(CeremonyParticipant.holder_id).where(CeremonyParticipant.ceremony_id == row.id)
    rows = session.execute(
        select(KeyHolder.id, KeyHolder.organisation).where(KeyHolder.id.in_(holder_ids))
    ).all()
    return {int(holder_id): str(organisation) for holder_id, organisation in rows}


def list_ceremonies(session: Session) -> list[CeremonyState]:
    """Returns every ceremony, newest first."""
    ids = session.execute(select(Ceremony.id).order_by(Ceremony.id.desc())).scalars().all()
    return [ceremony_state(session, i) for i in ids]


def page_ceremonies(session: Session, *, page: int) -> Page[CeremonyState]:
    """Returns one page of the ceremonies, newest first. Raises InvalidPageError, PageNotFoundError."""
    ids = fetch_page(session, select(Ceremony.id).order_by(Ceremony.id.desc()), number=page)
    return ids.map(lambda ceremony_id: ceremony_state(session, ceremony_id))


def holder_ceremonies(session: Session, holder_id: int) -> list[CeremonyState]:
    """Returns the ceremonies key-holder `holder_id` takes part in, newest first."""
    ids = (
        session.execute(
            select(CeremonyParticipant.ceremony_id)
            .where(CeremonyParticipant.holder_id == holder_id)
            .order_by(CeremonyParticipant.ceremony_id.desc())
        )
        .scalars()
        .all()
    )
    return [ceremony_state(session, i) for i in ids]


def _abort(
    session: Session, row: Ceremony, *, holder: int | None, reason: str, log: LogSigner, now: datetime
) -> None:
    row.status = STATUS_ABORTED
    row.outcome = reason
    row.blamed_holder_id = holder
    row.finished_at = now
    append_event(
        session,
        log,
        kind="ceremony.complaint" if holder else "ceremony.aborted",
        data={"ceremony": row.id, "blamed_holder": holder, "reason": reason},
        now=now,
    )


def post_message(
    session: Session,
    *,
    ceremony_id: int,
    holder_id: int,
    message: SignedMessage,
    log: LogSigner,
    now: datetime,
) -> str:
    """Accepts one signed message from an authenticated holder; returns the ceremony's status after it.

    A message that proves its sender (or a complained-about dealer) cheated is stored, the ceremony
    aborts naming them, and the status "aborted" is returned. Raises WrongSignerError if the message
    is not signed by `holder_id`, InvalidStateError if the ceremony does not accept this kind now,
    ConflictError for a second message of one kind, CeremonyProtocolError for a malformed message.
    """
    row = _get(session, ceremony_id, lock=True)
    if row.status not in OPEN_STATUSES:
        raise InvalidStateError(f"ceremony {ceremony_id} is {row.status}")
    header = _header(session, row)
    sender = header.participant(holder_id)
    protocol.check_message(header, message, sender)
    if message.kind not in _ALLOWED[row.status]:
        raise InvalidStateError(
            f"ceremony {ceremony_id} is in {row.status}; it does not accept {message.kind} now"
        )
    messages = _messages(session, row)
    if any(int(m.body["holder"]) == holder_id and m.kind == message.kind for m in messages):
        raise ConflictError(f"key-holder {holder_id} already sent its {message.kind} message")
    try:
        _check_by_kind(session, header, row, messages, message, sender)
    except CheatingHolderError as e:
        _store(session, row, holder_id, message, now)
        _abort(session, row, holder=e.holder, reason=e.detail, log=log, now=now)
        session.commit()
        return row.status
    except protocol.UndecidedComplaintError as e:
        _store(session, row, holder_id, message, now)
        _abort(session, row, holder=None, reason=e.detail, log=log, now=now)
        session.commit()
        return row.status
    _store(session, row, holder_id, message, now)
    messages.append(message)
    append_event(
        session, log, kind=_EVENT_KINDS[message.kind], data={"ceremony": row.id, "holder": holder_id}, now=now
    )
    _advance(session, header, row, messages, log=log, now=now)
    session.commit()
    return row.status


def _store(session: Session, row: Ceremony, holder_id: int, message: SignedMessage, now: datetime) -> None:
    session.add(
        CeremonyMessage(
            ceremony_id=row.id,
            holder_id=holder_id,
            kind=message.kind,
            body=canonical_json(dict(message.body)).decode(),
            signature=message.to_dict()["signature"],
            created_at=now,
        )
    )
    session.flush()


def _round1_by_dealer(
    header: CeremonyHeader, messages: Sequence[SignedMessage]
) -> dict[int, protocol.Round1]:
    found = {}
    for m in messages:
        if m.kind == ROUND1:
            sender = header.participant(int(m.body["holder"]))
            assert sender.dealer_index is not None  # noqa: S101 - stored only after parse_round1
            found[sender.dealer_index] = protocol.parse_round1(header, m, sender)
    return found


def _check_by_kind(
    session: Session,
    header: CeremonyHeader,
    row: Ceremony,
    messages: list[SignedMessage],
    message: SignedMessage,
    sender: Participant,
) -> None:
    if message.kind == ROUND1:
        protocol.parse_round1(header, message, sender)
    elif message.kind == ROUND2:
        parsed = protocol.parse_round2(header, message, sender)
        for dealer_index, (share, box) in parsed.complaints.items():
            culprit = protocol.judge_complaint(
                header, _round1_by_dealer(header, messages), sender, dealer_index, share, box
            )
            if culprit is None:
                raise protocol.UndecidedComplaintError(
                    f"key-holder {sender.holder} complained about dealer {dealer_index}, but the revealed "
                    "box key does not open that dealer's box: the public cannot tell who cheated"
                )
            raise CheatingHolderError(
                f"key-holder {sender.holder} complained about dealer {dealer_index}: "
                f"the transcript proves key-holder {culprit.holder} ({culprit.name}) cheated",
                holder=culprit.holder,
            )
    elif sender.recipient_index is None:
        raise protocol.CeremonyProtocolError(f"key-holder {sender.holder} receives no share in this ceremony")
    elif message.kind == CONFIRM:
        expected = protocol.ceremony_transcript_hash(header, messages).hex()
        if not hmac.compare_digest(str(message.body.get("transcript_hash")), expected) or (
            message.body.get("key_id") != row.key_id
        ):
            raise protocol.CeremonyProtocolError(
                "the signed transcript hash or key id does not match this ceremony"
            )
        # Issue 16: the success signature covers the access structure the holder confirmed.
        check_confirmed_access(header, message.body.get("access"))
        if AccessStructure(header, _organisations(session, row)).to_dict() != message.body["access"]:
            raise protocol.CeremonyProtocolError(
                "the organisations this key-holder confirmed are not the ones the service records"
            )
    else:
        assert row.result_key is not None  # noqa: S101 - set when round 2 completed
        assert row.drill_envelope is not None  # noqa: S101 - set when round 2 completed
        key = ThresholdPublicKey.from_dict(json.loads(row.result_key))
        protocol.parse_drill(header, key, Envelope.from_dict(json.loads(row.drill_envelope)), message, sender)


def _senders(messages: Sequence[SignedMessage], kind: str) -> set[int]:
    return {int(m.body["holder"]) for m in messages if m.kind == kind}


def _advance(
    session: Session,
    header: CeremonyHeader,
    row: Ceremony,
    messages: list[SignedMessage],
    *,
    log: LogSigner,
    now: datetime,
) -> None:
    dealers = {p.holder for p in header.dealers().values()}
    recipients = {p.holder for p in header.recipients().values()}
    if row.status == "round1" and _senders(messages, ROUND1) == dealers:
        row.status = "round2"
    elif row.status == "round2" and _senders(messages, ROUND2) == recipients:
        key = protocol.combine(header, _round1_by_dealer(header, messages))
        for m in messages:
            if (
                m.kind == ROUND2
                and protocol.parse_round2(header, m, header.participant(int(m.body["holder"]))).key != key
            ):
                _abort(
                    session,
                    row,
                    holder=int(m.body["holder"]),
                    reason="a key-holder computed another key",
                    log=log,
                    now=now,
                )
                return
        envelope = protocol.drill_envelope(header, key, protocol.ceremony_transcript_hash(header, messages))
        row.result_key = canonical_json(key.to_dict()).decode()
        row.key_id = key.key_id
        row.drill_envelope = envelope.to_bytes().decode()
        row.drill_digest = sha256(protocol.DRILL_PAYLOAD)
        row.status = "confirm"
    elif row.status == "confirm" and _senders(messages, CONFIRM) == recipients == _senders(messages, DRILL):
        _activate(session, header, row, messages, log=log, now=now)


def _activate(
    session: Session,
    header: CeremonyHeader,
    row: Ceremony,
    messages: list[SignedMessage],
    *,
    log: LogSigner,
    now: datetime,
) -> None:
    assert row.result_key is not None  # noqa: S101 - set when round 2 completed
    assert row.drill_envelope is not None  # noqa: S101 - set when round 2 completed
    assert row.drill_digest is not None  # noqa: S101 - set when round 2 completed
    key = ThresholdPublicKey.from_dict(json.loads(row.result_key))
    envelope = Envelope.from_dict(json.loads(row.drill_envelope))
    partials = [
        protocol.parse_drill(header, key, envelope, m, header.participant(int(m.body["holder"])))
        for m in messages
        if m.kind == DRILL
    ]
    try:
        opened = combine_and_open(key, envelope, header.drill_request_digest(), partials)
    except CryptoError:
        _abort(session, row, holder=None, reason="the drill envelope did not open", log=log, now=now)
        return
    if not hmac.compare_digest(sha256(opened.identity), row.drill_digest):  # pragma: no cover - authenticated
        _abort(
            session, row, holder=None, reason="the drill envelope opened to another payload", log=log, now=now
        )
        return
    if row.purpose == PURPOSE_OPRF:
        try:
            install_oprf_key(session, key, log=log, now=now)
        except InvalidStateError as e:  # persons registered while the ceremony ran
            _abort(session, row, holder=None, reason=e.detail, log=log, now=now)
            return
        row.status = STATUS_ACTIVE
        row.finished_at = now
        row.outcome = f"OPRF key {key.key_id} active: {key.threshold} of {len(key.verification_keys)} nodes"
        return
    if row.kind == KIND_RESHARE:
        _log_holder_changes(session, row, key.key_id, log=log, now=now)
    # Issue 14: the activation entry pins the key to this complete transcript (key_pinning checks it).
    pin = {
        "ceremony": row.id,
        "transcript_sha256": b64u_encode(protocol.complete_transcript_digest(header, messages)),
    }
    install_escrow_key(session, key, log=log, now=now, pin=pin)
    row.status = STATUS_ACTIVE
    row.finished_at = now
    row.outcome = f"key {key.key_id} active: {key.threshold} of {len(key.verification_keys)} key-holders"


def _log_holder_changes(
    session: Session, row: Ceremony, key_id: str, *, log: LogSigner, now: datetime
) -> None:
    """Logs who leaves the key (`keyholder.removed`) and who joins it (`keyholder.joined`) as reshare
    `row` completes, so the public report, computed from the log alone, lists the holders in force."""
    before = set(_current_indices(session, key_id))  # `row` is not active yet: the previous holders
    after = {
        p.holder_id
        for p in session.execute(
            select(CeremonyParticipant).where(
                CeremonyParticipant.ceremony_id == row.id, CeremonyParticipant.recipient_index.is_not(None)
            )
        ).scalars()
    }
    for kind, holder_ids in (("keyholder.removed", before - after), ("keyholder.joined", after - before)):
        for holder_id in sorted(holder_ids):
            holder = session.get(KeyHolder, holder_id)
            assert holder is not None  # noqa: S101 - participants reference enrolled holders
            append_event(
                session,
                log,
                kind=kind,
                data={
                    "holder": holder.id,
                    "name": holder.name,
                    "organisation": holder.organisation,
                    "key_id": key_id,
                    "ceremony": row.id,
                },
                now=now,
            )


ERASURE_EVENT = "keyholder.share_erased"


def record_share_erasure(
    session: Session,
    *,
    ceremony_id: int,
    holder_id: int,
    message: SignedMessage,
    log: LogSigner,
    now: datetime,
) -> int:
    """Logs the signed statement of key-holder `holder_id`, who left the key in completed reshare
    `ceremony_id`, that its tool erased its old share (`keyholder.share_erased`, issue 16). The log
    records a promise: nobody can prove an erasure (docs/protocol.md §7a).

    Returns the log index. Raises NotFoundError, InvalidStateError (not a completed reshare),
    PermissionDeniedError (not a participant), ValidationError (still a holder of the key),
    WrongSignerError, CeremonyProtocolError, ConflictError (already recorded).
    """
    row = _get(session, ceremony_id, lock=True)
    if row.kind != KIND_RESHARE or row.status != STATUS_ACTIVE:
        raise InvalidStateError(f"ceremony {ceremony_id} is not a completed reshare")
    header = _header(session, row)
    sender = header.participant(holder_id)
    if sender.recipient_index is not None:
        raise ValidationError(
            f"key-holder {holder_id} holds a share of the key after this reshare: nothing to erase"
        )
    protocol.check_erasure(header, message, sender)
    for body in session.scalars(select(LogEntry.body).where(LogEntry.kind == ERASURE_EVENT)):
        data = json.loads(body)["data"]
        if data.get("ceremony") == row.id and data.get("holder") == holder_id:
            raise ConflictError(f"key-holder {holder_id}'s erasure statement is already in the log")
    index = append_event(
        session,
        log,
        kind=ERASURE_EVENT,
        data={
            "ceremony": row.id,
            "holder": holder_id,
            "name": sender.name,
            "key_id": row.old_key_id,
            "old_index": sender.dealer_index,
            "statement": dict(message.body),
            "signature": message.to_dict()["signature"],
        },
        now=now,
    )
    session.commit()
    return index


def cancel_ceremony(
    session: Session, *, ceremony_id: int, reason: str, log: LogSigner, now: datetime
) -> None:
    """Cancels an open ceremony (an admin decision). Raises InvalidStateError if it is already over."""
    row = _get(session, ceremony_id, lock=True)
    if row.status not in OPEN_STATUSES:
        raise InvalidStateError(f"ceremony {ceremony_id} is already {row.status}")
    reason = reason.strip()[:500] or "cancelled by an admin"
    row.status = STATUS_CANCELLED
    row.outcome = reason
    row.finished_at = now
    append_event(
        session, log, kind="ceremony.cancelled", data={"ceremony": row.id, "reason": reason}, now=now
    )
    session.commit()
