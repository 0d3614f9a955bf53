"""What crosses between the escrow service and one OPRF node (issue 13, docs/protocol.md#oprf-nodes).

    POST /evaluate   Authorization: Escrow-Service key=<b64u>, ts=<unix ms>, nonce=<b64u>, sig=<b64u>
                     {"version": 1, "key_id": ..., "node": i, "elements": [<b64u ristretto255>, ...]}
                  -> {"version": 1, "key_id": ..., "node": i, "evaluated": [...], "proof": <b64u 64 bytes>}
    GET  /key     -> {"version": 1, "key_id": ..., "node": i, "threshold": t, "public_share": <b64u>}
    GET  /stats   -> {"version": 1, "key_id": ..., "node": i, "limits": {...},
                      "hours": [{"hour": ..., "elements": n}, ...]}

Each answer is a plain RFC 9497 VOPRF answer for the node's share (`evaluated[j] = k_i * elements[j]`,
one batched DLEQ proof against the node's public share), so any RFC 9497 client can check one node.
The body names the key and the node it is for; the signature covers the body, so a request signed for
one node or key is refused by every other. Every parser here is strict: exact members and types,
canonical base64url, valid non-identity ristretto255 elements, at most MAX_BATCH of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from escrow.crypto.ceremony_messages import (
    NONCE_BYTES,
    InvalidSignatureError,
    sign_node_request,
    verify_node_request,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.oprf import MAX_BATCH, Proof
from escrow.crypto.ristretto import Element
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.errors import InvalidTokenError
from escrow.protocol import _fields
from escrow.protocol.errors import ProtocolError

VERSION: Final = 1
AUTH_SCHEME: Final = "Escrow-Service"
MAX_BODY_BYTES: Final = 64 * 1024  # MAX_BATCH base64url elements fit with room to spare
_AUTH_FIELDS: Final = ("key", "ts", "nonce", "sig")
_TIMESTAMP: Final = re.compile(r"(0|[1-9][0-9]{0,15})")
_KEY_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")  # ek1-<hex>, as escrow.crypto.dkg names keys
_HOUR: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z")
_MAX_HEADER: Final = 512
_LIMIT_WINDOWS: Final = ("minute", "hour", "day")


class InvalidServiceSignatureError(InvalidTokenError):
    """A request to an OPRF node is unsigned, signed by another key, stale, replayed or malformed."""

    code = "invalid-service-signature"
    title = "Invalid escrow service signature"


def _b64(data: bytes) -> str:
    return b64u_encode(data)


def _parse_json(body: bytes, what: str) -> object:
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(f"{what} is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ProtocolError(f"{what} is not JSON") from e


def _element(value: object, what: str) -> Element:
    try:
        return Element.decode(b64u_decode(value, length=32))  # type: ignore[arg-type]  # refuses non-text
    except CryptoError as e:
        raise ProtocolError(f"{what} is not a valid ristretto255 element ({e})") from e


def _elements(value: object, what: str) -> tuple[Element, ...]:
    if not isinstance(value, list) or not value:
        raise ProtocolError(f"{what} must be a non-empty list")
    if len(value) > MAX_BATCH:
        raise ProtocolError(f"{what}: at most {MAX_BATCH} elements in one request, got {len(value)}")
    return tuple(_element(item, f"{what}[{j}]") for j, item in enumerate(value))


def _node(data: dict[str, object] | object, what: str) -> int:
    assert isinstance(data, dict)  # noqa: S101 - members() checked it
    node = _fields.integer(data, "node", what, minimum=1)
    if node > 255:
        raise ProtocolError(f"{what}: node must be between 1 and 255")
    return node


def _key_id(data: dict[str, object] | object, what: str) -> str:
    assert isinstance(data, dict)  # noqa: S101 - members() checked it
    return _fields.text(data, "key_id", what, pattern=_KEY_ID)


@dataclass(frozen=True, slots=True)
class EvaluateRequest:
    """Blinded elements for node `node` to evaluate under its share of key `key_id`."""

    key_id: str
    node: int
    elements: tuple[Element, ...]

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "version": VERSION,
                "key_id": self.key_id,
                "node": self.node,
                "elements": [_b64(bytes(e)) for e in self.elements],
            }
        )

    @classmethod
    def parse(cls, body: bytes) -> EvaluateRequest:
        """Returns the request in `body`. Raises ProtocolError (or UnsupportedVersionError) naming it."""
        what = "evaluation request"
        data = _fields.members(_parse_json(body, what), what, ("version", "key_id", "node", "elements"))
        _fields.version(data, "version", what, (VERSION,))
        return cls(
            key_id=_key_id(data, what),
            node=_node(data, what),
            elements=_elements(data["elements"], "elements"),
        )


@dataclass(frozen=True, slots=True)
class EvaluateResponse:
    """A node's answer: one evaluated element per request element and one batched DLEQ proof."""

    key_id: str
    node: int
    evaluated: tuple[Element, ...]
    proof: Proof

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "version": VERSION,
                "key_id": self.key_id,
                "node": self.node,
                "evaluated": [_b64(bytes(e)) for e in self.evaluated],
                "proof": _b64(self.proof.to_bytes()),
            }
        )

    @classmethod
    def parse(cls, body: bytes, *, expected: EvaluateRequest) -> EvaluateResponse:
        """Returns the answer in `body` to `expected`. Raises ProtocolError if it is malformed or answers
        another key, another node or another number of elements (the proof is checked by the caller)."""
        what = "evaluation answer"
        data = _fields.members(
            _parse_json(body, what), what, ("version", "key_id", "node", "evaluated", "proof")
        )
        _fields.version(data, "version", what, (VERSION,))
        key_id, node = _key_id(data, what), _node(data, what)
        if (key_id, node) != (expected.key_id, expected.node):
            raise ProtocolError(
                f"{what} is for node {node} of key {key_id}, not node {expected.node} of {expected.key_id}"
            )
        evaluated = _elements(data["evaluated"], "evaluated")
        if len(evaluated) != len(expected.elements):
            raise ProtocolError(f"{what} has {len(evaluated)} elements for {len(expected.elements)} asked")
        try:
            proof = Proof.from_bytes(b64u_decode(data["proof"], length=64))  # type: ignore[arg-type]
        except CryptoError as e:
            raise ProtocolError(f"{what}: proof is not two canonical scalars ({e})") from e
        return cls(key_id=key_id, node=node, evaluated=evaluated, proof=proof)


