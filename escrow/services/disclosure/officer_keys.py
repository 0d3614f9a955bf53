"""Legal officers' Ed25519 signing keys (made by `escrow officer init`): registered, and published in
the transparency log."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.errors import ConflictError, InvalidStateError, PermissionDeniedError, ValidationError
from escrow.models import OfficerCertificateRecord, OfficerKey, StaffAccount
from escrow.protocol.roster import OfficerCertificate
from escrow.services.disclosure import _shared as shared
from escrow.services.disclosure.policy import LEGAL_OFFICER
from escrow.services.roster import active_roster, parse_certificate
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
    return _record_key(session, staff, key, log=log, now=now)


def record_officer_certificate(
    session: Session,
    *,
    actor: StaffView,
    certificate: object,
    signature_b64: object,
    log: LogSigner,
    now: datetime,
) -> str:
    """Records an officer's key with the certificate their organisation's key signed for it (issue 16)
    and commits; returns the key's fingerprint. The key was made on the officer's machine (`escrow
    officer init`) and certified there by the organisation (`escrow org certify`): the service checks
    the certificate against the roster in force, but the holders' tools check it again themselves.

    Raises PermissionDeniedError (someone else's, unless an admin records it), NotFoundError (no such
    officer), ValidationError (malformed, another organisation than the officer's, not signed by the key
    the roster lists, not valid now), InvalidStateError (no roster in force), ConflictError (key in use).
    """
    parsed, signature = parse_certificate(certificate, signature_b64)
    if actor.username != parsed.username and ADMIN not in actor.roles:
        raise PermissionDeniedError("officers record their own certificate; an admin may record any")
    staff = shared.staff_account(session, parsed.username)
    if LEGAL_OFFICER not in staff.role_set:
        raise ValidationError("only legal officers have disclosure signing keys")
    if parsed.organisation != staff.organisation:
        raise ValidationError(
            f"the certificate names organisation {parsed.organisation!r}, but {staff.username} is of "
            f"{staff.organisation!r}"
        )
    roster = active_roster(session)
    if roster is None:
        raise InvalidStateError("no roster is in force yet: the key-holders sign one first")
    parsed.check(roster, b64u_encode(signature), at=now)
    key = b64u_decode(parsed.officer_key, length=32)
    session.add(
        OfficerCertificateRecord(
            staff_id=staff.id,
            officer_key=key,
            certificate=canonical_json(parsed.to_dict()).decode(),
            signature=signature,
            recorded_at=now,
        )
    )
    return _record_key(session, staff, key, log=log, now=now, certificate=parsed)


def _record_key(
    session: Session,
    staff: StaffAccount,
    key: bytes,
    *,
    log: LogSigner,
    now: datetime,
    certificate: OfficerCertificate | None = None,
) -> str:
    other = session.scalars(select(OfficerKey).where(OfficerKey.public_key == key)).first()
    if other is not None and other.staff_id != staff.id:
        raise ConflictError("this key is registered to another officer")
    row = session.get(OfficerKey, staff.id)
    if row is None:
        session.add(OfficerKey(staff_id=staff.id, public_key=key, registered_at=now))
    else:
        row.public_key, row.registered_at = key, now
    data: dict[str, object] = {
        "officer": staff.username,
        "organisation": staff.organisation,
        "fingerprint": fingerprint(key),
        "public_key": b64u_encode(key),
    }
    if certificate is not None:
        data["certificate"] = b64u_encode(certificate.digest())
    append_event(
        session,
        log,
        kind="officer.key_registered",
        # The whole public key, so a key-holder's tool can take it from the log rather than from us
        # (docs/disclosure.md#the-key-holders-checks); officers are staff, named in the log already.
        data=data,
        now=now,
    )
    session.commit()
    return fingerprint(key)
