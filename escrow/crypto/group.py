"""Scalars and points of the prime-order subgroup of Ed25519, over libsodium (PyNaCl bindings).

Group: the order-L subgroup of edwards25519 (RFC 8032 §5.1, RFC 7748), L = 2^252 + 27742...493.
Every point that comes from outside enters through `Point.decode`, which calls libsodium's
`crypto_core_ed25519_is_valid_point`: it rejects non-canonical encodings, points off the curve, points
of small order (the identity included) and points with a torsion component (off the subgroup).
Scalars from outside enter through `Scalar.decode`, which rejects non-canonical (>= L) encodings.
Points made here (sums, multiples) are trusted and not re-validated: that check costs a scalar
multiplication.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable

import nacl.bindings as _sodium
import nacl.exceptions

from escrow.crypto.errors import InvalidPointError, InvalidScalarError

L = 2**252 + 27742317777372353535851937790883648493
"""Order of the prime-order subgroup (RFC 8032 §5.1)."""

SCALAR_BYTES = 32
POINT_BYTES = 32

RandomSource = Callable[[int], bytes]
"""Returns n random bytes. Production uses os.urandom; known-answer tests pass a seeded generator."""

_IDENTITY_BYTES = b"\x01" + b"\x00" * 31


class Scalar:
    """An integer modulo L, kept as its canonical 32-byte little-endian encoding.

    Equality is constant-time; repr never shows the value (scalars are often secrets).
    """

    __slots__ = ("_b",)

    def __init__(self, encoded: bytes) -> None:
        # Internal constructor: callers outside this module use decode(), from_int() or random().
        self._b = encoded

    @classmethod
    def decode(cls, data: bytes) -> Scalar:
        """Returns the scalar encoded by `data`. Raises InvalidScalarError unless canonical (< L)."""
        if not isinstance(data, bytes | bytearray) or len(data) != SCALAR_BYTES:
            raise InvalidScalarError("a scalar is 32 bytes")
        if int.from_bytes(data, "little") >= L:
            raise InvalidScalarError("scalar is not reduced modulo the group order")
        return cls(bytes(data))

    @classmethod
    def from_int(cls, value: int) -> Scalar:
        """Returns value mod L (for public values: indices, Lagrange coefficients)."""
        return cls((value % L).to_bytes(SCALAR_BYTES, "little"))

    @classmethod
    def reduce(cls, wide: bytes) -> Scalar:
        """Returns a 64-byte string reduced mod L (uniform when the input is uniform)."""
        if len(wide) != 64:
            raise InvalidScalarError("reduction takes 64 bytes")
        return cls(_sodium.crypto_core_ed25519_scalar_reduce(wide))

    @classmethod
    def random(cls, rand: RandomSource = os.urandom) -> Scalar:
        """Returns a uniformly random non-zero scalar (64 random bytes reduced mod L)."""
        while True:
            s = cls.reduce(rand(64))
            if not s.is_zero():
                return s

    def __bytes__(self) -> bytes:
        return self._b

    def to_int(self) -> int:
        return int.from_bytes(self._b, "little")

    def is_zero(self) -> bool:
        return hmac.compare_digest(self._b, _ZERO)

    def __add__(self, other: Scalar) -> Scalar:
        return Scalar(_sodium.crypto_core_ed25519_scalar_add(self._b, other._b))

    def __sub__(self, other: Scalar) -> Scalar:
        return Scalar(_sodium.crypto_core_ed25519_scalar_sub(self._b, other._b))

    def __mul__(self, other: Scalar) -> Scalar:
        return Scalar(_sodium.crypto_core_ed25519_scalar_mul(self._b, other._b))

    def __neg__(self) -> Scalar:
        return Scalar(_sodium.crypto_core_ed25519_scalar_negate(self._b))

    def invert(self) -> Scalar:
        """Returns 1/self mod L (libsodium, constant-time). Raises InvalidScalarError for zero."""
        if self.is_zero():
            raise InvalidScalarError("zero has no inverse")
        return Scalar(_sodium.crypto_core_ed25519_scalar_invert(self._b))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scalar):
            return NotImplemented
        return hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __repr__(self) -> str:
        return "Scalar(<hidden>)"


_ZERO = b"\x00" * 32
ZERO = Scalar(_ZERO)
ONE = Scalar.from_int(1)


class Point:
    """An element of the prime-order subgroup, kept as its canonical 32-byte encoding."""

    __slots__ = ("_b",)

    def __init__(self, encoded: bytes) -> None:
        # Internal constructor: points from outside must come through decode().
        self._b = encoded

    @classmethod
    def decode(cls, data: bytes) -> Point:
        """Returns the point encoded by `data`.

        Raises InvalidPointError for a wrong length, a non-canonical encoding, a point off the curve,
        the identity or any other small-order point, or a point outside the prime-order subgroup.
        """
        if not isinstance(data, bytes | bytearray) or len(data) != POINT_BYTES:
            raise InvalidPointError("a point is 32 bytes")
        if not _sodium.crypto_core_ed25519_is_valid_point(bytes(data)):
            raise InvalidPointError("not a canonical point of the prime-order subgroup")
        return cls(bytes(data))

    @classmethod
    def base_times(cls, scalar: Scalar) -> Point:
        """Returns scalar * G (G the RFC 8032 base point)."""
        if scalar.is_zero():
            return IDENTITY
        return cls(_sodium.crypto_scalarmult_ed25519_base_noclamp(bytes(scalar)))

    def __bytes__(self) -> bytes:
        return self._b

    def is_identity(self) -> bool:
        return self._b == _IDENTITY_BYTES

    def __mul__(self, scalar: Scalar) -> Point:
        if scalar.is_zero() or self.is_identity():
            return IDENTITY
        try:
            return Point(_sodium.crypto_scalarmult_ed25519_noclamp(bytes(scalar), self._b))
        except nacl.exceptions.RuntimeError as e:  # pragma: no cover - unreachable for subgroup points
            raise InvalidPointError("scalar multiplication failed") from e

    def __add__(self, other: Point) -> Point:
        return Point(_sodium.crypto_core_ed25519_add(self._b, other._b))

    def __sub__(self, other: Point) -> Point:
        return Point(_sodium.crypto_core_ed25519_sub(self._b, other._b))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __repr__(self) -> str:
        return f"Point({self._b.hex()})"


IDENTITY = Point(_IDENTITY_BYTES)
G = Point(_sodium.crypto_scalarmult_ed25519_base_noclamp(ONE._b))
"""The RFC 8032 base point."""


def sum_points(points: Iterable[Point]) -> Point:
    """Returns the sum of `points` (the identity for none)."""
    total = IDENTITY
    for p in points:
        total = total + p
    return total
