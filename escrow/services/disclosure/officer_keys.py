"""Legal officers' Ed25519 signing keys (made by `escrow officer init`): registered, and published in
the transparency log."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.transcript import b64u_encode
from escrow.errors import ConflictError, PermissionDeniedError, ValidationError
from escrow.models import OfficerKey
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.policy import LEGAL_OFFICER
from escrow.services.staff import StaffView
from escrow.services.transparency import LogSigner, append_event

ADMIN: Final = "admin"


def registered_officer_key(session: Session, username: str) -> str | None:
    """Returns the base64url public key registered for officer `username`, or None if they have none.

    Raises NotFoundError if no active member of staff has this username.
    """
    row = session.get(OfficerKey, shared.staff_account(session, username).id)
    return None if row is None else b64u_encode(row.public_key)


def register_officer_key(
    session: Session, *, actor: StaffView, username: str, public_key_b64: str, log: LogSigner, now: datetime
) -> str:
    """Registers (or replaces) a legal officer's Ed25519 public key and commits; returns its fingerprint.

    The officer registers their own key; an admin may register anyone's. Raises PermissionDeniedError,
    NotFoundError (no such officer), ValidationError (malformed key), ConflictError (key in use).
    """
    if actor.username != username and ADMIN not in actor.roles:
        raise PermissionDeniedError("officers register their own key; an admin may register any")
    staff = shared.staff_account(session, username)
    if LEGAL_OFFICER not in staff.role_set:
        raise ValidationError("only legal officers have disclosure signing keys")
    key = shared.key_bytes(public_key_b64, "public_key", 32)
    other = session.scalars(select(OfficerKey).where(OfficerKey.public_key == key)).first()
    if other is not None and other.staff_id != staff.id:
        raise ConflictError("this key is registered to another officer")
    row = session.get(OfficerKey, staff.id)
    if row is None:
        session.add(OfficerKey(staff_id=staff.id, public_key=key, registered_at=now))
    else:
        row.public_key, row.registered_at = key, now
    append_event(
        session,
        log,
        kind="officer.key_registered",
        # The whole public key, so a key-holder's tool can take it from the log rather than from us
        # (docs/disclosure.md#the-key-holders-checks); officers are staff, named in the log already.
        data={
            "officer": staff.username,
            "organisation": staff.organisation,
            "fingerprint": fingerprint(key),
            "public_key": b64u_encode(key),
        },
        now=now,
    )
    session.commit()
    return fingerprint(key)
