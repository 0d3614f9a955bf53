"""ristretto255 elements: RFC 9496's vectors, strict decoding, the group laws, and the Ed25519 map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto import ristretto
from escrow.crypto.errors import EncodingError, InvalidPointError
from escrow.crypto.group import IDENTITY as EDWARDS_IDENTITY
from escrow.crypto.group import ONE, ZERO, L, Point, Scalar
from escrow.crypto.group import G as EDWARDS_G
from escrow.crypto.ristretto import IDENTITY, Element, G, from_edwards, hash_to_scalar
from escrow.crypto.transcript import expand_message_xmd

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rfc9496-ristretto255.json").read_text())
MULTIPLES = VECTORS["multiples_of_generator"]
INVALID = [(kind, e) for kind, encodings in VECTORS["invalid_encodings"].items() for e in encodings]

scalars = st.binary(min_size=64, max_size=64).map(Scalar.reduce)


# RFC 9496 Appendix A.


@pytest.mark.parametrize("k", range(16))
def test_base_times_gives_rfc9496_multiples_of_the_generator(k: int) -> None:
    assert bytes(Element.base_times(Scalar.from_int(k))).hex() == MULTIPLES[k]


def test_repeated_addition_walks_the_rfc9496_multiples() -> None:
    acc = IDENTITY
    for k in range(16):
        assert bytes(acc).hex() == MULTIPLES[k]
        acc = acc + G


@pytest.mark.parametrize("encoding", MULTIPLES[1:])
def test_decode_accepts_every_non_identity_multiple(encoding: str) -> None:
    assert bytes(Element.decode(bytes.fromhex(encoding))).hex() == encoding


@pytest.mark.parametrize(("kind", "encoding"), INVALID)
def test_decode_rejects_rfc9496_invalid_encodings(kind: str, encoding: str) -> None:
    with pytest.raises(InvalidPointError):
        Element.decode(bytes.fromhex(encoding))


@pytest.mark.parametrize("vector", VECTORS["hash_to_group"], ids=lambda v: v["label"][:20])
def test_element_derivation_matches_rfc9496_a3(vector: dict[str, str]) -> None:
    # The turn-2 check in NOTES.md is the first of these (3066f82a...0a46).
    uniform = bytes.fromhex(vector["uniform_bytes"])
    assert bytes(Element.from_uniform_bytes(uniform)).hex() == vector["element"]


def test_element_derivation_takes_exactly_64_bytes() -> None:
    for bad in (bytes(63), bytes(65), "x" * 64):
        with pytest.raises(EncodingError):
            Element.from_uniform_bytes(bad)  # type: ignore[arg-type]


# Strict decoding.


def test_decode_rejects_the_identity_that_libsodium_accepts() -> None:
    with pytest.raises(InvalidPointError, match="identity"):
        Element.decode(bytes(32))


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_decode_rejects_wrong_lengths(length: int) -> None:
    with pytest.raises(InvalidPointError, match="32 bytes"):
        Element.decode(bytes.fromhex(MULTIPLES[1])[:length].ljust(length, b"\x01"))


@pytest.mark.parametrize("value", [MULTIPLES[1], None, 5, list(bytes(32))])
def test_decode_rejects_wrong_types(value: object) -> None:
    with pytest.raises(InvalidPointError):
        Element.decode(value)  # type: ignore[arg-type]


def test_decode_accepts_a_bytearray_and_keeps_a_copy() -> None:
    data = bytearray.fromhex(MULTIPLES[2])
    element = Element.decode(data)
    data[0] ^= 1
    assert bytes(element).hex() == MULTIPLES[2]


@pytest.mark.parametrize(
    "encoding",
    [
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # s = p
        "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2df6",  # generator with bit 255 set
    ],
)
def test_decode_rejects_non_canonical_encodings(encoding: str) -> None:
    with pytest.raises(InvalidPointError):
        Element.decode(bytes.fromhex(encoding))


def test_decode_rejects_the_top_bit_that_rbcls_libsodium_ignores() -> None:
    # Regression (issue 13): rbcl 1.1.2's libsodium masks bit 255, so this second encoding of the
    # generator passes crypto_core_ristretto255_is_valid_point. Two encodings of one element would
    # break every hash and transcript that assumes an element has one byte string.
    import rbcl

    generator_with_top_bit = bytes.fromhex(MULTIPLES[1][:-2] + "f6")
    assert rbcl.crypto_core_ristretto255_is_valid_point(generator_with_top_bit)
    with pytest.raises(InvalidPointError, match="canonical"):
        Element.decode(generator_with_top_bit)


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=300)
def test_decode_accepts_only_the_one_canonical_encoding(data: bytes) -> None:
    try:
        element = Element.decode(data)
    except InvalidPointError:
        return
    # libsodium's own output (a sum) is canonical: it must give back the very bytes decoded.
    assert bytes(element + IDENTITY) == data
    assert not element.is_identity()


@given(scalars.filter(lambda s: not s.is_zero()))
@settings(max_examples=50)
def test_every_computed_element_decodes(k: Scalar) -> None:
    element = Element.base_times(k)
    assert Element.decode(bytes(element)) == element


# The group laws the OPRF relies on.


@given(scalars, scalars)
@settings(max_examples=50)
def test_scalar_multiplication_distributes_and_composes(a: Scalar, b: Scalar) -> None:
    assert Element.base_times(a + b) == Element.base_times(a) + Element.base_times(b)
    assert Element.base_times(a - b) == Element.base_times(a) - Element.base_times(b)
    assert Element.base_times(a) * b == Element.base_times(a * b)
    assert G * a == Element.base_times(a)


@given(scalars)
@settings(max_examples=30)
def test_identity_laws(a: Scalar) -> None:
    p = Element.base_times(a)
    assert p + IDENTITY == p
    assert IDENTITY + p == p
    assert p - p == IDENTITY
    assert p + (-p) == IDENTITY
    assert (p - p).is_identity()
    assert IDENTITY * a == IDENTITY
    assert p * ZERO == IDENTITY


def test_zero_and_order_multiples_give_the_identity_without_a_libsodium_error() -> None:
    # libsodium refuses an identity result; the identity must still come out (RFC 9497 composites).
    assert Element.base_times(ZERO) is IDENTITY
    assert G * Scalar.from_int(L) == IDENTITY
    assert Element.base_times(Scalar.from_int(L - 1)) == -G
    assert IDENTITY.is_identity()
    assert not G.is_identity()


def test_operators_refuse_other_types() -> None:
    with pytest.raises(TypeError):
        G * 2  # type: ignore[operator]
    with pytest.raises(TypeError):
        G + EDWARDS_G  # type: ignore[operator]
    with pytest.raises(TypeError):
        G - bytes(G)  # type: ignore[operator]


def test_equality_hash_and_repr() -> None:
    assert Element.decode(bytes.fromhex(MULTIPLES[1])) == G
    assert G != IDENTITY
    assert bytes(G) != G
    assert G != EDWARDS_G
    assert len({G, Element.base_times(ONE), IDENTITY}) == 2
    assert repr(G) == f"Element({MULTIPLES[1]})"


# HashToScalar.


@given(st.binary(max_size=100), st.binary(min_size=1, max_size=40))
def test_hash_to_scalar_is_the_expander_reduced_mod_l(msg: bytes, dst: bytes) -> None:
    expected = int.from_bytes(expand_message_xmd(msg, dst, 64), "little") % L
    assert hash_to_scalar(msg, dst).to_int() == expected


def test_hash_to_group_separates_domains_and_refuses_an_empty_dst() -> None:
    assert Element.hash_to_group(b"x", b"a") != Element.hash_to_group(b"x", b"b")
    with pytest.raises(EncodingError):
        Element.hash_to_group(b"x", b"")


# from_edwards: a DKG key over Ed25519 read as a ristretto255 key.


@given(scalars)
@settings(max_examples=100, deadline=None)
def test_from_edwards_commutes_with_base_multiplication(k: Scalar) -> None:
    assert from_edwards(Point.base_times(k)) == Element.base_times(k)


@given(scalars, scalars)
@settings(max_examples=30, deadline=None)
def test_from_edwards_is_a_homomorphism(a: Scalar, b: Scalar) -> None:
    p, q = Point.base_times(a), Point.base_times(b)
    assert from_edwards(p + q) == from_edwards(p) + from_edwards(q)
    assert from_edwards(p - q) == from_edwards(p) - from_edwards(q)
    assert from_edwards(p * b) == from_edwards(p) * b


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 15, L - 1, L - 2, 2**252, 2**128 + 1])
def test_from_edwards_edge_scalars(k: int) -> None:
    s = Scalar.from_int(k)
    assert from_edwards(Point.base_times(s)) == Element.base_times(s)


@pytest.mark.parametrize("k", range(1, 16))
def test_from_edwards_of_small_multiples_gives_rfc9496_encodings(k: int) -> None:
    assert bytes(from_edwards(Point.base_times(Scalar.from_int(k)))).hex() == MULTIPLES[k]


def test_from_edwards_maps_the_base_point_to_the_generator_and_identity_to_identity() -> None:
    assert from_edwards(EDWARDS_G) == G
    assert from_edwards(EDWARDS_IDENTITY) == IDENTITY
    assert from_edwards(EDWARDS_G - EDWARDS_G) == IDENTITY


def test_from_edwards_of_a_decoded_point_with_odd_x() -> None:
    # -G has the sign bit of x set: the decoder's negation branch.
    minus_g = Point.decode(bytes(Point.base_times(Scalar.from_int(L - 1))))
    assert bytes(minus_g)[31] & 0x80
    assert from_edwards(minus_g) == -G


def test_field_constants_are_the_rfc9496_ones() -> None:
    p, d = ristretto._P, ristretto._D
    assert ristretto._SQRT_M1**2 % p == p - 1
    assert ristretto._INVSQRT_A_MINUS_D**2 * ((-1 - d) % p) % p == 1
    # Both are the non-negative (even) roots, as RFC 9496 §4.1 fixes them.
    assert ristretto._SQRT_M1 % 2 == 0
    assert ristretto._INVSQRT_A_MINUS_D % 2 == 0
    assert d * 121666 % p == (-121665) % p
