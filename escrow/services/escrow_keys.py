"""The escrow public key in force: install (after a ceremony) and look up (to seal identities)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import canonical_json
from escrow.errors import InvalidStateError
from escrow.models import KEY_STATUS_ACTIVE, KEY_STATUS_RETIRED, EscrowKey
from escrow.services.read_cache import KEYS, bump_generation
from escrow.services.transparency import LogSigner, append_event

NO_ACTIVE_KEY = "no escrow key is active yet: run the key ceremony first"


def parse_escrow_key(row: EscrowKey) -> ThresholdPublicKey:
    """Returns the key a row stores. Raises InvalidStateError if its record is damaged."""
    try:
        return _parse_key_record(row.key_record)
    except (ValueError, CryptoError) as e:
        raise InvalidStateError(f"escrow key {row.key_id} has a damaged record") from e


@functools.lru_cache(maxsize=16)
def _parse_key_record(record: str) -> ThresholdPublicKey:
    # Validating each point costs a scalar multiplication; a record's text fully determines the
    # (immutable) key, so every issuance after the first reuses the parsed, validated value.
    return ThresholdPublicKey.from_dict(json.loads(record))


def active_escrow_key(session: Session) -> ThresholdPublicKey:
    """Returns the active escrow key. Raises InvalidStateError if no key has been activated."""
    row = session.execute(select(EscrowKey).where(EscrowKey.status == KEY_STATUS_ACTIVE)).scalar_one_or_none()
    if row is None:
        raise InvalidStateError(NO_ACTIVE_KEY)
    return parse_escrow_key(row)


def escrow_key(session: Session, key_id: str) -> ThresholdPublicKey:
    """Returns the escrow key `key_id` (active or retired). Raises InvalidStateError if unknown."""
    row = session.get(EscrowKey, key_id)
    if row is None:
        raise InvalidStateError(f"unknown escrow key {key_id}")
    return parse_escrow_key(row)


def install_escrow_key(
    session: Session,
    key: ThresholdPublicKey,
    *,
    log: LogSigner,
    now: datetime,
    pin: Mapping[str, Any] | None = None,
) -> None:
    """Stores `key` as the active escrow key, retiring the previous one, and logs `key.activated`.

    Installing the key already active (a reshare keeps PK and key id) updates its threshold and
    verification keys and logs `key.reshared` instead. `pin` ({"ceremony", "transcript_sha256"}, from
    the ceremony that made the key) goes into that entry: without it no seal uses the key
    (escrow.services.key_pinning). Does not commit (the ceremony use case does).
    """
    record = canonical_json(key.to_dict()).decode()
    existing = session.get(EscrowKey, key.key_id)
    if existing is not None:
        existing.key_record = record
        existing.threshold = key.threshold
        existing.holder_count = len(key.verification_keys)
        existing.status = KEY_STATUS_ACTIVE
        existing.activated_at = existing.activated_at or now
        kind = "key.reshared"
    else:
        for row in session.execute(select(EscrowKey).where(EscrowKey.status == KEY_STATUS_ACTIVE)).scalars():
            row.status = KEY_STATUS_RETIRED
        session.add(
            EscrowKey(
                key_id=key.key_id,
                threshold=key.threshold,
                holder_count=len(key.verification_keys),
                public_key=bytes(key.public_key),
                status=KEY_STATUS_ACTIVE,
                created_at=now,
                activated_at=now,
                key_record=record,
            )
        )
        kind = "key.activated"
    for row in session.execute(
        select(EscrowKey).where(EscrowKey.status == KEY_STATUS_ACTIVE, EscrowKey.key_id != key.key_id)
    ).scalars():
        row.status = KEY_STATUS_RETIRED
    # Every process re-proves the key in force on its next seal (escrow.services.key_pinning).
    bump_generation(session, KEYS)
    append_event(
        session,
        log,
        kind=kind,
        data={
            "key_id": key.key_id,
            "threshold": key.threshold,
            "holders": len(key.verification_keys),
            **(pin or {}),
        },
        now=now,
    )
    session.flush()
