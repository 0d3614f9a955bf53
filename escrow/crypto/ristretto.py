"""Elements of the ristretto255 group (RFC 9496), over the libsodium that rbcl bundles.

ristretto255 is a prime-order group of order L built on edwards25519: each element is a class of four
curve points that differ by a 4-torsion point, and its canonical 32-byte encoding (RFC 9496 §4.3.2)
makes the torsion invisible. Its scalars are the integers mod L, exactly `group.Scalar`.

Every element that comes from outside enters through `Element.decode`. libsodium's
`crypto_core_ristretto255_is_valid_point` rejects non-canonical and invalid encodings but ACCEPTS the
identity (NOTES.md, turn 2), so `decode` refuses the identity itself, as RFC 9497 §2.1 requires of
DeserializeElement. The libsodium that rbcl 1.1.2 bundles also ignores bit 255 (found here: the
generator's encoding with its top bit set passes `is_valid_point`), so a second encoding of every
element would decode; RFC 9496 §4.3.1 reads the 32 bytes as an integer that must be below p, so
`decode` refuses a set top bit itself too.

Elements made here (sums, multiples, hashes) are trusted, and may be the identity: libsodium's scalar
multiplication refuses an identity result, and RFC 9497's ComputeComposites can need one, so the
identity is handled here before libsodium is called.

`from_edwards` maps a point of the Ed25519 prime-order subgroup (`group.Point`) to its ristretto255
element. The ristretto255 generator is the Ed25519 base point, so
`from_edwards(Point.base_times(k)) == Element.base_times(k)` for every k: a key made by our Pedersen DKG
over `group.Point` is, read through this map, a ristretto255 key with the same shares.
"""

from __future__ import annotations

import hmac

import rbcl

from escrow.crypto.errors import EncodingError, InvalidPointError
from escrow.crypto.group import Point, Scalar
from escrow.crypto.transcript import expand_message_xmd

ELEMENT_BYTES = 32
_IDENTITY_BYTES = bytes(ELEMENT_BYTES)
_UNIFORM_BYTES = 64  # RFC 9496 §4.3.4: the element derivation function takes 64 uniform bytes


class Element:
    """An element of ristretto255, kept as its canonical 32-byte encoding (public data: repr shows it)."""

    __slots__ = ("_b",)

    def __init__(self, encoded: bytes) -> None:
        # Internal constructor: elements from outside must come through decode().
        self._b = encoded

    @classmethod
    def decode(cls, data: bytes) -> Element:
        """Returns the element encoded by `data` (RFC 9497 DeserializeElement).

        Raises InvalidPointError for a wrong type or length, a non-canonical encoding (bit 255 set,
        s >= p, s negative), an invalid one (RFC 9496 §4.3.1 Decode fails), or the identity element.
        """
        if not isinstance(data, bytes | bytearray) or len(data) != ELEMENT_BYTES:
            raise InvalidPointError("a ristretto255 element is 32 bytes")
        encoded = bytes(data)
        if encoded[31] & 0x80:
            # s >= 2^255 > p: not canonical (RFC 9496 §4.3.1); rbcl's libsodium would mask the bit.
            raise InvalidPointError("not a canonical ristretto255 encoding")
        if hmac.compare_digest(encoded, _IDENTITY_BYTES):
            raise InvalidPointError("the identity element is not accepted")
        if not rbcl.crypto_core_ristretto255_is_valid_point(encoded):
            raise InvalidPointError("not a canonical ristretto255 encoding")
        return cls(encoded)

    @classmethod
    def base_times(cls, scalar: Scalar) -> Element:
        """Returns scalar * G, G the ristretto255 generator (RFC 9496 §4.4); the identity for zero."""
        if scalar.is_zero():
            return IDENTITY
        encoded: bytes = rbcl.crypto_scalarmult_ristretto255_base(bytes(scalar))
        return cls(encoded)

    @classmethod
    def hash_to_group(cls, msg: bytes, dst: bytes) -> Element:
        """Returns RFC 9497 HashToGroup for ristretto255-SHA512 (§4.1): the element derivation function
        of RFC 9496 §4.3.4 on expand_message_xmd(msg, dst, 64) with SHA-512 (RFC 9380).

        The result may be the identity (with negligible probability); callers that must refuse it do.
        Raises EncodingError for a DST the expander refuses.
        """
        return cls.from_uniform_bytes(expand_message_xmd(msg, dst, _UNIFORM_BYTES))

    @classmethod
    def from_uniform_bytes(cls, uniform: bytes) -> Element:
        """Returns the element derived from 64 uniform bytes (RFC 9496 §4.3.4, libsodium's from_hash).

        Raises EncodingError unless `uniform` is 64 bytes.
        """
        if not isinstance(uniform, bytes | bytearray) or len(uniform) != _UNIFORM_BYTES:
            raise EncodingError(f"element derivation takes {_UNIFORM_BYTES} bytes")
        encoded: bytes = rbcl.crypto_core_ristretto255_from_hash(bytes(uniform))
        return cls(encoded)

    def __bytes__(self) -> bytes:
        return self._b

    def is_identity(self) -> bool:
        return hmac.compare_digest(self._b, _IDENTITY_BYTES)

    def __mul__(self, scalar: Scalar) -> Element:
        if not isinstance(scalar, Scalar):
            return NotImplemented
        # L is prime, so a non-zero scalar times a non-identity element is never the identity: these
        # two cases are the only ones in which libsodium would refuse the product.
        if scalar.is_zero() or self.is_identity():
            return IDENTITY
        encoded: bytes = rbcl.crypto_scalarmult_ristretto255(bytes(scalar), self._b)
        return Element(encoded)

    def __add__(self, other: Element) -> Element:
        if not isinstance(other, Element):
            return NotImplemented
        # Both encodings are valid (decoded or computed here), so libsodium's silent all-zero result for
        # an invalid input cannot occur.
        encoded: bytes = rbcl.crypto_core_ristretto255_add(self._b, other._b)
        return Element(encoded)

    def __sub__(self, other: Element) -> Element:
        if not isinstance(other, Element):
            return NotImplemented
        encoded: bytes = rbcl.crypto_core_ristretto255_sub(self._b, other._b)
        return Element(encoded)

    def __neg__(self) -> Element:
        return IDENTITY - self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Element):
            return NotImplemented
        return hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __repr__(self) -> str:
        return f"Element({self._b.hex()})"


