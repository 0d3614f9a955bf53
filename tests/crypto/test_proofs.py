"""Schnorr and Chaum-Pedersen proofs: complete, sound against altered inputs, bound to their context."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import EncodingError, InvalidProofError
from escrow.crypto.group import G, L, Point, Scalar
from escrow.crypto.proofs import Proof, prove_dleq, prove_knowledge, verify_dleq, verify_knowledge

scalars = st.binary(min_size=64, max_size=64).map(Scalar.reduce).filter(lambda s: not s.is_zero())
BIND = ((b"ctx", b"one"),)


@given(scalars)
@settings(max_examples=20)
def test_schnorr_proof_verifies_and_is_bound_to_its_context(x: Scalar) -> None:
    public = Point.base_times(x)
    proof = prove_knowledge(x, public, BIND)
    verify_knowledge(public, proof, BIND)
    with pytest.raises(InvalidProofError):
        verify_knowledge(public, proof, ((b"ctx", b"two"),), holder=3)
    with pytest.raises(InvalidProofError):
        verify_knowledge(public + G, proof, BIND)


def test_schnorr_proof_names_holder_and_rejects_altered_response() -> None:
    x = Scalar.random()
    public = Point.base_times(x)
    proof = prove_knowledge(x, public, BIND)
    with pytest.raises(InvalidProofError) as caught:
        verify_knowledge(public, Proof(proof.c, proof.z + Scalar.from_int(1)), BIND, holder=4)
    assert caught.value.holder == 4


@given(scalars, scalars, scalars)
@settings(max_examples=20)
def test_dleq_proof_verifies_for_equal_logs_only(x: Scalar, b1: Scalar, b2: Scalar) -> None:
    public = Point.base_times(x)
    bases = (Point.base_times(b1), Point.base_times(b2))
    pairs = tuple((b, b * x) for b in bases)
    proof = prove_dleq(x, public, pairs, BIND)
    verify_dleq(public, pairs, proof, BIND, holder=1)
    # D2 made with another secret: the proof must not transfer.
    wrong = (pairs[0], (bases[1], bases[1] * (x + Scalar.from_int(1))))
    with pytest.raises(InvalidProofError) as caught:
        verify_dleq(public, wrong, proof, BIND, holder=2)
    assert caught.value.holder == 2
    with pytest.raises(InvalidProofError):
        verify_dleq(public, pairs, proof, ((b"ctx", b"other request"),))


def test_dleq_prover_with_wrong_secret_is_caught() -> None:
    x, y = Scalar.random(), Scalar.random()
    base = Point.base_times(Scalar.random())
    public = Point.base_times(x)
    # D really is y*B, but the prover claims it matches V = x*G.
    proof = prove_dleq(y, public, ((base, base * y),), BIND)
    with pytest.raises(InvalidProofError):
        verify_dleq(public, ((base, base * y),), proof, BIND)


def test_proof_encoding_round_trips_and_rejects_bad_bytes() -> None:
    x = Scalar.random()
    proof = prove_knowledge(x, Point.base_times(x), BIND)
    assert Proof.from_bytes(proof.to_bytes()) == proof
    with pytest.raises(EncodingError):
        Proof.from_bytes(proof.to_bytes()[:63])
    with pytest.raises(EncodingError):
        Proof.from_bytes(L.to_bytes(32, "little") + bytes(proof.z))
