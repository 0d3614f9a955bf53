"""Canonical encodings and domain-separated hashing (Fiat-Shamir transcripts).

- `canonical_json`: the byte form of structured records that get hashed or signed (envelopes, contexts,
  requests). Sorted keys, no insignificant whitespace, UTF-8, integers only (no floats): the subset of
  RFC 8785 (JSON Canonicalization Scheme) on which it and Python's json agree byte for byte.
- `b64u_encode`/`b64u_decode`: unpadded base64url (RFC 4648 §5), strict on decode.
- `Transcript`: SHA-512 over a domain tag and length-prefixed labelled items; `challenge()` reduces the
  64-byte digest mod L (hash-to-scalar as in RFC 8032 §5.1.6 and the Fiat-Shamir heuristic).
- `expand_message_xmd`: RFC 9380 §5.3.1 with SHA-512, the one expander behind ristretto255's
  HashToGroup and HashToScalar (RFC 9497 §4.1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from escrow.crypto.errors import EncodingError
from escrow.crypto.group import Point, Scalar


def canonical_json(value: Any) -> bytes:
    """Returns the canonical UTF-8 JSON bytes of `value`.

    Raises EncodingError for floats, bytes, non-string keys, text with a lone surrogate, or any type
    other than dict, list, tuple, str, int, bool and None: each would make the encoding ambiguous
    across implementations (or impossible).
    """
    _check_canonical(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError as e:  # a lone surrogate ("\ud800") has no UTF-8 form
        raise EncodingError("canonical JSON text must be valid Unicode (no lone surrogates)") from e


def _check_canonical(value: Any) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_canonical(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError("canonical JSON keys must be strings")
            _check_canonical(item)
        return
    raise EncodingError(f"canonical JSON cannot encode {type(value).__name__}")


def b64u_encode(data: bytes) -> str:
    """Returns unpadded base64url text for `data`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str, *, length: int | None = None) -> bytes:
    """Returns the bytes of unpadded base64url `text`.

    Raises EncodingError for other alphabets, padding, non-canonical trailing bits, or (when `length`
    is given) a different decoded length.
    """
    if not isinstance(text, str) or "=" in text:
        raise EncodingError("expected unpadded base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise EncodingError("invalid base64url") from e
    if b64u_encode(data) != text:
        raise EncodingError("non-canonical base64url")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_XMD_BLOCK = 64  # SHA-512 output length b_in_bytes (RFC 9380 §5.3.1)
_XMD_RATE = 128  # SHA-512 input block length s_in_bytes
MAX_DST_BYTES = 255  # RFC 9380 §5.3.1: DST is at most 255 bytes (longer tags need §5.3.3; we have none)


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """Returns `length` uniform bytes: RFC 9380 §5.3.1 expand_message_xmd with H = SHA-512.

    Raises EncodingError for a DST that is empty or longer than 255 bytes, or a length outside
    1..255*64 (ell <= 255; both limits are the RFC's ABORT conditions).
    """
    if not isinstance(msg, bytes | bytearray) or not isinstance(dst, bytes | bytearray):
        raise EncodingError("expand_message_xmd takes bytes")
    if not 1 <= len(dst) <= MAX_DST_BYTES:
        raise EncodingError(f"a domain separation tag is 1..{MAX_DST_BYTES} bytes")
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 255 * _XMD_BLOCK:
        raise EncodingError(f"expand_message_xmd gives 1..{255 * _XMD_BLOCK} bytes")
    dst_prime = bytes(dst) + bytes([len(dst)])
    b_0 = hashlib.sha512(
        bytes(_XMD_RATE) + bytes(msg) + length.to_bytes(2, "big") + b"\x00" + dst_prime
    ).digest()
    b_i = hashlib.sha512(b_0 + b"\x01" + dst_prime).digest()
    blocks = [b_i]
    for i in range(2, -(-length // _XMD_BLOCK) + 1):
        b_i = hashlib.sha512(
            bytes(x ^ y for x, y in zip(b_0, b_i, strict=True)) + bytes([i]) + dst_prime
        ).digest()
        blocks.append(b_i)
    return b"".join(blocks)[:length]


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


class Transcript:
    """A domain-separated, length-prefixed hash input; SHA-512 over it.

    Encoding: u64be(len(domain)) || domain, then for each item u64be(len(label)) || label ||
    u64be(len(data)) || data. Length prefixes make the encoding injective, so two different transcripts
    never hash the same input.
    """

    __slots__ = ("_h",)

    def __init__(self, domain: bytes) -> None:
        self._h = hashlib.sha512()
        self._h.update(_u64(len(domain)) + domain)

    def append(self, label: bytes, data: bytes) -> Transcript:
        """Appends one labelled item; returns self for chaining."""
        self._h.update(_u64(len(label)) + label + _u64(len(data)) + data)
        return self

    def append_point(self, label: bytes, point: Point) -> Transcript:
        return self.append(label, bytes(point))

    def append_scalar(self, label: bytes, scalar: Scalar) -> Transcript:
        return self.append(label, bytes(scalar))

    def append_int(self, label: bytes, value: int) -> Transcript:
        return self.append(label, _u64(value))

    def digest(self) -> bytes:
        """Returns the 64-byte SHA-512 digest of the transcript so far."""
        return self._h.copy().digest()

    def challenge(self) -> Scalar:
        """Returns the transcript hashed to a scalar: SHA-512 digest reduced mod L."""
        return Scalar.reduce(self.digest())
