"""Issue 16, item 5, an audit finding: purely random proof nonces, so a weak random source alone
would leak a share. Now hedged: H(domain, secret, message, fresh randomness)."""

from __future__ import annotations

from escrow.crypto.group import Point, Scalar
from escrow.crypto.proofs import prove_dleq, prove_knowledge, verify_dleq, verify_knowledge
from escrow.crypto.seal import (
    partial_decrypt,
    seal,
)
from tests.crypto.support import run_dkg

KEY, SHARES = run_dkg(2, 3)
CONTEXT = {"platform": "forum.example", "pseudonym": "k7d2", "envelope_id": "e1"}
REQUEST = b"\x42" * 32


# --- hedged nonces: a weak random source used to leak the secret ----------------------------------


def _stuck(n: int) -> bytes:
    """A broken random source: always the same bytes."""
    return b"\x07" * n


def test_a_stuck_random_source_no_longer_repeats_a_schnorr_nonce() -> None:
    secret = Scalar.random()
    public = Point.base_times(secret)
    one = prove_knowledge(secret, public, [(b"ceremony", b"1")], rand=_stuck)
    two = prove_knowledge(secret, public, [(b"ceremony", b"2")], rand=_stuck)
    verify_knowledge(public, one, [(b"ceremony", b"1")])
    verify_knowledge(public, two, [(b"ceremony", b"2")])
    # With one nonce k, z1 - z2 = (c1 - c2) * secret: the commitments k*G would be equal
    assert Point.base_times(one.z) - public * one.c != Point.base_times(two.z) - public * two.c


def test_a_stuck_random_source_no_longer_repeats_a_partial_decryption_nonce() -> None:
    envelopes = [seal(KEY, b"Ada", CONTEXT), seal(KEY, b"Bob", CONTEXT)]
    share = SHARES[1]
    secret, public = share.value, KEY.verification_keys[share.index]
    proofs = []
    for i, envelope in enumerate(envelopes):
        pairs = [(envelope.r, envelope.r * secret)]
        binding = [(b"request", REQUEST), (b"n", bytes([i]))]
        proof = prove_dleq(secret, public, pairs, binding, rand=_stuck)
        verify_dleq(public, pairs, proof, binding)
        proofs.append(proof)
    assert proofs[0].z - proofs[0].c * secret != proofs[1].z - proofs[1].c * secret  # the nonces k
    # and the partial decryptions made through the seal module verify as before
    assert partial_decrypt(share, envelopes[0], REQUEST).holder == share.index


def test_the_same_message_with_good_randomness_gets_fresh_nonces() -> None:
    secret = Scalar.random()
    public = Point.base_times(secret)
    assert prove_knowledge(secret, public, []) != prove_knowledge(secret, public, [])
