"""Scalars and points: validation of everything from outside, and the group laws we rely on."""

from __future__ import annotations

import nacl.bindings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import InvalidPointError, InvalidScalarError
from escrow.crypto.group import IDENTITY, ONE, ZERO, G, L, Point, Scalar, sum_points

# The eight points of small order on edwards25519 (the torsion subgroup), canonical encodings.
SMALL_ORDER_POINTS = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity, order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
]
# y >= p: non-canonical encodings of y = 0 and y = 1 (p = 2^255 - 19).
NON_CANONICAL_POINTS = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]

scalars = st.binary(min_size=64, max_size=64).map(Scalar.reduce)


@pytest.mark.parametrize("encoding", SMALL_ORDER_POINTS)
def test_decode_rejects_small_order_points(encoding: str) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode(bytes.fromhex(encoding))


@pytest.mark.parametrize("encoding", NON_CANONICAL_POINTS)
def test_decode_rejects_non_canonical_encodings(encoding: str) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode(bytes.fromhex(encoding))


@pytest.mark.parametrize("torsion", SMALL_ORDER_POINTS[1:])
def test_decode_rejects_points_with_a_torsion_component(torsion: str) -> None:
    # G + T is on the curve and canonical but outside the prime-order subgroup.
    mixed = nacl.bindings.crypto_core_ed25519_add(bytes(G), bytes.fromhex(torsion))
    with pytest.raises(InvalidPointError):
        Point.decode(mixed)


def test_decode_rejects_point_off_the_curve() -> None:
    # y = 2 gives x^2 = (y^2 - 1)/(d y^2 + 1), which is not a square mod p: no such point.
    with pytest.raises(InvalidPointError):
        Point.decode((2).to_bytes(32, "little"))


@pytest.mark.parametrize("data", [b"", b"\x01" * 31, b"\x01" * 33, "58" * 32, None])
def test_decode_rejects_wrong_length_or_type(data: object) -> None:
    with pytest.raises(InvalidPointError):
        Point.decode(data)  # type: ignore[arg-type]


@given(st.binary(min_size=32, max_size=32))
def test_every_decoded_point_has_prime_order(data: bytes) -> None:
    try:
        p = Point.decode(data)
    except InvalidPointError:
        return
    assert not p.is_identity()
    assert (p * Scalar.from_int(L - 1) + p).is_identity()


def test_base_point_is_rfc8032_generator() -> None:
    assert bytes(G).hex() == "58" + "66" * 31
    assert Point.decode(bytes(G)) == G


@given(scalars, scalars)
@settings(max_examples=30)
def test_scalar_multiplication_is_a_homomorphism(a: Scalar, b: Scalar) -> None:
    assert Point.base_times(a) + Point.base_times(b) == Point.base_times(a + b)
    assert (G * a) * b == G * (a * b)
    assert Point.base_times(a) - Point.base_times(b) == Point.base_times(a - b)
    assert Point.base_times(-a) + G * a == IDENTITY


def test_zero_scalar_and_identity_multiply_to_identity() -> None:
    assert Point.base_times(ZERO) == IDENTITY
    assert G * ZERO == IDENTITY
    assert IDENTITY * ONE == IDENTITY
    assert sum_points([]) == IDENTITY


def test_scalar_decode_rejects_unreduced_and_wrong_length() -> None:
    with pytest.raises(InvalidScalarError):
        Scalar.decode(L.to_bytes(32, "little"))
    with pytest.raises(InvalidScalarError):
        Scalar.decode(b"\x00" * 31)
    with pytest.raises(InvalidScalarError):
        Scalar.reduce(b"\x00" * 32)
    assert Scalar.decode((L - 1).to_bytes(32, "little")).to_int() == L - 1


@given(st.integers(min_value=0, max_value=2**300))
def test_scalar_from_int_reduces_mod_l(value: int) -> None:
    assert Scalar.from_int(value).to_int() == value % L


def test_scalar_arithmetic_and_inverse_laws() -> None:
    a = Scalar.from_int(7)
    assert (a * Scalar.from_int(pow(7, -1, L))) == ONE
    assert (a - a).is_zero()
    assert (-a + a).is_zero()
    assert a != Scalar.from_int(8)
    assert a.__eq__(object()) is NotImplemented
    assert G.__eq__(object()) is NotImplemented
    assert len({a, Scalar.from_int(7)}) == 1
    assert len({G, Point.base_times(ONE)}) == 1


def test_random_scalars_are_never_zero_and_repr_hides_value() -> None:
    calls = iter([b"\x00" * 64, b"\x05" + b"\x00" * 63])
    s = Scalar.random(lambda n: next(calls))
    assert s.to_int() == 5
    assert "5" not in repr(s)
    assert "hidden" in repr(s)
    assert repr(G).startswith("Point(5866")


@given(scalars.filter(lambda s: not s.is_zero()))
def test_invert_gives_the_multiplicative_inverse(s: Scalar) -> None:
    assert s * s.invert() == ONE
    assert s.invert().invert() == s


def test_zero_has_no_inverse() -> None:
    with pytest.raises(InvalidScalarError):
        ZERO.invert()
