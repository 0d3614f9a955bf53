"""RFC 9497 oblivious pseudorandom functions, suite ristretto255-SHA512: OPRF (mode 0x00) and VOPRF (0x01).

The client blinds its input (blindedElement = r * HashToGroup(input)), the server multiplies by its key
k, and the client unblinds: Output = SHA-512(I2OSP(len(input), 2) || input || I2OSP(32, 2) ||
k * HashToGroup(input) || "Finalize"), which equals the server's own `evaluate(k, input)`. In the VOPRF
mode the server also proves, with one batched Chaum-Pedersen proof (RFC 9497 §2.2: GenerateProof over
ComputeCompositesFast, VerifyProof over ComputeComposites), that every evaluated element was made with
the k behind its public key pk = k*G. Names follow the RFC: blind, blind_evaluate, finalize, evaluate.

Limits (RFC 9497 §3.3): inputs and key infos are length-prefixed with two bytes, so at most 2^16 - 1
bytes; a proof covers 1..MAX_BATCH elements (the RFC prefixes the index with two bytes; we keep batches
small). Every element from outside must come through `Element.decode`, which refuses the identity.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from escrow.crypto.errors import (
    EncodingError,
    InvalidInputError,
    InvalidParameterError,
    InvalidPointError,
    InvalidProofError,
)
from escrow.crypto.group import RandomSource, Scalar
from escrow.crypto.proofs import hedged_nonce
from escrow.crypto.ristretto import IDENTITY, Element, hash_to_scalar

SUITE_ID = b"ristretto255-SHA512"
MAX_INPUT_BYTES = 2**16 - 1
"""Longest input or key info: RFC 9497 encodes their lengths with I2OSP(len, 2)."""
MAX_BATCH = 256
"""Most elements one evaluation or proof may cover (the RFC's own bound, from I2OSP(i, 2), is 2^16)."""
SEED_BYTES = 32  # Ns: DeriveKeyPair's seed (RFC 9497 §3.2.1)
OUTPUT_BYTES = 64  # Nh: SHA-512


class Mode(IntEnum):
    """RFC 9497 §3.1 mode identifiers (POPRF, 0x02, is not implemented)."""

    OPRF = 0x00
    VOPRF = 0x01


def context_string(mode: Mode) -> bytes:
    """Returns "OPRFV1-" || I2OSP(mode, 1) || "-" || "ristretto255-SHA512" (RFC 9497 §3.1).

    Raises InvalidParameterError for a mode other than OPRF or VOPRF.
    """
    if not isinstance(mode, int) or isinstance(mode, bool) or mode not in (Mode.OPRF, Mode.VOPRF):
        raise InvalidParameterError("mode must be Mode.OPRF (0x00) or Mode.VOPRF (0x01)")
    return b"OPRFV1-" + bytes([mode]) + b"-" + SUITE_ID


def _i2osp2(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _prefixed(data: bytes) -> bytes:
    return _i2osp2(len(data)) + data


def _check_input(data: bytes, what: str = "input") -> bytes:
    if not isinstance(data, bytes | bytearray):
        raise InvalidInputError(f"an OPRF {what} is bytes")
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInputError(f"an OPRF {what} is at most {MAX_INPUT_BYTES} bytes")
    return bytes(data)


def _check_batch(elements: Sequence[Element], what: str) -> tuple[Element, ...]:
    """Returns `elements` as a tuple of 1..MAX_BATCH non-identity Elements, or raises."""
    # tuple and list first: an ABC isinstance check costs more than a scalar multiplication here.
    if type(elements) not in (tuple, list) and (
        isinstance(elements, Element) or not isinstance(elements, Sequence)
    ):
        raise InvalidParameterError(f"{what} must be a sequence of elements")
    if not 1 <= len(elements) <= MAX_BATCH:
        raise InvalidParameterError(f"a batch has 1..{MAX_BATCH} {what}")
    for element in elements:
        _check_element(element, what)
    return tuple(elements)


def _check_element(element: Element, what: str) -> Element:
    if not isinstance(element, Element):
        raise InvalidPointError(f"{what} must be ristretto255 elements")
    if element.is_identity():
        raise InvalidPointError(f"{what} must not be the identity element")
    return element


def _check_secret(sk: Scalar) -> Scalar:
    if not isinstance(sk, Scalar) or sk.is_zero():
        raise InvalidParameterError("an OPRF private key is a non-zero Scalar")
    return sk


@dataclass(frozen=True, slots=True)
class Proof:
    """A VOPRF proof (c, s) (RFC 9497 §2.2.1); 64 bytes as SerializeScalar(c) || SerializeScalar(s)."""

    c: Scalar
    s: Scalar

    def to_bytes(self) -> bytes:
        return bytes(self.c) + bytes(self.s)

    @classmethod
    def from_bytes(cls, data: bytes) -> Proof:
        """Returns the proof encoded by `data`.

        Raises EncodingError unless 64 bytes, and InvalidScalarError (an EncodingError) unless both
        halves are canonical scalars (little-endian, below L).
        """
        if not isinstance(data, bytes | bytearray) or len(data) != 64:
            raise EncodingError("a VOPRF proof is 64 bytes")
        return cls(Scalar.decode(bytes(data[:32])), Scalar.decode(bytes(data[32:])))


def derive_key_pair(seed: bytes, info: bytes, mode: Mode) -> tuple[Scalar, Element]:
    """Returns (skS, pkS) from a 32-byte seed and a public key info (RFC 9497 §3.2.1 DeriveKeyPair).

    Raises EncodingError unless the seed is 32 bytes, InvalidInputError for an info longer than
    2^16 - 1 bytes, InvalidParameterError for an unknown mode.
    """
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        raise EncodingError(f"a DeriveKeyPair seed is {SEED_BYTES} bytes")
    derive_input = bytes(seed) + _prefixed(_check_input(info, "key info"))
    dst = b"DeriveKeyPair" + context_string(mode)
    for counter in range(256):
        sk = hash_to_scalar(derive_input + bytes([counter]), dst)
        if not sk.is_zero():  # pragma: no branch - a zero hash has probability 2^-252
            return sk, Element.base_times(sk)
    raise InvalidParameterError("DeriveKeyPairError: 256 zero keys")  # pragma: no cover - p = 2^-64512


def _input_element(input: bytes, mode: Mode) -> Element:
    element = Element.hash_to_group(_check_input(input), b"HashToGroup-" + context_string(mode))
    if element.is_identity():  # pragma: no cover - needs a SHA-512 preimage
        raise InvalidInputError("the input hashes to the identity element")
    return element


def blind(input: bytes, *, mode: Mode, rand: RandomSource = os.urandom) -> tuple[Scalar, Element]:
    """Returns (blind, blindedElement) for `input` (RFC 9497 §3.3.1 Blind), the blind a fresh random
    non-zero scalar from `rand`.

    Raises InvalidInputError for an input longer than 2^16 - 1 bytes (or one that hashes to the
    identity), InvalidParameterError for an unknown mode.
    """
    r = Scalar.random(rand)
    return r, blind_with(input, r, mode=mode)


def blind_with(input: bytes, blind: Scalar, *, mode: Mode) -> Element:
    """Returns blindedElement = blind * HashToGroup(input) for a blind the caller chose.

    The deterministic half of `blind`, for known-answer tests (RFC 9497's vectors fix the blind) and
    for callers that derive their blinds themselves; a blind must never be reused across inputs.
    Raises InvalidParameterError for a zero blind or an unknown mode, InvalidInputError as `blind`.
    """
    if not isinstance(blind, Scalar) or blind.is_zero():
        raise InvalidParameterError("a blind is a non-zero Scalar")
    return _input_element(input, mode) * blind


def blind_evaluate(sk: Scalar, blinded: Element) -> Element:
    """Returns evaluatedElement = sk * blindedElement (RFC 9497 §3.3.1 BlindEvaluate, OPRF mode).

    Raises InvalidPointError for the identity, InvalidParameterError for a zero key.
    """
    return _check_element(blinded, "blinded elements") * _check_secret(sk)


# Proofs exist only in the VOPRF mode here, so their domain tags are fixed (RFC 9497 §2.2.1, §4.1).
_SEED_DST = b"Seed-" + context_string(Mode.VOPRF)
_PROOF_DST = b"HashToScalar-" + context_string(Mode.VOPRF)


def _composite_weights(pk: Element, blinded: Sequence[Element], evaluated: Sequence[Element]) -> list[Scalar]:
    seed = hashlib.sha512(_prefixed(bytes(pk)) + _prefixed(_SEED_DST)).digest()
    return [
        hash_to_scalar(
            _prefixed(seed) + _i2osp2(i) + _prefixed(bytes(c)) + _prefixed(bytes(d)) + b"Composite",
            _PROOF_DST,
        )
        for i, (c, d) in enumerate(zip(blinded, evaluated, strict=True))
    ]


def _challenge(pk: Element, m: Element, z: Element, t2: Element, t3: Element) -> Scalar:
    transcript = b"".join(_prefixed(bytes(e)) for e in (pk, m, z, t2, t3)) + b"Challenge"
    return hash_to_scalar(transcript, _PROOF_DST)


def generate_proof(
    sk: Scalar,
    pk: Element,
    blinded: Sequence[Element],
    evaluated: Sequence[Element],
    *,
    r: Scalar,
) -> Proof:
    """Returns RFC 9497 §2.2.1 GenerateProof(sk, G, pk, blinded, evaluated) with proof randomness `r`,
    composites by ComputeCompositesFast (the server knows sk: Z = sk * M).

    The caller guarantees pk == sk*G and evaluated[i] == sk*blinded[i]; `r` must be fresh, uniform and
    secret (a repeated r reveals sk). Production code calls `blind_evaluate_batch`, which derives it
    (hedged: from sk, the batch and fresh randomness); this entry point exists so that RFC 9497's
    vectors (which fix r) can be checked.
    Raises InvalidParameterError for a zero key or r, or a batch of the wrong shape.
    """
    _check_secret(sk)
    if not isinstance(r, Scalar) or r.is_zero():
        raise InvalidParameterError("the proof randomness is a non-zero Scalar")
    cs = _check_batch(blinded, "blinded elements")
    ds = _check_batch(evaluated, "evaluated elements")
    if len(cs) != len(ds):
        raise InvalidParameterError("as many evaluated elements as blinded ones")
    m = IDENTITY
    for weight, blinded_element in zip(_composite_weights(pk, cs, ds), cs, strict=True):
        m = m + blinded_element * weight
    z = m * sk
    c = _challenge(pk, m, z, Element.base_times(r), m * r)
    return Proof(c, r - c * sk)


def blind_evaluate_batch(
    sk: Scalar,
    pk: Element,
    blinded: Sequence[Element],
    *,
    rand: RandomSource = os.urandom,
) -> tuple[tuple[Element, ...], Proof]:
    """Returns (evaluatedElements, proof): RFC 9497 §3.3.2 BlindEvaluate for a batch, VOPRF mode.

    One proof covers the whole batch. Raises InvalidParameterError for a zero key, a pk that is not
    sk*G, or a batch outside 1..MAX_BATCH; InvalidPointError for an identity blinded element.
    """
    _check_secret(sk)
    if Element.base_times(sk) != pk:
        raise InvalidParameterError("the public key is not this private key's")
    cs = _check_batch(blinded, "blinded elements")
    evaluated = tuple(c * sk for c in cs)
    message = [(b"pk", bytes(pk))]
    message += [(b"blinded", bytes(c)) for c in cs] + [(b"evaluated", bytes(d)) for d in evaluated]
    # Hedged (issue 16): H(domain, sk, the batch, fresh randomness), so a weak `rand` alone leaks no sk.
    r = hedged_nonce(b"escrow/v1/oprf-proof", sk, message, rand=rand)
    return evaluated, generate_proof(sk, pk, cs, evaluated, r=r)


def verify_proof(
    pk: Element,
    blinded: Sequence[Element],
    evaluated: Sequence[Element],
    proof: Proof,
) -> None:
    """Checks a VOPRF proof that log_G(pk) == log_{blinded[i]}(evaluated[i]) for every i
    (RFC 9497 §2.2.2 VerifyProof over ComputeComposites).

    Raises InvalidProofError if it does not verify (another key, another blinded element, a changed
    evaluated element or proof); InvalidPointError for an identity pk or element; InvalidParameterError
    for batches of different or out-of-range lengths.
    """
    _check_element(pk, "public keys")
    cs = _check_batch(blinded, "blinded elements")
    ds = _check_batch(evaluated, "evaluated elements")
    if len(cs) != len(ds):
        raise InvalidParameterError("as many evaluated elements as blinded ones")
    if not isinstance(proof, Proof):
        raise InvalidParameterError("proof must be a Proof")
    m, z = IDENTITY, IDENTITY
    for weight, c, d in zip(_composite_weights(pk, cs, ds), cs, ds, strict=True):
        m = m + c * weight
        z = z + d * weight
    t2 = Element.base_times(proof.s) + pk * proof.c
    t3 = m * proof.s + z * proof.c
    if _challenge(pk, m, z, t2, t3) != proof.c:
        raise InvalidProofError("VOPRF proof does not verify")


def _output(input: bytes, unblinded: Element) -> bytes:
    return hashlib.sha512(_prefixed(input) + _prefixed(bytes(unblinded)) + b"Finalize").digest()


def finalize(input: bytes, blind: Scalar, evaluated: Element) -> bytes:
    """Returns the 64-byte PRF output: SHA-512 over the input and (1/blind) * evaluatedElement
    (RFC 9497 §3.3.1 Finalize).

    The hash is the same in both modes; in the VOPRF mode this is the step AFTER `verify_proof`, and
    `finalize_verified` does both. Raises InvalidInputError for an over-long input, InvalidPointError
    for the identity, InvalidParameterError for a zero blind.
    """
    data = _check_input(input)
    if not isinstance(blind, Scalar) or blind.is_zero():
        raise InvalidParameterError("a blind is a non-zero Scalar")
    return _output(data, _check_element(evaluated, "evaluated elements") * blind.invert())


def finalize_verified(
    pk: Element,
    inputs: Sequence[bytes],
    blinds: Sequence[Scalar],
    blinded: Sequence[Element],
    evaluated: Sequence[Element],
    proof: Proof,
) -> tuple[bytes, ...]:
    """Returns the VOPRF outputs of a batch (RFC 9497 §3.3.2 Finalize): verifies `proof` under pk for
    every (blinded, evaluated) pair, then finalizes each input.

    Raises InvalidProofError if the proof does not verify (nothing is finalized), and the errors of
    `verify_proof` and `finalize`; InvalidParameterError if the four lists differ in length.
    """
    if not len(inputs) == len(blinds) == len(blinded) == len(evaluated):
        raise InvalidParameterError("inputs, blinds, blinded and evaluated elements must pair up")
    verify_proof(pk, blinded, evaluated, proof)
    return tuple(finalize(x, b, e) for x, b, e in zip(inputs, blinds, evaluated, strict=True))


def evaluate(sk: Scalar, input: bytes, *, mode: Mode) -> bytes:
    """Returns the PRF output computed directly by the key holder (RFC 9497 §3.3.1 Evaluate): the same
    64 bytes the client gets from blind, blind_evaluate and finalize.

    Raises InvalidParameterError for a zero key or unknown mode, InvalidInputError as `blind`.
    """
    data = _check_input(input)
    return _output(data, _input_element(data, mode) * _check_secret(sk))
