"""The disclosure request body (version 2): what legal officers and key-holders sign, by its digest.

The body is fixed when a request is drafted (escrow.services) and read on the officers' and key-holders'
own machines (escrow.client.disclosure); both sides build and parse it here. Encoded as canonical JSON
(escrow.crypto.transcript.canonical_json); the request digest is SHA-256 of those bytes
(escrow.crypto.disclosure.request_digest). Version 2's members, on the wire:

    v, nonce, court {id, name, jurisdiction}, case_number, order_sha256, court_signature (the verdict
    on the court's signature: verified, unsigned or signature-invalid), legal_basis, emergency,
    scope [items, escrow.protocol.scope], expires_at (YYYY-MM-DDTHH:MM:SSZ), notify_delay_days,
    key_id, submitter {username, organisation}, blinding [points]

``blinding`` (new in version 2, issue 14) holds one base64url Ed25519 point B_j = b_j*G per scope item,
made by the submitting officer's tool (escrow.crypto.disclosure.blinding_point) and added when they
submit; a draft has none. Key-holders decrypt R_j + B_j, so only the holder of b_j opens the result.

The parser is strict (exact members, exact types) and refuses any other version by name, so a tool of
an older release never misreads a newer body. Encoding a parsed body gives back the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from escrow.crypto.disclosure import VERDICT_INVALID, VERDICT_UNSIGNED, VERDICT_VERIFIED, request_digest
from escrow.crypto.errors import CryptoError
from escrow.crypto.group import Point
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.protocol import _fields
from escrow.protocol.errors import ProtocolError
from escrow.protocol.scope import ScopeItem, parse_scope_item

BODY_VERSION: Final = 2
SUPPORTED_VERSIONS: Final = (BODY_VERSION,)
VERDICTS: Final = (VERDICT_VERIFIED, VERDICT_UNSIGNED, VERDICT_INVALID)
_WHAT: Final = "disclosure request body"
_KEYS: Final = (
    "v",
    "nonce",
    "court",
    "case_number",
    "order_sha256",
    "court_signature",
    "legal_basis",
    "emergency",
    "scope",
    "expires_at",
    "notify_delay_days",
    "key_id",
    "submitter",
    "blinding",
)
_NONCE: Final = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16): two equal requests digest apart
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_VERDICT: Final = re.compile("|".join(VERDICTS))


def parse_blinding(data: object) -> tuple[Point, ...]:
    """Returns the blinding points in `data` (a JSON list of base64url points). Raises ProtocolError."""
    if not isinstance(data, list):
        raise ProtocolError(f"{_WHAT}: blinding must be a list")
    points = []
    for item in data:
        try:
            if not isinstance(item, str):
                raise ProtocolError(f"{_WHAT}: a blinding point is base64url text")
            points.append(Point.decode(b64u_decode(item, length=32)))
        except CryptoError as e:
            raise ProtocolError(f"{_WHAT}: a blinding point is not a valid group element") from e
    return tuple(points)


@dataclass(frozen=True, slots=True)
class CourtReference:
    """The court whose order the request carries, as registered when the request was drafted."""

    id: int
    name: str
    jurisdiction: str

    @classmethod
    def from_dict(cls, data: object) -> CourtReference:
        """Returns the court in `data`. Raises ProtocolError."""
        what = f"{_WHAT}: court"
        court = _fields.members(data, what, ("id", "name", "jurisdiction"))
        return cls(
            id=_fields.integer(court, "id", what, minimum=1),
            name=_fields.text(court, "name", what),
            jurisdiction=_fields.text(court, "jurisdiction", what),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "jurisdiction": self.jurisdiction}


@dataclass(frozen=True, slots=True)
class Submitter:
    """The legal officer who drafted and submits the request, and their organisation."""

    username: str
    organisation: str

    @classmethod
    def from_dict(cls, data: object) -> Submitter:
        """Returns the submitter in `data`. Raises ProtocolError."""
        what = f"{_WHAT}: submitter"
        submitter = _fields.members(data, what, ("username", "organisation"))
        return cls(
            username=_fields.name(submitter, "username", what),
            organisation=_fields.text(submitter, "organisation", what),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"username": self.username, "organisation": self.organisation}


@dataclass(frozen=True, slots=True, kw_only=True)
class DisclosureBody:
    """A disclosure request body. `expires_at` must be timezone-aware; it is kept to the second in UTC.

    `court_verdict` is the wire member ``court_signature`` and `is_emergency` the member ``emergency``.
    """

    nonce: str
    court: CourtReference
    case_number: str
    order_sha256: str
    court_verdict: str
    legal_basis: str
    is_emergency: bool
    scope: tuple[ScopeItem, ...]
    expires_at: datetime
    notify_delay_days: int
    key_id: str
    submitter: Submitter
    blinding: tuple[Point, ...] = ()
    version: int = BODY_VERSION

    def __post_init__(self) -> None:
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        # Normalised as encoded, so that a body built here and the same body parsed back compare equal.
        object.__setattr__(self, "expires_at", self.expires_at.astimezone(UTC).replace(microsecond=0))
        object.__setattr__(self, "scope", tuple(self.scope))
        object.__setattr__(self, "blinding", tuple(self.blinding))
        if self.blinding and len(self.blinding) != len(self.scope):
            raise ProtocolError(f"{_WHAT}: blinding must hold one point per scope item, or none")

    @property
    def is_blinded(self) -> bool:
        """True once the submitting officer's blinding points are in (every submitted request)."""
        return len(self.blinding) == len(self.scope)

    def with_blinding(self, points: tuple[Point, ...] | list[Point]) -> DisclosureBody:
        """Returns this body with the submitting officer's blinding points (one per scope item)."""
        return dataclasses.replace(self, blinding=tuple(points))

    @classmethod
    def from_dict(cls, data: object) -> DisclosureBody:
        """Returns the body in `data` (a decoded JSON object).

        Raises UnsupportedVersionError naming a version other than 1, UnknownScopeKindError for a scope
        kind this code does not know, and ProtocolError for a missing or unknown member or a wrong type.
        """
        # The version first: a newer body is refused by its version, not by the members it added.
        if isinstance(data, dict) and "v" in data:
            _fields.version(data, "v", _WHAT, SUPPORTED_VERSIONS)
        body = _fields.members(data, _WHAT, _KEYS)
        scope = body["scope"]
        if not isinstance(scope, list) or not scope:
            raise ProtocolError(f"{_WHAT}: scope must be a non-empty list")
        return cls(
            version=_fields.version(body, "v", _WHAT, SUPPORTED_VERSIONS),
            nonce=_fields.text(body, "nonce", _WHAT, pattern=_NONCE),
            court=CourtReference.from_dict(body["court"]),
            case_number=_fields.text(body, "case_number", _WHAT),
            order_sha256=_fields.text(body, "order_sha256", _WHAT, pattern=_SHA256_HEX),
            court_verdict=_fields.text(body, "court_signature", _WHAT, pattern=_VERDICT),
            legal_basis=_fields.text(body, "legal_basis", _WHAT),
            is_emergency=_fields.boolean(body, "emergency", _WHAT),
            scope=tuple(parse_scope_item(item) for item in scope),
            expires_at=_fields.utc_second(body, "expires_at", _WHAT),
            notify_delay_days=_fields.integer(body, "notify_delay_days", _WHAT),
            key_id=_fields.name(body, "key_id", _WHAT),
            submitter=Submitter.from_dict(body["submitter"]),
            blinding=parse_blinding(body["blinding"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> DisclosureBody:
        """Returns the body in JSON `text` (as stored or served). Raises what from_dict raises."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as e:
            raise ProtocolError(f"{_WHAT} is not JSON") from e
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Returns the body as its JSON object (what canonical_bytes encodes)."""
        return {
            "v": self.version,
            "nonce": self.nonce,
            "court": self.court.to_dict(),
            "case_number": self.case_number,
            "order_sha256": self.order_sha256,
            "court_signature": self.court_verdict,
            "legal_basis": self.legal_basis,
            "emergency": self.is_emergency,
            "scope": self.scope_list(),
            "expires_at": self.expires_at_text,
            "notify_delay_days": self.notify_delay_days,
            "key_id": self.key_id,
            "submitter": self.submitter.to_dict(),
            "blinding": [b64u_encode(bytes(point)) for point in self.blinding],
        }

    @property
    def expires_at_text(self) -> str:
        """Returns the expiry as encoded: `YYYY-MM-DDTHH:MM:SSZ`, in UTC."""
        return _fields.utc_second_text(self.expires_at)

    def scope_list(self) -> list[dict[str, Any]]:
        """Returns the scope as encoded in the body (what the log's sensitive part commits to)."""
        return [item.to_dict() for item in self.scope]

    def canonical_bytes(self) -> bytes:
        """Returns the canonical JSON bytes of the body. Raises EncodingError (a float smuggled in)."""
        return canonical_json(self.to_dict())

    def digest(self) -> bytes:
        """Returns the request digest: SHA-256 of canonical_bytes(), what every officer and holder signs."""
        return request_digest(self.to_dict())
