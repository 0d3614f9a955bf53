"""The escrow key a seal may use: the active key, pinned to its ceremony transcript and the log (issue 14).

`escrow_keys` is a row any database writer can change. Before anything is sealed (a registration's
identity seal, a credential's envelope) the key in force is checked with
escrow.protocol.ceremony.check_key_pin, the same verify_transcript that `escrow ceremony verify` runs:
the newest completed escrow-key ceremony for the key's id replays completely (every signature, proof,
success signature over the transcript hash and drill proof), proves exactly the stored key, and the
log's activation entry names that ceremony and the digest of that transcript. What passed is cached
by the exact key, ceremony id and activation entry (pinned_escrow_key says why that suffices).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.transcript import b64u_encode, canonical_json, sha256
from escrow.errors import EscrowKeyUnpinnedError, InvalidStateError
from escrow.models import KEY_STATUS_ACTIVE, Ceremony, EscrowKey, LogEntry, LogState
from escrow.protocol.ceremony import (
    KEY_EVENT_KINDS,
    PURPOSE_ESCROW,
    check_key_pin,
    complete_transcript_digest,
)
from escrow.services.ceremony import STATUS_ACTIVE, ceremony_state
from escrow.services.escrow_keys import NO_ACTIVE_KEY, active_escrow_key, parse_escrow_key
from escrow.services.read_cache import KEYS, ReadCache, bump_generation
from escrow.services.transparency import LogSigner, append_event

_CACHE_SIZE = 8
_verified: OrderedDict[bytes, ThresholdPublicKey] = OrderedDict()
_lock = threading.Lock()


def _backing_ceremony_query(key_id: Any) -> Select[int]:
    return (
        select(Ceremony.id)
        .where(
            Ceremony.key_id == key_id, Ceremony.status == STATUS_ACTIVE, Ceremony.purpose == PURPOSE_ESCROW
        )
        .order_by(Ceremony.id.desc())
        .limit(1)
    )


def _backing_ceremony(session: Session, key_id: str) -> int:
    return _require_ceremony(key_id, session.scalars(_backing_ceremony_query(key_id)).first())


def _require_ceremony(key_id: str, ceremony_id: int | None) -> int:
    if ceremony_id is None:
        raise EscrowKeyUnpinnedError(
            f"escrow key {key_id} has no completed ceremony on record: nothing is sealed to a key that "
            "no key-holder signed for"
        )
    return int(ceremony_id)


def _key_events() -> Select[bytes]:
    # Few entries have these kinds, and `kind` is indexed. Only entries of the tree count: a row a
    # database writer adds beyond the head is in no checkpoint, so no auditor or witness ever sees it.
    in_tree = LogEntry.idx < select(LogState.size).where(LogState.id == 1).scalar_subquery()
    return (
        select(LogEntry.body).where(LogEntry.kind.in_(KEY_EVENT_KINDS), in_tree).order_by(LogEntry.idx.desc())
    )


def _matching_event(body: bytes | str, key_id: str, ceremony_id: int) -> dict[str, Any] | None:
    data = json.loads(body).get("data", {})
    if data.get("key_id") == key_id and data.get("ceremony") == ceremony_id:
        return dict(data)
    return None


def _activation_event(session: Session, key_id: str, ceremony_id: int) -> dict[str, Any] | None:
    # The newest key entry for this ceremony (pin_escrow_key: a key activated before issue 14).
    for body in session.execute(_key_events()).scalars():
        if (event := _matching_event(body, key_id, ceremony_id)) is not None:
            return event
    return None


def _key_in_force(session: Session) -> tuple[ThresholdPublicKey, int, dict[str, Any] | None]:
    """The active key, its newest completed ceremony and the data of the newest key entry of the log's
    tree, read in one statement (issuance is a hot path: issue 15's HTTP target).

    That entry, and no older one, is the one check_key_pin must find naming the key and the ceremony:
    every activation, reshare and pin logs one for the key it makes active, so the key in force is the
    one the log names last. A retired key made active again by UPDATEs of `status` (its ceremony and
    its own older activation entry are all still there) is refused: the log says it was replaced.
    None when there is no key entry, or when the newest one names the key but no ceremony (a key
    activated before issue 14: check_key_pin then says no entry pins it, and `check-key --pin` does).
    """
    row = session.execute(
        select(
            EscrowKey,
            _backing_ceremony_query(EscrowKey.key_id).scalar_subquery(),
            _key_events().limit(1).scalar_subquery(),
        ).where(EscrowKey.status == KEY_STATUS_ACTIVE)
    ).one_or_none()
    if row is None:
        raise InvalidStateError(NO_ACTIVE_KEY)
    key_row, ceremony, newest_event = row
    key = parse_escrow_key(key_row)
    ceremony_id = _require_ceremony(key.key_id, ceremony)
    if newest_event is None:
        return key, ceremony_id, None
    data = json.loads(newest_event).get("data", {})
    if data.get("key_id") == key.key_id and data.get("ceremony") != ceremony_id:
        return key, ceremony_id, None
    return key, ceremony_id, dict(data)


def _fingerprint(key: ThresholdPublicKey, ceremony_id: int, event: dict[str, Any] | None) -> bytes:
    return sha256(canonical_json({"key": key.to_dict(), "ceremony": ceremony_id, "event": event}))


def pinned_escrow_key(session: Session, cache: ReadCache | None = None) -> ThresholdPublicKey:
    """Returns the active escrow key once it is proven to be the key its logged ceremony made.

    With ``cache`` (issuance, a hot path: issue 15) the proven key is kept until the keys generation
    moves: every activation, reshare and pin bumps it in its own transaction, so a process finds a
    new key as soon as it commits. A database writer who rewrites the key row, the ceremony or the
    log without bumping it changes nothing a running process seals to (it keeps the key it proved);
    one who bumps it, and every process that starts, meets the check below.

    What passed is cached by the exact key, ceremony id and activation entry: a request re-reads those
    three (one statement) and replays the transcript only when one of them changed. A transcript
    row changed after its key was proven does not change which key is returned (the key row and the
    entry naming the transcript's digest are compared exactly), so it need not be re-read on every seal;
    the key-holders' tools replay the transcript themselves.

    Raises InvalidStateError if no key is active, EscrowKeyUnpinnedError (HTTP 503) naming the mismatch
    if the key row, the transcript or the log entry does not agree with the others.
    """
    if cache is not None:
        return cache.get(session, KEYS, "pinned-escrow-key", lambda: _proven_key(session))
    return _proven_key(session)


def _proven_key(session: Session) -> ThresholdPublicKey:
    key, ceremony_id, event = _key_in_force(session)
    fingerprint = _fingerprint(key, ceremony_id, event)
    with _lock:
        if fingerprint in _verified:
            _verified.move_to_end(fingerprint)
            return _verified[fingerprint]
    check_key_pin(ceremony_state(session, ceremony_id).transcript(), key, event)
    with _lock:
        _verified[fingerprint] = key
        while len(_verified) > _CACHE_SIZE:
            _verified.popitem(last=False)
    return key


def pin_escrow_key(session: Session, *, log: LogSigner, now: datetime) -> int:
    """Logs `key.pinned` for the active escrow key (a key activated before issue 14, whose activation
    entry names no transcript digest), after checking that its newest ceremony replays completely and
    proves exactly the stored key. Returns the log index and commits.

    Raises InvalidStateError (no key), EscrowKeyUnpinnedError (no ceremony, or it does not prove the key).
    """
    key = active_escrow_key(session)
    ceremony_id = _backing_ceremony(session, key.key_id)
    state = ceremony_state(session, ceremony_id)
    digest = b64u_encode(complete_transcript_digest(state.header, state.messages))
    event = {"key_id": key.key_id, "ceremony": ceremony_id, "transcript_sha256": digest}
    check_key_pin(state.transcript(), key, event)
    logged = _activation_event(session, key.key_id, ceremony_id) or {}
    if logged.get("transcript_sha256") == digest:
        raise InvalidStateError(f"escrow key {key.key_id} is already pinned to ceremony {ceremony_id}")
    bump_generation(session, KEYS)  # every process re-proves the key against the new entry
    index = append_event(session, log, kind="key.pinned", data=event, now=now)
    session.commit()
    return index