IDENTITY = Element(_IDENTITY_BYTES)
G = Element.base_times(Scalar.from_int(1))
"""The ristretto255 generator: the class of the Ed25519 base point (RFC 9496 §4.4)."""


def hash_to_scalar(msg: bytes, dst: bytes) -> Scalar:
    """Returns RFC 9497 HashToScalar for ristretto255-SHA512 (§4.1): expand_message_xmd(msg, dst, 64)
    with SHA-512, read as a little-endian integer and reduced mod L.

    Raises EncodingError for a DST the expander refuses.
    """
    return Scalar.reduce(expand_message_xmd(msg, dst, _UNIFORM_BYTES))


# Field arithmetic for from_edwards, mod p = 2^255 - 19 (RFC 9496 §4.1 constants).
_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578


def _is_negative(x: int) -> bool:
    # RFC 9496 §4.1: an element of GF(p) is negative when its canonical encoding's low bit is set.
    return x % _P % 2 == 1


def _abs(x: int) -> int:
    return (-x) % _P if _is_negative(x) else x % _P


def _sqrt_ratio_m1(u: int, v: int) -> tuple[bool, int]:
    """RFC 9496 §4.2 SQRT_RATIO_M1: (was_square, the non-negative sqrt(u/v) or sqrt(i*u/v))."""
    r = (u * pow(v, 3, _P)) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    check = v * r * r % _P
    correct_sign = check == u % _P
    flipped_sign = check == (-u) % _P
    flipped_sign_i = check == (-u * _SQRT_M1) % _P
    if flipped_sign or flipped_sign_i:
        r = r * _SQRT_M1 % _P
    return correct_sign or flipped_sign, _abs(r)


def _edwards_affine(point: Point) -> tuple[int, int]:
    """Returns the affine (x, y) of a canonical Ed25519 encoding (RFC 8032 §5.1.3)."""
    encoded = int.from_bytes(bytes(point), "little")
    y = encoded & ((1 << 255) - 1)
    x_is_odd = encoded >> 255
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if x * x % _P != x2:
        x = x * _SQRT_M1 % _P
    if x % 2 != x_is_odd:
        x = (-x) % _P
    return x, y


def from_edwards(point: Point) -> Element:
    """Returns the ristretto255 element of a point of the Ed25519 prime-order subgroup.

    RFC 9496 §4.3.2 Encode applied to the extended coordinates (x, y, 1, x*y) of `point`, in Python
    integers: NOT constant-time, which is acceptable only because the input is public (DKG public keys
    and verification keys). Never pass a point derived from a secret that must not leak through timing.
    The identity maps to the identity. `point` is a group.Point, so it is already known to be a
    canonical point of the prime-order subgroup (Point.decode checked it, or it was computed here).
    """
    x0, y0 = _edwards_affine(point)
    z0, t0 = 1, x0 * y0 % _P
    u1 = (z0 + y0) * (z0 - y0) % _P
    u2 = x0 * y0 % _P
    _, invsqrt = _sqrt_ratio_m1(1, u1 * u2 * u2 % _P)  # always square for a curve point (RFC 9496)
    den1 = invsqrt * u1 % _P
    den2 = invsqrt * u2 % _P
    z_inv = den1 * den2 * t0 % _P
    if _is_negative(t0 * z_inv):
        x, y, den_inv = y0 * _SQRT_M1 % _P, x0 * _SQRT_M1 % _P, den1 * _INVSQRT_A_MINUS_D % _P
    else:
        x, y, den_inv = x0, y0, den2
    if _is_negative(x * z_inv):
        y = (-y) % _P
    s = _abs(den_inv * (z0 - y))
    return Element(s.to_bytes(ELEMENT_BYTES, "little"))
