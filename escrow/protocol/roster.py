"""The roster the key-holders sign (issue 16, version 1), and the officer certificates it makes checkable.

A roster version lists the courts whose orders may open a disclosure (each with the key it signs its
orders with, or none), the organisations whose legal officers may submit or co-sign (each with the
organisation key that certifies its officers' keys), and the key-holders of the escrow key with its
threshold t. Versions chain: each names the digest of the one before (`previous`, null for the first).
A version is in force once t of the holders listed in the version before it (for the first: in itself)
signed its digest (escrow.crypto.disclosure.sign_roster). Encoded as canonical JSON
(escrow.crypto.transcript.canonical_json); the digest is SHA-256 of those bytes. Members, on the wire:

    v, version, previous, key_id, threshold, holders [{name, organisation, signing_key}],
    courts [{name, jurisdiction, public_key | null}],
    organisations [{name, public_key, may_submit, may_cosign}]

An officer certificate (version 1) is what an organisation's key signs for one officer:

    v, username, organisation, officer_key, not_before, not_after (YYYY-MM-DDTHH:MM:SSZ)

Both parsers are strict (exact members and types, canonical form, no duplicate names) and refuse any
other version by name. The chain and quorum checks are here too (check_successor, signers), so the
service and the holder's tool count signatures with the same code.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from escrow.crypto.disclosure import sign_certificate, verify_certificate, verify_roster
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256
from escrow.protocol import _fields
from escrow.protocol.errors import ProtocolError

ROSTER_VERSION: Final = 1
CERTIFICATE_VERSION: Final = 1
_ROSTER: Final = "roster"
_CERTIFICATE: Final = "officer certificate"
_ROSTER_KEYS: Final = (
    "v",
    "version",
    "previous",
    "key_id",
    "threshold",
    "holders",
    "courts",
    "organisations",
)
_CERTIFICATE_KEYS: Final = ("v", "username", "organisation", "officer_key", "not_before", "not_after")
MAX_ENTRIES: Final = 500


class RosterError(ProtocolError):
    """A roster or certificate fails a check: not in force, not chained, not signed, or not listed."""

    code = "roster-refused"
    title = "Roster check failed"


def _key(data: Any, key: str, what: str, *, optional: bool = False) -> str | None:
    value = data[key]
    if value is None and optional:
        return None
    try:
        b64u_decode(value, length=32)
    except CryptoError as e:
        raise ProtocolError(f"{what}: {key} must be the base64url of a 32-byte Ed25519 key") from e
    assert isinstance(value, str)  # noqa: S101 - b64u_decode accepted it
    return value


def _list(data: Any, key: str, what: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise ProtocolError(f"{what}: {key} must be a list of at most {MAX_ENTRIES}")
    return value


@dataclass(frozen=True, slots=True)
class RosterHolder:
    """A key-holder of the escrow key, by the Ed25519 key that signs their approvals and rosters."""

    name: str
    organisation: str
    signing_key: str

    @classmethod
    def from_dict(cls, data: object) -> RosterHolder:
        what = f"{_ROSTER}: holder"
        d = _fields.members(data, what, ("name", "organisation", "signing_key"))
        return cls(
            _fields.name(d, "name", what),
            _fields.text(d, "organisation", what),
            str(_key(d, "signing_key", what)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "organisation": self.organisation, "signing_key": self.signing_key}


@dataclass(frozen=True, slots=True)
class RosterCourt:
    """A court whose orders may open a disclosure, and the key it signs them with (None: it does not)."""

    name: str
    jurisdiction: str
    public_key: str | None

    @classmethod
    def from_dict(cls, data: object) -> RosterCourt:
        what = f"{_ROSTER}: court"
        d = _fields.members(data, what, ("name", "jurisdiction", "public_key"))
        return cls(
            _fields.name(d, "name", what),
            _fields.text(d, "jurisdiction", what),
            _key(d, "public_key", what, optional=True),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "jurisdiction": self.jurisdiction, "public_key": self.public_key}


@dataclass(frozen=True, slots=True)
class RosterOrganisation:
    """An organisation whose legal officers may submit and/or co-sign, and its certifying key."""

    name: str
    public_key: str
    may_submit: bool
    may_cosign: bool

    @classmethod
    def from_dict(cls, data: object) -> RosterOrganisation:
        what = f"{_ROSTER}: organisation"
        d = _fields.members(data, what, ("name", "public_key", "may_submit", "may_cosign"))
        return cls(
            _fields.name(d, "name", what),
            str(_key(d, "public_key", what)),
            _fields.boolean(d, "may_submit", what),
            _fields.boolean(d, "may_cosign", what),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "public_key": self.public_key,
            "may_submit": self.may_submit,
            "may_cosign": self.may_cosign,
        }


def _unique(names: Iterable[object], what: str) -> None:
    seen = list(names)
    if len(set(seen)) != len(seen):
        raise ProtocolError(f"{_ROSTER}: {what} listed twice")


@dataclass(frozen=True, slots=True, kw_only=True)
class Roster:
    """One roster version. `previous` is the base64url digest of the version before (None: the first)."""

    version: int
    previous: str | None
    key_id: str
    threshold: int
    holders: tuple[RosterHolder, ...]
    courts: tuple[RosterCourt, ...]
    organisations: tuple[RosterOrganisation, ...]
    v: int = ROSTER_VERSION

    def __post_init__(self) -> None:
        for field_name in ("holders", "courts", "organisations"):
            object.__setattr__(self, field_name, tuple(getattr(self, field_name)))
        _unique((h.signing_key for h in self.holders), "a holder key")
        _unique(((c.name, c.jurisdiction) for c in self.courts), "a court")
        _unique((o.name for o in self.organisations), "an organisation")
        if not 1 <= self.threshold <= len(self.holders):
            raise ProtocolError(f"{_ROSTER}: threshold must be 1 to the number of holders")

    @classmethod
    def from_dict(cls, data: object) -> Roster:
        """Returns the roster in `data`. Raises UnsupportedVersionError, ProtocolError."""
        if isinstance(data, dict) and "v" in data:
            _fields.version(data, "v", _ROSTER, (ROSTER_VERSION,))
        d = _fields.members(data, _ROSTER, _ROSTER_KEYS)
        previous = None if d["previous"] is None else _fields.b64u_digest(d, "previous", _ROSTER)
        roster = cls(
            v=_fields.version(d, "v", _ROSTER, (ROSTER_VERSION,)),
            version=_fields.integer(d, "version", _ROSTER, minimum=1),
            previous=previous,
            key_id=_fields.name(d, "key_id", _ROSTER),
            threshold=_fields.integer(d, "threshold", _ROSTER, minimum=1),
            holders=tuple(RosterHolder.from_dict(h) for h in _list(d, "holders", _ROSTER)),
            courts=tuple(RosterCourt.from_dict(c) for c in _list(d, "courts", _ROSTER)),
            organisations=tuple(RosterOrganisation.from_dict(o) for o in _list(d, "organisations", _ROSTER)),
        )
        if (roster.version == 1) != (previous is None):
            raise ProtocolError(f"{_ROSTER}: only version 1 has no previous version")
        # Parsing loses nothing: the digest the holders signed is of exactly these bytes.
        if not hmac.compare_digest(roster.canonical_bytes(), canonical_json(data)):
            raise ProtocolError(f"{_ROSTER} is not in its canonical form")
        return roster

    @classmethod
    def from_json(cls, text: str | bytes) -> Roster:
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as e:
            raise ProtocolError(f"{_ROSTER} is not JSON") from e
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "version": self.version,
            "previous": self.previous,
            "key_id": self.key_id,
            "threshold": self.threshold,
            "holders": [h.to_dict() for h in self.holders],
            "courts": [c.to_dict() for c in self.courts],
            "organisations": [o.to_dict() for o in self.organisations],
        }

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    def digest(self) -> bytes:
        """SHA-256 of the canonical bytes: what every holder signs, and what the next version names."""
        return sha256(self.canonical_bytes())

    def court(self, name: str, jurisdiction: str) -> RosterCourt:
        """Returns the listed court. Raises RosterError if the roster does not list it."""
        for court in self.courts:
            if court.name == name and court.jurisdiction == jurisdiction:
                return court
        raise RosterError(
            f"the roster the holders signed (version {self.version}) lists no court {name!r} ({jurisdiction})"
        )

    def organisation(self, name: str) -> RosterOrganisation:
        """Returns the listed organisation. Raises RosterError if the roster does not list it."""
        for organisation in self.organisations:
            if organisation.name == name:
                return organisation
        raise RosterError(
            f"the roster the holders signed (version {self.version}) lists no organisation {name!r}"
        )

    def may_cosign(self, organisation: str) -> bool:
        """Whether officers of `organisation` may co-sign under this roster."""
        return any(o.name == organisation and o.may_cosign for o in self.organisations)


def signers(
    roster: Roster, signatures: Iterable[tuple[str, str]], holders: Iterable[RosterHolder]
) -> set[str]:
    """Returns the signing keys (base64url) among `holders` whose signature over `roster`'s digest in
    `signatures` ((signing_key, signature) pairs, base64url) verifies. Others are ignored, never trusted."""
    listed = {h.signing_key for h in holders}
    digest = roster.digest()
    valid = set()
    for key, signature in signatures:
        if key not in listed or key in valid:
            continue
        try:
            verify_roster(b64u_decode(key, length=32), digest, b64u_decode(signature, length=64))
        except (CryptoError, TypeError):
            continue
        valid.add(key)
    return valid


def check_successor(previous: Roster | None, roster: Roster, signatures: Iterable[tuple[str, str]]) -> None:
    """Checks that `roster` is in force after `previous` (None: it is the first version): it names
    previous's digest and version + 1, and t holders of previous (for the first, of itself) signed it,
    t being that version's threshold. Raises RosterError naming what is missing."""
    pairs = list(signatures)
    if previous is None:
        if roster.version != 1 or roster.previous is not None:
            raise RosterError(f"roster version {roster.version} does not start the chain")
        authority = roster
    else:
        if roster.version != previous.version + 1 or roster.previous != b64u_encode(previous.digest()):
            raise RosterError(
                f"roster version {roster.version} does not follow version {previous.version} (its digest)"
            )
        authority = previous
    count = len(signers(roster, pairs, authority.holders))
    if count < authority.threshold:
        raise RosterError(
            f"roster version {roster.version} has {count} valid holder signature(s); "
            f"{authority.threshold} of the holders of version {authority.version} are needed"
        )


