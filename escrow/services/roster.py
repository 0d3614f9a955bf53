"""The roster the key-holders sign (issue 16 item 1): proposing a version, recording the holders'
signatures, activating it at a quorum, and officers' key certificates checked against it.

The service keeps the roster and enforces it (drafting, co-signing, who reads what), but nothing here
is trusted by the holders' tools: they verify every version's holder signatures and chain themselves
(escrow.client.disclosure.roster), so a roster or certificate written into this database by anyone who
holds neither t holder keys nor an organisation key is refused on the holders' machines.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from escrow.models import KeyHolder, OfficerCertificateRecord, RosterSignature, RosterVersion
from escrow.protocol.roster import (
    OfficerCertificate,
    Roster,
    RosterCourt,
    RosterError,
    RosterHolder,
    RosterOrganisation,
    check_successor,
    signers,
)
from escrow.services.ceremony import holder_indices
from escrow.services.disclosure.policy import DisclosurePolicy
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.transparency import LogSigner, append_event

_log = logging.getLogger(__name__)
PROPOSED, ACTIVE, SUPERSEDED = "proposed", "active", "superseded"


@dataclass(frozen=True, slots=True)
class RosterDocument:
    """A roster version as served: its body, digest, status and the holders' signatures."""

    roster: Roster
    status: str
    signatures: tuple[tuple[str, str], ...]  # (signing key, signature), base64url

    def to_json(self) -> dict[str, Any]:
        return {
            "roster": self.roster.to_dict(),
            "digest": b64u_encode(self.roster.digest()),
            "status": self.status,
            "signatures": [{"signing_key": k, "signature": s} for k, s in self.signatures],
        }


def _document(session: Session, row: RosterVersion) -> RosterDocument:
    signatures = session.scalars(
        select(RosterSignature)
        .where(RosterSignature.version == row.version)
        .order_by(RosterSignature.holder_id)
    )
    return RosterDocument(
        Roster.from_json(row.body),
        row.status,
        tuple((b64u_encode(s.signing_key), b64u_encode(s.signature)) for s in signatures),
    )


def _active_row(session: Session) -> RosterVersion | None:
    return session.scalars(select(RosterVersion).where(RosterVersion.status == ACTIVE)).first()


def active_roster(session: Session) -> Roster | None:
    """Returns the roster version in force, or None if the holders have signed none yet."""
    row = _active_row(session)
    return None if row is None else Roster.from_json(row.body)


def latest_roster_document(session: Session) -> RosterDocument:
    """Returns the newest roster version (a proposed one, if any, else the one in force).

    Raises NotFoundError if there is none."""
    row = session.scalars(select(RosterVersion).order_by(RosterVersion.version.desc())).first()
    if row is None:
        raise NotFoundError("no roster version yet")
    return _document(session, row)


def roster_document(session: Session, version: int | None = None) -> RosterDocument:
    """Returns roster `version` (None: the one in force). Raises NotFoundError."""
    row = _active_row(session) if version is None else session.get(RosterVersion, version)
    if row is None:
        raise NotFoundError("no such roster version" if version is not None else "no roster is in force yet")
    return _document(session, row)


def _current_holders(session: Session, key_id: str) -> list[RosterHolder]:
    holders = []
    indices = holder_indices(session, key_id)
    for holder_id in sorted(indices, key=lambda h: indices[h]):
        row = session.get(KeyHolder, holder_id)
        if row is None or row.signing_key is None:  # pragma: no cover - enrolled holders have keys
            continue
        holders.append(RosterHolder(row.name, row.organisation, b64u_encode(row.signing_key)))
    return holders


def propose_roster(
    session: Session,
    *,
    courts: Sequence[object],
    organisations: Sequence[object],
    log: LogSigner,
    now: datetime,
) -> RosterDocument:
    """Proposes the next roster version (the holders and threshold of the escrow key in force, the
    given courts and organisations, chained to the version in force), logs it and commits.

    Raises ValidationError (malformed entries), InvalidStateError (no active escrow key),
    ConflictError (a proposed version still awaits its signatures).
    """
    if not isinstance(courts, list | tuple) or not isinstance(organisations, list | tuple):
        raise ValidationError("courts and organisations must be lists")
    if session.scalars(select(RosterVersion).where(RosterVersion.status == PROPOSED)).first() is not None:
        raise ConflictError("a proposed roster version still awaits the holders' signatures")
    key = active_escrow_key(session)
    current = _active_row(session)
    last = session.scalar(select(func.max(RosterVersion.version))) or 0
    roster = Roster(
        version=int(last) + 1,
        previous=None if current is None else b64u_encode(current.digest),
        key_id=key.key_id,
        threshold=key.threshold,
        holders=tuple(_current_holders(session, key.key_id)),
        courts=tuple(RosterCourt.from_dict(c) for c in courts),
        organisations=tuple(RosterOrganisation.from_dict(o) for o in organisations),
    )
    if roster.version > 1 and current is None:
        raise InvalidStateError("the roster chain has no version in force to follow")
    session.add(
        RosterVersion(
            version=roster.version,
            body=roster.canonical_bytes().decode(),
            digest=roster.digest(),
            status=PROPOSED,
            proposed_at=now,
        )
    )
    append_event(
        session,
        log,
        kind="roster.proposed",
        data={
            "version": roster.version,
            "digest": b64u_encode(roster.digest()),
            "previous": roster.previous,
            "roster": roster.to_dict(),
        },
        now=now,
    )
    session.commit()
    _log.info("roster.proposed version=%d", roster.version)
    return roster_document(session, roster.version)