@dataclass(frozen=True, slots=True)
class NodeKey:
    """What a node says about itself: the key it holds a share of, its index and its public share."""

    key_id: str
    node: int
    threshold: int
    public_share: Element

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "version": VERSION,
                "key_id": self.key_id,
                "node": self.node,
                "threshold": self.threshold,
                "public_share": _b64(bytes(self.public_share)),
            }
        )

    @classmethod
    def parse(cls, body: bytes) -> NodeKey:
        what = "node key"
        data = _fields.members(
            _parse_json(body, what), what, ("version", "key_id", "node", "threshold", "public_share")
        )
        _fields.version(data, "version", what, (VERSION,))
        return cls(
            key_id=_key_id(data, what),
            node=_node(data, what),
            threshold=_fields.integer(data, "threshold", what, minimum=1),
            public_share=_element(data["public_share"], "public_share"),
        )


@dataclass(frozen=True, slots=True)
class NodeStats:
    """A node's published counts: elements evaluated per UTC hour (never inputs) and its quotas."""

    key_id: str
    node: int
    limits: dict[str, int]
    hours: tuple[tuple[datetime, int], ...]

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "version": VERSION,
                "key_id": self.key_id,
                "node": self.node,
                "limits": dict(self.limits),
                "hours": [{"hour": _fields.utc_second_text(h), "elements": n} for h, n in self.hours],
            }
        )

    @classmethod
    def parse(cls, body: bytes) -> NodeStats:
        what = "node stats"
        data = _fields.members(
            _parse_json(body, what), what, ("version", "key_id", "node", "limits", "hours")
        )
        _fields.version(data, "version", what, (VERSION,))
        limits = _fields.members(data["limits"], "limits", _LIMIT_WINDOWS)
        hours = data["hours"]
        if not isinstance(hours, list):
            raise ProtocolError(f"{what}: hours must be a list")
        parsed = []
        for item in hours:
            row = _fields.members(item, "hours[]", ("hour", "elements"))
            _fields.text(row, "hour", "hours[]", pattern=_HOUR)
            parsed.append(
                (_fields.utc_second(row, "hour", "hours[]"), _fields.integer(row, "elements", "hours[]"))
            )
        return cls(
            key_id=_key_id(data, what),
            node=_node(data, what),
            limits={w: _fields.integer(limits, w, "limits") for w in _LIMIT_WINDOWS},
            hours=tuple(parsed),
        )


