"""Non-interactive zero-knowledge proofs over the Ed25519 prime-order group (Fiat-Shamir).

- Schnorr proof of knowledge of x with X = x*G (Schnorr 1991), used by DKG dealers for their constant
  term, so that nobody can publish a commitment it cannot open (rogue-key defence).
- Chaum-Pedersen proof of equality of discrete logarithms (Chaum and Pedersen 1992), in its multi-base
  form: one proof that log_G V == log_{B1} D1 == ... == log_{Bk} Dk, used by key-holders to show that
  every partial decryption D = s*B was made with the share s behind their verification key V = s*G.

Both proofs are (c, z) with z = k + c*x; the verifier recomputes each commitment A = z*B - c*(x*B) and
checks that the transcript hash equals c. Every proof binds a caller-supplied context (ceremony id,
request digest, envelope digest), so a proof made for one context fails for any other.

Nonces are hedged (issue 16): k = H(domain, secret, message, 32 fresh random bytes) mod L
(`hedged_nonce`), so a random source that repeats or is predictable alone no longer leaks the secret
(two proofs with one k reveal x = (z1 - z2) / (c1 - c2)); a good one keeps the proofs randomised.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from escrow.crypto.errors import EncodingError, InvalidProofError
from escrow.crypto.group import G, Point, RandomSource, Scalar
from escrow.crypto.transcript import Transcript

_SCHNORR_DOMAIN = b"escrow/v1/schnorr-pok"
_DLEQ_DOMAIN = b"escrow/v1/chaum-pedersen"

Binding = Sequence[tuple[bytes, bytes]]
"""Labelled context items hashed into a proof's challenge, e.g. ((b"request", digest), ...)."""

NONCE_RANDOM_BYTES = 32


def hedged_nonce(
    domain: bytes, secret: Scalar, message: Binding, *, rand: RandomSource = os.urandom
) -> Scalar:
    """Returns a non-zero proof nonce: SHA-512 over (domain || "/nonce", the secret, every labelled item
    of `message`, NONCE_RANDOM_BYTES from `rand`) in the length-prefixed Transcript encoding, reduced
    mod L. Unpredictable as long as either the secret or `rand` is; never repeated for two messages."""
    while True:
        t = Transcript(domain + b"/nonce").append_scalar(b"secret", secret)
        for label, data in message:
            t.append(label, data)
        k = t.append(b"random", rand(NONCE_RANDOM_BYTES)).challenge()
        if not k.is_zero():
            return k


@dataclass(frozen=True, slots=True)
class Proof:
    """A Fiat-Shamir proof (challenge c, response z); 64 bytes as c || z."""

    c: Scalar
    z: Scalar

    def to_bytes(self) -> bytes:
        return bytes(self.c) + bytes(self.z)

    @classmethod
    def from_bytes(cls, data: bytes) -> Proof:
        """Returns the proof encoded by `data`. Raises EncodingError unless 64 canonical bytes."""
        if not isinstance(data, bytes) or len(data) != 64:
            raise EncodingError("a proof is 64 bytes")
        return cls(Scalar.decode(data[:32]), Scalar.decode(data[32:]))


def _schnorr_challenge(public: Point, commitment: Point, binding: Binding) -> Scalar:
    t = Transcript(_SCHNORR_DOMAIN).append_point(b"G", G).append_point(b"X", public)
    t.append_point(b"A", commitment)
    for label, data in binding:
        t.append(label, data)
    return t.challenge()


def prove_knowledge(
    secret: Scalar, public: Point, binding: Binding, *, rand: RandomSource = os.urandom
) -> Proof:
    """Returns a Schnorr proof that the prover knows `secret` with public == secret*G (hedged nonce)."""
    k = hedged_nonce(_SCHNORR_DOMAIN, secret, [(b"X", bytes(public)), *binding], rand=rand)
    c = _schnorr_challenge(public, Point.base_times(k), binding)
    return Proof(c, k + c * secret)


def verify_knowledge(public: Point, proof: Proof, binding: Binding, *, holder: int | None = None) -> None:
    """Checks a Schnorr proof of knowledge of log_G(public).

    Raises InvalidProofError (naming `holder`) if it does not verify for this public value and binding.
    """
    commitment = Point.base_times(proof.z) - public * proof.c
    if _schnorr_challenge(public, commitment, binding) != proof.c:
        raise InvalidProofError("proof of knowledge does not verify", holder=holder)


def _dleq_challenge(
    public: Point,
    pairs: Sequence[tuple[Point, Point]],
    commitments: Sequence[Point],
    binding: Binding,
) -> Scalar:
    t = Transcript(_DLEQ_DOMAIN).append_point(b"G", G).append_point(b"V", public)
    t.append_int(b"k", len(pairs))
    for base, value in pairs:
        t.append_point(b"B", base).append_point(b"D", value)
    for a in commitments:
        t.append_point(b"A", a)
    for label, data in binding:
        t.append(label, data)
    return t.challenge()


def prove_dleq(
    secret: Scalar,
    public: Point,
    pairs: Sequence[tuple[Point, Point]],
    binding: Binding,
    *,
    rand: RandomSource = os.urandom,
) -> Proof:
    """Returns a proof that log_G(public) == log_B(D) for every (B, D) in `pairs`.

    The caller guarantees public == secret*G and D == secret*B; the proof binds `binding`. The nonce
    is hedged (hedged_nonce).
    """
    message = [(b"V", bytes(public))]
    for base, value in pairs:
        message += [(b"B", bytes(base)), (b"D", bytes(value))]
    k = hedged_nonce(_DLEQ_DOMAIN, secret, [*message, *binding], rand=rand)
    commitments = [Point.base_times(k)] + [base * k for base, _ in pairs]
    c = _dleq_challenge(public, pairs, commitments, binding)
    return Proof(c, k + c * secret)


def verify_dleq(
    public: Point,
    pairs: Sequence[tuple[Point, Point]],
    proof: Proof,
    binding: Binding,
    *,
    holder: int | None = None,
) -> None:
    """Checks a multi-base Chaum-Pedersen proof.

    Raises InvalidProofError (naming `holder`) if log_G(public) differs from some log_B(D), or the
    proof was made for another binding.
    """
    commitments = [Point.base_times(proof.z) - public * proof.c]
    commitments += [base * proof.z - value * proof.c for base, value in pairs]
    if _dleq_challenge(public, pairs, commitments, binding) != proof.c:
        raise InvalidProofError("partial decryption proof does not verify", holder=holder)
