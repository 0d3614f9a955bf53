"""The signed-request envelope: how a key-holder's tool authenticates one HTTP request to the service.

    Authorization: Escrow-Holder key=<b64u Ed25519 key>, ts=<unix ms>, sig=<b64u Ed25519 signature>

The signature covers (method, request-target, timestamp, SHA-256 of the body) under a domain of its own
(escrow.crypto.ceremony_messages.request_signing_input), so a signature for one request is useless for
any other; the service adds the freshness window and the replay guard (escrow.services.keyholders).
The parser is strict: exactly the three fields, once each, in canonical encodings.

The request-target is the path and, when there is one, `?` and the query string as sent
(`request_target`, issue 16): the holder tool and the service both build it with that one function, so
a query cannot be added to, changed in or dropped from a signed request. (Before issue 16 only the
path was covered; a request without a query signs exactly the same bytes as it did then.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from escrow.crypto.ceremony_messages import (
    InvalidSignatureError,
    b64,
    public_keys,
    sign_request,
    unb64,
    verify_request,
)
from escrow.crypto.errors import CryptoError
from escrow.errors import InvalidTokenError

AUTH_SCHEME: Final = "Escrow-Holder"
_FIELDS: Final = ("key", "ts", "sig")
_TIMESTAMP = re.compile(r"(0|[1-9][0-9]{0,15})")  # decimal milliseconds, no sign, no leading zeros
_MAX_HEADER = 512


class InvalidHolderSignatureError(InvalidTokenError):
    """A holder request's signature, timestamp or key is not acceptable."""

    code = "invalid-holder-signature"
    title = "Invalid key-holder signature"


@dataclass(frozen=True, slots=True)
class HolderAuthorization:
    """One signed request's authorization: who signed (their Ed25519 key), when, and the signature."""

    signing_key: bytes
    timestamp_ms: int
    signature: bytes

    def to_header(self) -> str:
        """Returns the Authorization header value."""
        return f"{AUTH_SCHEME} key={b64(self.signing_key)}, ts={self.timestamp_ms}, sig={b64(self.signature)}"

    @classmethod
    def parse(cls, header: str | None) -> HolderAuthorization:
        """Returns the authorization in an Authorization header value.

        Raises InvalidHolderSignatureError if there is none, or it is not exactly ``key``, ``ts``
        and ``sig`` once each with a 32-byte key, a decimal timestamp and a 64-byte signature.
        """
        if not header or not header.startswith(AUTH_SCHEME + " "):
            raise InvalidHolderSignatureError("this endpoint needs a key-holder signature (Escrow-Holder)")
        if len(header) > _MAX_HEADER:
            raise InvalidHolderSignatureError("malformed Escrow-Holder authorization: too long")
        fields: dict[str, str] = {}
        for part in header[len(AUTH_SCHEME) + 1 :].split(","):
            name, equals, value = part.strip().partition("=")
            if not equals or name not in _FIELDS or name in fields:
                raise InvalidHolderSignatureError(
                    "malformed Escrow-Holder authorization: expected key=, ts= and sig= once each"
                )
            fields[name] = value
        if set(fields) != set(_FIELDS):
            raise InvalidHolderSignatureError(
                "malformed Escrow-Holder authorization: expected key=, ts= and sig= once each"
            )
        if not _TIMESTAMP.fullmatch(fields["ts"]):
            raise InvalidHolderSignatureError("malformed Escrow-Holder authorization: ts is not a number")
        try:
            key = unb64(fields["key"], length=32)
            signature = unb64(fields["sig"], length=64)
        except CryptoError as e:
            raise InvalidHolderSignatureError("malformed Escrow-Holder authorization") from e
        return cls(signing_key=key, timestamp_ms=int(fields["ts"]), signature=signature)

    def verify(self, method: str, target: str, body: bytes) -> None:
        """Checks that this signature covers exactly (method, target, timestamp, body); `target` is
        request_target(path, query) of the request received.

        Raises InvalidHolderSignatureError if it does not verify.
        """
        try:
            verify_request(self.signing_key, method, target, self.timestamp_ms, body, self.signature)
        except InvalidSignatureError as e:
            raise InvalidHolderSignatureError("the request signature does not verify") from e


def request_target(path: str, query: str = "") -> str:
    """Returns what a holder's signature covers of the URL: `path`, then `?` and `query` if not empty.

    The tool calls it with the parts of the URL it sends, the service with the path and the raw query
    string it received. Raises InvalidHolderSignatureError for a path that holds a `?` itself."""
    if "?" in path:
        raise InvalidHolderSignatureError("the path of a signed request holds no '?': pass the query apart")
    return f"{path}?{query}" if query else path


def split_target(url_path: str) -> tuple[str, str]:
    """Returns (path, query) of a path as the tool sends it ("/a/b?x=1" -> ("/a/b", "x=1"))."""
    path, _, query = url_path.partition("?")
    return path, query


def sign_holder_request(
    signing_seed: bytes, *, method: str, target: str, timestamp_ms: int, body: bytes
) -> HolderAuthorization:
    """Returns the authorization of one request to `target` (request_target(path, query)), signed with
    the holder's Ed25519 seed."""
    signature = sign_request(signing_seed, method, target, timestamp_ms, body)
    key = public_keys(signing_seed, bytes(32)).signing_key
    return HolderAuthorization(signing_key=key, timestamp_ms=timestamp_ms, signature=signature)