@dataclass(frozen=True, slots=True)
class ServiceAuthorization:
    """The escrow service's signature on one node request: its key, the time, a nonce, the signature."""

    signing_key: bytes
    timestamp_ms: int
    nonce: bytes
    signature: bytes

    def to_header(self) -> str:
        return (
            f"{AUTH_SCHEME} key={_b64(self.signing_key)}, ts={self.timestamp_ms}, "
            f"nonce={_b64(self.nonce)}, sig={_b64(self.signature)}"
        )

    @classmethod
    def parse(cls, header: str | None) -> ServiceAuthorization:
        """Returns the authorization in an Authorization header value. Raises InvalidServiceSignatureError
        unless it is exactly key, ts, nonce and sig once each, in canonical encodings."""
        if not header or not header.startswith(AUTH_SCHEME + " "):
            raise InvalidServiceSignatureError(
                "this endpoint needs the escrow service's signature (Escrow-Service)"
            )
        if len(header) > _MAX_HEADER:
            raise InvalidServiceSignatureError("malformed Escrow-Service authorization: too long")
        fields: dict[str, str] = {}
        for part in header[len(AUTH_SCHEME) + 1 :].split(","):
            name, equals, value = part.strip().partition("=")
            if not equals or name not in _AUTH_FIELDS or name in fields:
                raise InvalidServiceSignatureError(
                    "malformed Escrow-Service authorization: expected key=, ts=, nonce= and sig= once each"
                )
            fields[name] = value
        if set(fields) != set(_AUTH_FIELDS):
            raise InvalidServiceSignatureError(
                "malformed Escrow-Service authorization: expected key=, ts=, nonce= and sig= once each"
            )
        if not _TIMESTAMP.fullmatch(fields["ts"]):
            raise InvalidServiceSignatureError("malformed Escrow-Service authorization: ts is not a number")
        try:
            key = b64u_decode(fields["key"], length=32)
            nonce = b64u_decode(fields["nonce"], length=NONCE_BYTES)
            signature = b64u_decode(fields["sig"], length=64)
        except CryptoError as e:
            raise InvalidServiceSignatureError("malformed Escrow-Service authorization") from e
        return cls(signing_key=key, timestamp_ms=int(fields["ts"]), nonce=nonce, signature=signature)

    def verify(self, method: str, path: str, body: bytes) -> None:
        """Checks that this signature covers exactly (method, path, time, nonce, body)."""
        try:
            verify_node_request(
                self.signing_key, method, path, self.timestamp_ms, self.nonce, body, self.signature
            )
        except InvalidSignatureError as e:
            raise InvalidServiceSignatureError("the request signature does not verify") from e


def sign_service_request(
    signing_seed: bytes,
    signing_key: bytes,
    *,
    method: str,
    path: str,
    timestamp_ms: int,
    nonce: bytes,
    body: bytes,
) -> ServiceAuthorization:
    """Returns the authorization of one node request, signed with the service's Ed25519 seed."""
    signature = sign_node_request(signing_seed, method, path, timestamp_ms, nonce, body)
    return ServiceAuthorization(
        signing_key=signing_key, timestamp_ms=timestamp_ms, nonce=nonce, signature=signature
    )
