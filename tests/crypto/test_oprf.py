"""RFC 9497 OPRF/VOPRF: the protocol agrees with the direct PRF, and every verify and decode is strict."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import (
    EncodingError,
    InvalidInputError,
    InvalidParameterError,
    InvalidPointError,
    InvalidProofError,
    InvalidScalarError,
)
from escrow.crypto.group import ONE, ZERO, L, Scalar
from escrow.crypto.oprf import (
    MAX_BATCH,
    MAX_INPUT_BYTES,
    Mode,
    Proof,
    blind,
    blind_evaluate,
    blind_evaluate_batch,
    blind_with,
    context_string,
    derive_key_pair,
    evaluate,
    finalize,
    finalize_verified,
    generate_proof,
    verify_proof,
)
from escrow.crypto.ristretto import IDENTITY, Element
from tests.crypto.support import SeededRandom

SEED = bytes(range(32))
SK, PK = derive_key_pair(SEED, b"test", Mode.VOPRF)
OTHER_SK, OTHER_PK = derive_key_pair(SEED, b"other", Mode.VOPRF)


def _round(inputs: list[bytes]) -> tuple[list[Scalar], list[Element], tuple[Element, ...], Proof]:
    blinds, blinded = zip(*(blind(x, mode=Mode.VOPRF) for x in inputs), strict=True)
    evaluated, proof = blind_evaluate_batch(SK, PK, blinded)
    return list(blinds), list(blinded), evaluated, proof


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]


# The protocol computes the PRF.


@given(st.binary(max_size=200), st.sampled_from([Mode.OPRF, Mode.VOPRF]))
@settings(max_examples=30, deadline=None)
def test_blind_evaluate_finalize_equals_evaluate(data: bytes, mode: Mode) -> None:
    sk, _ = derive_key_pair(SEED, b"k", mode)
    r, blinded = blind(data, mode=mode)
    assert finalize(data, r, blind_evaluate(sk, blinded)) == evaluate(sk, data, mode=mode)


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=6))
@settings(max_examples=20, deadline=None)
def test_a_verified_batch_finalizes_to_the_direct_outputs(inputs: list[bytes]) -> None:
    blinds, blinded, evaluated, proof = _round(inputs)
    outputs = finalize_verified(PK, inputs, blinds, blinded, evaluated, proof)
    assert outputs == tuple(evaluate(SK, x, mode=Mode.VOPRF) for x in inputs)
    assert all(len(o) == 64 for o in outputs)


def test_the_modes_are_different_prfs() -> None:
    assert evaluate(SK, b"x", mode=Mode.OPRF) != evaluate(SK, b"x", mode=Mode.VOPRF)
    assert context_string(Mode.OPRF) == b"OPRFV1-\x00-ristretto255-SHA512"
    assert context_string(Mode.VOPRF) == b"OPRFV1-\x01-ristretto255-SHA512"


def test_blinding_hides_the_input_and_fresh_blinds_differ() -> None:
    (r1, b1), (r2, b2) = blind(b"same", mode=Mode.VOPRF), blind(b"same", mode=Mode.VOPRF)
    assert r1 != r2
    assert b1 != b2
    assert finalize(b"same", r1, blind_evaluate(SK, b1)) == finalize(b"same", r2, blind_evaluate(SK, b2))


def test_seeded_randomness_makes_blind_and_proof_reproducible() -> None:
    first = blind(b"x", mode=Mode.VOPRF, rand=SeededRandom(b"s"))
    assert first == blind(b"x", mode=Mode.VOPRF, rand=SeededRandom(b"s"))
    a = blind_evaluate_batch(SK, PK, [first[1]], rand=SeededRandom(b"p"))
    assert a == blind_evaluate_batch(SK, PK, [first[1]], rand=SeededRandom(b"p"))


def test_inputs_up_to_the_rfc_limit_are_accepted_and_longer_refused() -> None:
    longest = b"\x00" * MAX_INPUT_BYTES
    r, blinded = blind(longest, mode=Mode.VOPRF)
    assert finalize(longest, r, blind_evaluate(SK, blinded)) == evaluate(SK, longest, mode=Mode.VOPRF)
    for call in (
        lambda: blind(longest + b"\x00", mode=Mode.VOPRF),
        lambda: evaluate(SK, longest + b"\x00", mode=Mode.VOPRF),
        lambda: finalize(longest + b"\x00", r, blinded),
    ):
        with pytest.raises(InvalidInputError):
            call()


@pytest.mark.parametrize("value", ["text", None, 3, [1, 2]])
def test_inputs_must_be_bytes(value: object) -> None:
    with pytest.raises(InvalidInputError):
        blind(value, mode=Mode.VOPRF)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        evaluate(SK, value, mode=Mode.OPRF)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [2, -1, 256, True, "0", None])
def test_unknown_modes_are_refused(mode: object) -> None:
    with pytest.raises(InvalidParameterError, match="mode"):
        blind(b"x", mode=mode)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="mode"):
        derive_key_pair(SEED, b"", mode)  # type: ignore[arg-type]


# DeriveKeyPair.


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33), "x" * 32])
def test_derive_key_pair_takes_a_32_byte_seed(seed: object) -> None:
    with pytest.raises(EncodingError):
        derive_key_pair(seed, b"", Mode.VOPRF)  # type: ignore[arg-type]


def test_derive_key_pair_binds_info_mode_and_refuses_an_overlong_info() -> None:
    assert derive_key_pair(SEED, b"a", Mode.VOPRF)[0] != derive_key_pair(SEED, b"b", Mode.VOPRF)[0]
    assert derive_key_pair(SEED, b"a", Mode.VOPRF)[0] != derive_key_pair(SEED, b"a", Mode.OPRF)[0]
    derive_key_pair(SEED, b"i" * MAX_INPUT_BYTES, Mode.OPRF)
    with pytest.raises(InvalidInputError):
        derive_key_pair(SEED, b"i" * (MAX_INPUT_BYTES + 1), Mode.OPRF)


# Bad blinds, keys and elements.


def test_zero_blinds_and_keys_are_refused() -> None:
    _, blinded = blind(b"x", mode=Mode.OPRF)
    with pytest.raises(InvalidParameterError):
        blind_with(b"x", ZERO, mode=Mode.OPRF)
    with pytest.raises(InvalidParameterError):
        finalize(b"x", ZERO, blinded)
    with pytest.raises(InvalidParameterError):
        blind_evaluate(ZERO, blinded)
    with pytest.raises(InvalidParameterError):
        evaluate(ZERO, b"x", mode=Mode.OPRF)
    with pytest.raises(InvalidParameterError):
        blind_evaluate_batch(ZERO, IDENTITY, [blinded])
    with pytest.raises(InvalidParameterError):
        blind_with(b"x", 1, mode=Mode.OPRF)  # type: ignore[arg-type]


def test_identity_and_non_elements_are_refused_everywhere() -> None:
    r, blinded = blind(b"x", mode=Mode.VOPRF)
    evaluated, proof = blind_evaluate_batch(SK, PK, [blinded])
    with pytest.raises(InvalidPointError):
        blind_evaluate(SK, IDENTITY)
    with pytest.raises(InvalidPointError):
        blind_evaluate(SK, bytes(blinded))  # type: ignore[arg-type]
    with pytest.raises(InvalidPointError):
        finalize(b"x", r, IDENTITY)
    with pytest.raises(InvalidPointError):
        blind_evaluate_batch(SK, PK, [blinded, IDENTITY])
    with pytest.raises(InvalidPointError):
        verify_proof(IDENTITY, [blinded], evaluated, proof)
    with pytest.raises(InvalidPointError):
        verify_proof(PK, [IDENTITY], evaluated, proof)
    with pytest.raises(InvalidPointError):
        verify_proof(PK, [blinded], [IDENTITY], proof)


def test_a_public_key_that_is_not_the_private_keys_is_refused() -> None:
    _, blinded = blind(b"x", mode=Mode.VOPRF)
    with pytest.raises(InvalidParameterError, match="public key"):
        blind_evaluate_batch(SK, OTHER_PK, [blinded])


def test_batch_limits() -> None:
    # Given MAX_BATCH blinded elements (multiples of one, to keep the test quick)
    _, blinded = blind(b"x", mode=Mode.VOPRF)
    many = [blinded * Scalar.from_int(i) for i in range(1, MAX_BATCH + 1)]
    # When the server evaluates the largest batch allowed, Then it verifies
    evaluated, proof = blind_evaluate_batch(SK, PK, many)
    verify_proof(PK, many, evaluated, proof)
    # And one more, or none, is refused
    with pytest.raises(InvalidParameterError, match="batch"):
        blind_evaluate_batch(SK, PK, [*many, blinded])
    with pytest.raises(InvalidParameterError, match="batch"):
        blind_evaluate_batch(SK, PK, [])
    with pytest.raises(InvalidParameterError, match="batch"):
        verify_proof(PK, [*many, blinded], [*evaluated, evaluated[0]], proof)
    with pytest.raises(InvalidParameterError, match="sequence"):
        blind_evaluate_batch(SK, PK, blinded)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="sequence"):
        verify_proof(PK, iter([blinded]), evaluated, proof)  # type: ignore[arg-type]


# VerifyProof refuses every change.


def test_verify_refuses_a_proof_under_another_key() -> None:
    _, blinded, evaluated, proof = _round([b"a", b"b"])
    with pytest.raises(InvalidProofError):
        verify_proof(OTHER_PK, blinded, evaluated, proof)


def test_verify_refuses_an_evaluation_with_another_key_even_with_an_honest_proof_for_it() -> None:
    # A server that tags a client with its own key cannot prove it used the published one.
    _, blinded, _, _ = _round([b"a"])
    evaluated, proof = blind_evaluate_batch(OTHER_SK, OTHER_PK, blinded)
    with pytest.raises(InvalidProofError):
        verify_proof(PK, blinded, evaluated, proof)


def test_verify_refuses_a_proof_made_for_other_blinded_elements() -> None:
    _, blinded, evaluated, proof = _round([b"a"])
    _, other_blinded, _, _ = _round([b"a"])
    with pytest.raises(InvalidProofError):
        verify_proof(PK, other_blinded, evaluated, proof)


def test_verify_refuses_swapped_or_replaced_elements() -> None:
    _, blinded, evaluated, proof = _round([b"a", b"b"])
    with pytest.raises(InvalidProofError):
        verify_proof(PK, blinded, evaluated[::-1], proof)
    with pytest.raises(InvalidProofError):
        verify_proof(PK, blinded[::-1], evaluated[::-1], proof)  # the order is bound (index in composites)
    with pytest.raises(InvalidProofError):
        verify_proof(PK, blinded, [evaluated[0], evaluated[1] + evaluated[0]], proof)
    with pytest.raises(InvalidProofError):
        verify_proof(PK, blinded[:1], evaluated[:1], proof)


@pytest.mark.parametrize("i", [0, 13, 31, 32, 47, 63])
def test_verify_refuses_a_flipped_proof_byte(i: int) -> None:
    _, blinded, evaluated, proof = _round([b"a"])
    try:
        flipped = Proof.from_bytes(_flip(proof.to_bytes(), i))
    except InvalidScalarError:
        return  # the flip left a non-canonical scalar: refused even earlier
    with pytest.raises(InvalidProofError):
        verify_proof(PK, blinded, evaluated, flipped)


def test_verify_refuses_mismatched_lengths_and_wrong_types() -> None:
    _, blinded, evaluated, proof = _round([b"a", b"b"])
    with pytest.raises(InvalidParameterError):
        verify_proof(PK, blinded, evaluated[:1], proof)
    with pytest.raises(InvalidParameterError):
        verify_proof(PK, blinded, evaluated, proof.to_bytes())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        generate_proof(SK, PK, blinded, evaluated[:1], r=ONE)
    with pytest.raises(InvalidParameterError):
        generate_proof(SK, PK, blinded, evaluated, r=ZERO)


def test_finalize_verified_refuses_before_finalizing() -> None:
    inputs = [b"a", b"b"]
    blinds, blinded, evaluated, proof = _round(inputs)
    with pytest.raises(InvalidProofError):
        finalize_verified(OTHER_PK, inputs, blinds, blinded, evaluated, proof)
    with pytest.raises(InvalidParameterError, match="pair up"):
        finalize_verified(PK, inputs[:1], blinds, blinded, evaluated, proof)


# Proof encoding.


def test_proof_round_trips_through_64_bytes() -> None:
    _, _, _, proof = _round([b"a"])
    assert Proof.from_bytes(proof.to_bytes()) == proof
    assert Proof.from_bytes(bytearray(proof.to_bytes())) == proof
    assert len(proof.to_bytes()) == 64


@pytest.mark.parametrize("data", [b"", bytes(63), bytes(65), "00" * 64, None])
def test_proof_decoding_refuses_wrong_lengths_and_types(data: object) -> None:
    with pytest.raises(EncodingError):
        Proof.from_bytes(data)  # type: ignore[arg-type]


@pytest.mark.parametrize("half", [0, 1])
def test_proof_decoding_refuses_non_canonical_scalars(half: int) -> None:
    scalars = [bytes(32), bytes(32)]
    scalars[half] = L.to_bytes(32, "little")
    with pytest.raises(InvalidScalarError):
        Proof.from_bytes(b"".join(scalars))
