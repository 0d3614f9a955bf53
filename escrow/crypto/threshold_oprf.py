"""A t-of-n threshold VOPRF: RFC 9497's VOPRF (ristretto255-SHA512) with a key no single node holds.

The key k is Shamir-shared by our Pedersen DKG (dkg.py): node i holds k_i, and its public share is
V_i = k_i * G. `from_edwards` reads the DKG's Ed25519 public key and verification keys as ristretto255
elements (the generators coincide), so no new ceremony is needed. Each node is a plain RFC 9497 VOPRF
server for its share: it answers k_i * B for each blinded element B with one RFC proof under V_i, which
any RFC 9497 client can check on its own. The client checks every answer, interpolates
k * B = sum_i lambda_i * (k_i * B) at zero over t of them (Lagrange, vss.lagrange_at_zero) and
finalizes; the output equals RFC 9497 Finalize under k = sum_i lambda_i k_i and pk = k * G.

The blinded elements must come from `oprf.blind(..., mode=Mode.VOPRF)`: the mode is part of the hash to
the group. Fewer than t answers determine nothing about k * B (Shamir), which the tests check.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from escrow.crypto.dkg import KeyShare, ThresholdPublicKey
from escrow.crypto.errors import (
    DuplicateShareError,
    InvalidNodeAnswerError,
    InvalidParameterError,
    InvalidProofError,
    NotEnoughSharesError,
)
from escrow.crypto.group import RandomSource, Scalar
from escrow.crypto.oprf import Proof, blind_evaluate_batch, finalize, verify_proof
from escrow.crypto.ristretto import IDENTITY, Element, from_edwards
from escrow.crypto.vss import check_index, lagrange_at_zero


@dataclass(frozen=True, slots=True)
class NodeAnswer:
    """Node `index`'s evaluations of a client's blinded elements, in order, and its RFC 9497 proof."""

    index: int
    evaluated: tuple[Element, ...]
    proof: Proof

    def __post_init__(self) -> None:
        check_index(self.index)
        if not isinstance(self.evaluated, tuple):
            raise InvalidParameterError("evaluated elements are a tuple")


def public_key(key: ThresholdPublicKey) -> Element:
    """Returns the DKG public key read as the ristretto255 VOPRF public key pk = k * G."""
    return from_edwards(key.public_key)


def public_shares(key: ThresholdPublicKey) -> dict[int, Element]:
    """Returns every node's public share V_i = k_i * G as ristretto255 elements, by node index."""
    return {i: from_edwards(v) for i, v in key.verification_keys.items()}


def evaluate_share(
    share: Scalar,
    public_share: Element,
    blinded: Sequence[Element],
    *,
    rand: RandomSource = os.urandom,
) -> tuple[tuple[Element, ...], Proof]:
    """Returns (k_i * B for each blinded B, proof): RFC 9497 VOPRF BlindEvaluate with the share as key.

    Raises as oprf.blind_evaluate_batch (InvalidParameterError if public_share is not share * G).
    """
    return blind_evaluate_batch(share, public_share, blinded, rand=rand)


def answer(share: KeyShare, blinded: Sequence[Element], *, rand: RandomSource = os.urandom) -> NodeAnswer:
    """Returns this node's NodeAnswer for `blinded`, with its public share computed from the share."""
    evaluated, proof = evaluate_share(share.value, Element.base_times(share.value), blinded, rand=rand)
    return NodeAnswer(share.index, evaluated, proof)


def verify_answer(public_share: Element, blinded: Sequence[Element], answer: NodeAnswer) -> None:
    """Checks that `answer` holds k_i * B for each blinded B, for the k_i behind `public_share`.

    Raises InvalidNodeAnswerError naming answer.index if the count differs, an element is the identity
    or the proof does not verify under public_share (a wrong share, another blinded element, a changed
    element). Errors in the client's own `blinded` (InvalidParameterError, InvalidPointError) are not
    the node's and are raised as they are.
    """
    node = answer.index
    if len(answer.evaluated) != len(blinded):
        raise InvalidNodeAnswerError(
            f"node {node} answered {len(answer.evaluated)} elements for {len(blinded)}", node=node
        )
    if any(not isinstance(e, Element) or e.is_identity() for e in answer.evaluated):
        raise InvalidNodeAnswerError(f"node {node} answered an invalid or identity element", node=node)
    try:
        verify_proof(public_share, blinded, answer.evaluated, answer.proof)
    except InvalidProofError as e:
        raise InvalidNodeAnswerError(f"node {node}'s proof does not verify", node=node) from e


def combine(answers: Mapping[int, Sequence[Element]], threshold: int) -> tuple[Element, ...]:
    """Returns k * B for each position: sum_i lambda_i * answers[i][j], Lagrange at zero over the nodes
    given (t or more; every answer must already be verified).

    Raises NotEnoughSharesError for fewer than `threshold` nodes, InvalidParameterError for a threshold
    below 1, an invalid node index, empty answers or answers of different lengths.
    """
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise InvalidParameterError("threshold must be a positive integer")
    if len(answers) < threshold:
        raise NotEnoughSharesError(f"{len(answers)} answers, {threshold} needed")
    lambdas = lagrange_at_zero(answers)
    lengths = {len(evaluated) for evaluated in answers.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise InvalidParameterError("every answer must cover the same, non-empty, list of elements")
    combined = [IDENTITY] * lengths.pop()
    for i, evaluated in answers.items():
        for j, element in enumerate(evaluated):
            combined[j] = combined[j] + element * lambdas[i]
    return tuple(combined)


def finalize_threshold(
    inputs: Sequence[bytes],
    blinds: Sequence[Scalar],
    blinded: Sequence[Element],
    public_shares: Mapping[int, Element],
    answers: Iterable[NodeAnswer],
    threshold: int,
) -> tuple[bytes, ...]:
    """Returns the RFC 9497 VOPRF outputs for `inputs`: checks every answer against its node's public
    share, combines them, and finalizes. The outputs equal oprf.evaluate(k, input, mode=VOPRF) for the
    shared key k.

    Raises InvalidNodeAnswerError naming the first node whose answer fails (or that has no public
    share): drop it and call again with other answers; DuplicateShareError naming a node that answered
    twice; NotEnoughSharesError for fewer than `threshold` answers; InvalidParameterError if inputs,
    blinds and blinded differ in length.
    """
    if not len(inputs) == len(blinds) == len(blinded):
        raise InvalidParameterError("inputs, blinds and blinded elements must pair up")
    verified: dict[int, tuple[Element, ...]] = {}
    for node_answer in answers:
        node = node_answer.index
        if node in verified:
            raise DuplicateShareError(f"node {node} answered twice", holder=node)
        if node not in public_shares:
            raise InvalidNodeAnswerError(f"node {node} holds no share of this key", node=node)
        verify_answer(public_shares[node], blinded, node_answer)
        verified[node] = node_answer.evaluated
    combined = combine(verified, threshold)
    return tuple(finalize(x, b, e) for x, b, e in zip(inputs, blinds, combined, strict=True))
