"""STAND-IN until main's escrow_keys service is merged (same signatures): the active escrow key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.group import Point
from escrow.errors import InvalidStateError
from escrow.models import KEY_STATUS_ACTIVE, EscrowKey


def active_escrow_key(session: Session) -> ThresholdPublicKey:
    """Returns the active escrow key. Raises InvalidStateError if none is active."""
    row = session.scalars(select(EscrowKey).where(EscrowKey.status == KEY_STATUS_ACTIVE)).first()
    if row is None:
        raise InvalidStateError("no escrow key is active yet: run the key ceremony first")
    return ThresholdPublicKey(
        threshold=row.threshold, public_key=Point.decode(row.public_key), verification_keys={}
    )


def install_escrow_key(session: Session, key: ThresholdPublicKey, *, log: Any, now: datetime) -> None:
    """Stores ``key`` as the active escrow key (does not commit)."""
    session.add(
        EscrowKey(
            key_id=key.key_id,
            threshold=key.threshold,
            holder_count=max(len(key.verification_keys), key.threshold),
            public_key=bytes(key.public_key),
            status=KEY_STATUS_ACTIVE,
            created_at=now,
            activated_at=now,
        )
    )
    session.flush()