def parse_log_time(value: object) -> datetime:
    """Returns a log entry's `time` (YYYY-MM-DDTHH:MM:SSZ, UTC): when a certificate must be valid.
    Raises ProtocolError."""
    return _fields.utc_second({"time": value}, "time", "log entry")


@dataclass(frozen=True, slots=True, kw_only=True)
class OfficerCertificate:
    """An organisation's statement that `officer_key` is the signing key of its officer `username`."""

    username: str
    organisation: str
    officer_key: str
    not_before: datetime
    not_after: datetime
    v: int = CERTIFICATE_VERSION

    @classmethod
    def from_dict(cls, data: object) -> OfficerCertificate:
        """Returns the certificate in `data`. Raises UnsupportedVersionError, ProtocolError."""
        if isinstance(data, dict) and "v" in data:
            _fields.version(data, "v", _CERTIFICATE, (CERTIFICATE_VERSION,))
        d = _fields.members(data, _CERTIFICATE, _CERTIFICATE_KEYS)
        certificate = cls(
            v=_fields.version(d, "v", _CERTIFICATE, (CERTIFICATE_VERSION,)),
            username=_fields.name(d, "username", _CERTIFICATE),
            organisation=_fields.name(d, "organisation", _CERTIFICATE),
            officer_key=str(_key(d, "officer_key", _CERTIFICATE)),
            not_before=_fields.utc_second(d, "not_before", _CERTIFICATE),
            not_after=_fields.utc_second(d, "not_after", _CERTIFICATE),
        )
        if certificate.not_after <= certificate.not_before:
            raise ProtocolError(f"{_CERTIFICATE}: not_after must be after not_before")
        return certificate

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.v,
            "username": self.username,
            "organisation": self.organisation,
            "officer_key": self.officer_key,
            "not_before": _fields.utc_second_text(self.not_before),
            "not_after": _fields.utc_second_text(self.not_after),
        }

    def digest(self) -> bytes:
        return sha256(canonical_json(self.to_dict()))

    def signed(self, org_seed: bytes) -> dict[str, Any]:
        """Returns {certificate, signature}: this certificate signed with the organisation's Ed25519
        seed, as the service records it (escrow org certify; the development seeding)."""
        parsed = OfficerCertificate.from_dict(self.to_dict())  # the same checks as a reader makes
        return {
            "certificate": parsed.to_dict(),
            "signature": b64u_encode(sign_certificate(org_seed, parsed.digest())),
        }

    def check(self, roster: Roster, signature_b64: object, *, at: datetime) -> RosterOrganisation:
        """Checks that the roster lists this certificate's organisation, whose key signed it, and that it
        is valid at `at`. Returns the organisation. Raises RosterError."""
        organisation = roster.organisation(self.organisation)
        try:
            verify_certificate(
                b64u_decode(organisation.public_key, length=32),
                self.digest(),
                b64u_decode(signature_b64, length=64),  # type: ignore[arg-type]  # refused if not str
            )
        except (CryptoError, TypeError) as e:
            raise RosterError(
                f"the certificate of officer {self.username!r} is not signed by the key the roster lists "
                f"for {self.organisation!r}"
            ) from e
        if not self.not_before <= at <= self.not_after:
            raise RosterError(
                f"the certificate of officer {self.username!r} is not valid at {_fields.utc_second_text(at)}"
            )
        return organisation