def sign_roster(
    session: Session, *, holder_id: int, version: int, signature_b64: str, log: LogSigner, now: datetime
) -> RosterDocument:
    """Records holder `holder_id`'s signature over roster `version`, logs it, activates the version
    once it is in force (protocol.roster.check_successor: t holders of the version before it) and
    commits. A version already in force takes more signatures (a holder who was away signs later).

    Raises NotFoundError, PermissionDeniedError (not a holder the roster lists, or a bad signature),
    ConflictError (signed already), InvalidStateError (superseded).
    """
    row = session.get(RosterVersion, version) if type(version) is int else None
    if row is None:
        raise NotFoundError("no such roster version")
    if row.status == SUPERSEDED:
        raise InvalidStateError(f"roster version {version} was superseded")
    holder = session.get(KeyHolder, holder_id)
    roster = Roster.from_json(row.body)
    if holder is None or holder.signing_key is None:
        raise PermissionDeniedError("not an enrolled key-holder")
    key_b64 = b64u_encode(holder.signing_key)
    if key_b64 not in {h.signing_key for h in roster.holders}:
        raise PermissionDeniedError(f"roster version {version} does not list you as a key-holder")
    if not signers(roster, [(key_b64, signature_b64)], roster.holders):
        raise PermissionDeniedError("the signature is not yours over this roster version's digest")
    if session.get(RosterSignature, (version, holder_id)) is not None:
        raise ConflictError("you signed this roster version already")
    session.add(
        RosterSignature(
            version=version,
            holder_id=holder_id,
            signing_key=holder.signing_key,
            signature=b64u_decode(signature_b64, length=64),
            created_at=now,
        )
    )
    session.flush()
    append_event(
        session,
        log,
        kind="roster.signed",
        data={
            "version": version,
            "digest": b64u_encode(row.digest),
            "holder": holder.name,
            "fingerprint": fingerprint(holder.signing_key),
            "signature": signature_b64,
        },
        now=now,
    )
    if row.status == PROPOSED:
        _activate_if_in_force(session, row, roster, log=log, now=now)
    session.commit()
    return roster_document(session, version)


def _activate_if_in_force(
    session: Session, row: RosterVersion, roster: Roster, *, log: LogSigner, now: datetime
) -> None:
    current = _active_row(session)
    previous = None if current is None else Roster.from_json(current.body)
    try:
        check_successor(previous, roster, _document(session, row).signatures)
    except RosterError:
        return
    if current is not None:
        current.status = SUPERSEDED
    row.status, row.activated_at = ACTIVE, now
    append_event(
        session,
        log,
        kind="roster.activated",
        data={"version": row.version, "digest": b64u_encode(row.digest), "previous": roster.previous},
        now=now,
    )
    _log.info("roster.activated version=%d", row.version)


def parse_certificate(certificate: object, signature_b64: object) -> tuple[OfficerCertificate, bytes]:
    """Returns a certificate and its signature bytes from their JSON form. Raises ValidationError."""
    parsed = OfficerCertificate.from_dict(certificate)
    if not isinstance(signature_b64, str):
        raise ValidationError("signature must be the base64url of 64 bytes")
    try:
        return parsed, b64u_decode(signature_b64, length=64)
    except CryptoError as e:
        raise ValidationError("signature must be the base64url of 64 bytes") from e


def certificate_for(session: Session, staff_id: int, officer_key: bytes) -> dict[str, Any] | None:
    """Returns the latest certificate recorded for this officer and key, as served, or None."""
    row = session.scalars(
        select(OfficerCertificateRecord)
        .where(
            OfficerCertificateRecord.staff_id == staff_id, OfficerCertificateRecord.officer_key == officer_key
        )
        .order_by(OfficerCertificateRecord.id.desc())
    ).first()
    if row is None:
        return None
    return {"certificate": json.loads(row.certificate), "signature": b64u_encode(row.signature)}


def roster_policy(session: Session, policy: DisclosurePolicy) -> DisclosurePolicy:
    """Returns `policy` with the organisations the roster in force lets co-sign (None: no roster)."""
    roster = active_roster(session)
    organisations = (
        None if roster is None else frozenset(o.name for o in roster.organisations if o.may_cosign)
    )
    return dataclasses.replace(policy, cosigning_organisations=organisations)


def check_may_submit(session: Session, organisation: str) -> None:
    """Raises PermissionDeniedError if a roster is in force and does not let `organisation` submit."""
    roster = active_roster(session)
    if roster is not None and not any(o.name == organisation and o.may_submit for o in roster.organisations):
        raise PermissionDeniedError(
            f"the roster the key-holders signed does not let officers of {organisation} submit requests"
        )


def check_listed_court(session: Session, name: str, jurisdiction: str, key: bytes | None) -> None:
    """Raises ValidationError if a roster is in force and does not list this court with this key (the
    holders' tools would refuse the request; the service says so at drafting)."""
    roster = active_roster(session)
    if roster is None:
        return
    try:
        listed = roster.court(name, jurisdiction)
    except RosterError as e:
        raise ValidationError(e.detail) from e
    if listed.public_key != (None if key is None else b64u_encode(key)):
        raise ValidationError(
            f"{name} ({jurisdiction}) has another signing key on the roster the key-holders signed"
        )
