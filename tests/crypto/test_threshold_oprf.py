"""Threshold VOPRF over a DKG key: any t nodes give the RFC 9497 output, t-1 give nothing, cheats named.

Keys come from a simulated Pedersen DKG (tests/crypto/support.run_dkg) and reach the OPRF through
`from_edwards` on the DKG's public key and verification keys: the production path.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.dkg import (
    CeremonyParameters,
    KeyShare,
    ReshareParameters,
    ThresholdPublicKey,
    finalise_reshare,
    reshare_deal,
)
from escrow.crypto.errors import (
    DuplicateShareError,
    InvalidNodeAnswerError,
    InvalidParameterError,
    InvalidPointError,
    InvalidProofError,
    NotEnoughSharesError,
)
from escrow.crypto.group import ZERO, Point, Scalar
from escrow.crypto.oprf import Mode, blind, blind_evaluate, evaluate, finalize, verify_proof
from escrow.crypto.ristretto import IDENTITY, Element, from_edwards
from escrow.crypto.threshold_oprf import (
    NodeAnswer,
    answer,
    combine,
    evaluate_share,
    finalize_threshold,
    public_key,
    public_shares,
    verify_answer,
)
from escrow.crypto.vss import lagrange_at_zero
from tests.crypto.support import run_dkg

KEY, SHARES = run_dkg(3, 5)
PUBLIC_SHARES = public_shares(KEY)
INPUTS = [b"alice@example.org", b"bob@example.org"]


def _combined_key(shares: dict[int, KeyShare], nodes: tuple[int, ...]) -> Scalar:
    """k = sum lambda_i k_i: what no node holds, computed here only to check against RFC 9497."""
    lambdas = lagrange_at_zero(nodes)
    k = ZERO
    for i in nodes:
        k = k + lambdas[i] * shares[i].value
    return k


def _client(inputs: list[bytes]) -> tuple[list[Scalar], list[Element]]:
    blinds, blinded = zip(*(blind(x, mode=Mode.VOPRF) for x in inputs), strict=True)
    return list(blinds), list(blinded)


@st.composite
def ceremonies(draw: st.DrawFn) -> tuple[int, int, random.Random]:
    n = draw(st.integers(min_value=1, max_value=5))
    return draw(st.integers(min_value=1, max_value=n)), n, draw(st.randoms())


# Correctness: any t nodes, the RFC output under the combined key.


@given(ceremonies(), st.lists(st.binary(max_size=30), min_size=1, max_size=3))
@settings(max_examples=12, deadline=None)
def test_any_t_nodes_give_the_rfc9497_output_under_the_combined_key(
    ceremony: tuple[int, int, random.Random], inputs: list[bytes]
) -> None:
    # Given a DKG key and a client's blinded inputs
    t, n, rnd = ceremony
    key, shares = run_dkg(t, n)
    blinds, blinded = _client(inputs)
    # When any t nodes answer and the client finalizes
    nodes = tuple(sorted(rnd.sample(sorted(shares), t)))
    answers = [answer(shares[i], blinded) for i in nodes]
    outputs = finalize_threshold(inputs, blinds, blinded, public_shares(key), answers, t)
    # Then the outputs are RFC 9497 Evaluate under k = sum lambda_i k_i, whose pk is the DKG's key
    k = _combined_key(shares, nodes)
    assert public_key(key) == Element.base_times(k)
    assert outputs == tuple(evaluate(k, x, mode=Mode.VOPRF) for x in inputs)


def test_every_t_subset_and_the_full_set_give_the_same_outputs() -> None:
    blinds, blinded = _client(INPUTS)
    answers = {i: answer(SHARES[i], blinded) for i in SHARES}
    results = {
        finalize_threshold(INPUTS, blinds, blinded, PUBLIC_SHARES, [answers[i] for i in subset], 3)
        for size in (3, 4, 5)
        for subset in itertools.combinations(sorted(SHARES), size)
    }
    assert len(results) == 1


def test_outputs_do_not_depend_on_the_blinds() -> None:
    first = finalize_threshold(INPUTS, *_client_answered(INPUTS, (1, 2, 3)))
    second = finalize_threshold(INPUTS, *_client_answered(INPUTS, (3, 4, 5)))
    assert first == second


def _client_answered(inputs: list[bytes], nodes: tuple[int, ...]):  # type: ignore[no-untyped-def]
    blinds, blinded = _client(inputs)
    return blinds, blinded, PUBLIC_SHARES, [answer(SHARES[i], blinded) for i in nodes], 3


def test_the_combined_evaluation_is_what_one_rfc_server_with_k_would_send() -> None:
    _, blinded = _client(INPUTS)
    nodes = (2, 4, 5)
    combined = combine({i: answer(SHARES[i], blinded).evaluated for i in nodes}, 3)
    k = _combined_key(SHARES, nodes)
    assert combined == tuple(blind_evaluate(k, b) for b in blinded)


def test_public_shares_are_the_dkg_verification_keys_in_ristretto255() -> None:
    assert sorted(PUBLIC_SHARES) == [1, 2, 3, 4, 5]
    for i, share in SHARES.items():
        assert PUBLIC_SHARES[i] == Element.base_times(share.value)
        assert PUBLIC_SHARES[i] == from_edwards(KEY.verification_key(i))
    assert public_key(KEY) == from_edwards(KEY.public_key)


def test_a_single_nodes_answer_verifies_with_plain_rfc9497_verify_proof() -> None:
    # Any RFC 9497 VOPRF client that knows V_i can check node i on its own.
    _, blinded = _client(INPUTS)
    evaluated, proof = evaluate_share(SHARES[2].value, PUBLIC_SHARES[2], blinded)
    verify_proof(PUBLIC_SHARES[2], blinded, evaluated, proof)
    node_answer = answer(SHARES[2], blinded)
    verify_proof(PUBLIC_SHARES[2], blinded, node_answer.evaluated, node_answer.proof)
    verify_answer(PUBLIC_SHARES[2], blinded, node_answer)


def test_resharing_keeps_the_oprf_outputs() -> None:
    # Given a 3-of-5 key reshared by a quorum to a new 2-of-3 holder set
    params = ReshareParameters(KEY, (1, 3, 5), CeremonyParameters.fresh(2, 3, b"reshare"))
    dealings = {i: reshare_deal(params, SHARES[i]) for i in (1, 3, 5)}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    new: dict[int, KeyShare] = {}
    new_key: ThresholdPublicKey | None = None
    for j in (1, 2, 3):
        new[j], new_key = finalise_reshare(
            params, j, broadcasts, {i: d.shares[j] for i, d in dealings.items()}
        )
    assert new_key is not None
    # When two new holders answer, Then the outputs are those of the old key
    blinds, blinded = _client(INPUTS)
    before = finalize_threshold(
        INPUTS, blinds, blinded, PUBLIC_SHARES, [answer(SHARES[i], blinded) for i in (2, 3, 4)], 3
    )
    after = finalize_threshold(
        INPUTS, blinds, blinded, public_shares(new_key), [answer(new[j], blinded) for j in (1, 3)], 2
    )
    assert before == after


# t-1 answers give nothing.


def test_t_minus_1_answers_are_refused() -> None:
    blinds, blinded = _client(INPUTS)
    answers = [answer(SHARES[i], blinded) for i in (1, 2)]
    with pytest.raises(NotEnoughSharesError):
        finalize_threshold(INPUTS, blinds, blinded, PUBLIC_SHARES, answers, 3)
    with pytest.raises(NotEnoughSharesError):
        combine({a.index: a.evaluated for a in answers}, 3)


@given(st.data())
@settings(max_examples=10, deadline=None)
def test_t_minus_1_answers_with_any_fake_completion_fail_or_differ(data: st.DataObject) -> None:
    # Given t-1 honest answers and the true output
    blinds, blinded = _client(INPUTS[:1])
    honest = {i: answer(SHARES[i], blinded) for i in (1, 2)}
    truth = evaluate(_combined_key(SHARES, (1, 2, 3)), INPUTS[0], mode=Mode.VOPRF)
    # When a third "node" answers with a share it made up (for a real or a made-up index)
    fake_index = data.draw(st.sampled_from([3, 4, 5, 6, 200]))
    fake_value = data.draw(st.binary(min_size=64, max_size=64).map(Scalar.reduce))
    fake_share = KeyShare(fake_index, fake_value if not fake_value.is_zero() else Scalar.from_int(7))
    fake = answer(fake_share, blinded)
    # Then the client refuses it, naming it
    with pytest.raises(InvalidNodeAnswerError) as caught:
        finalize_threshold(INPUTS[:1], blinds, blinded, PUBLIC_SHARES, [*honest.values(), fake], 3)
    assert caught.value.node == fake_index
    # And even combined without the check, the result is not the output
    combined = combine({**{i: a.evaluated for i, a in honest.items()}, fake_index: fake.evaluated}, 3)
    assert finalize(INPUTS[0], blinds[0], combined[0]) != truth


# Cheating nodes are named.


def test_a_node_answering_with_another_nodes_share_is_named() -> None:
    blinds, blinded = _client(INPUTS)
    stolen = answer(SHARES[1], blinded)
    impostor = NodeAnswer(4, stolen.evaluated, stolen.proof)
    answers = [answer(SHARES[i], blinded) for i in (2, 3)] + [impostor]
    with pytest.raises(InvalidNodeAnswerError) as caught:
        finalize_threshold(INPUTS, blinds, blinded, PUBLIC_SHARES, answers, 3)
    assert caught.value.node == 4
    assert caught.value.holder == 4
    assert isinstance(caught.value, InvalidProofError)


def test_a_wrong_share_with_an_honest_proof_for_it_is_named() -> None:
    _, blinded = _client(INPUTS)
    wrong = answer(KeyShare(3, SHARES[3].value + Scalar.from_int(1)), blinded)
    with pytest.raises(InvalidNodeAnswerError, match="node 3") as caught:
        verify_answer(PUBLIC_SHARES[3], blinded, wrong)
    assert caught.value.node == 3


def test_a_proof_made_for_another_blinded_element_is_named() -> None:
    _, blinded = _client(INPUTS)
    _, other = _client(INPUTS)
    replayed = answer(SHARES[5], other)
    with pytest.raises(InvalidNodeAnswerError) as caught:
        verify_answer(PUBLIC_SHARES[5], blinded, replayed)
    assert caught.value.node == 5


def test_a_changed_or_reordered_evaluation_is_named() -> None:
    _, blinded = _client(INPUTS)
    honest = answer(SHARES[2], blinded)
    for evaluated in (
        honest.evaluated[::-1],
        (honest.evaluated[0] + Element.base_times(Scalar.from_int(1)), honest.evaluated[1]),
        honest.evaluated[:1],
        (*honest.evaluated, honest.evaluated[0]),
    ):
        with pytest.raises(InvalidNodeAnswerError) as caught:
            verify_answer(PUBLIC_SHARES[2], blinded, NodeAnswer(2, evaluated, honest.proof))
        assert caught.value.node == 2


def test_identity_and_invalid_elements_are_refused() -> None:
    blinds, blinded = _client(INPUTS)
    honest = answer(SHARES[2], blinded)
    # A node answering the identity is named
    with pytest.raises(InvalidNodeAnswerError, match="identity") as caught:
        verify_answer(PUBLIC_SHARES[2], blinded, NodeAnswer(2, (IDENTITY, honest.evaluated[1]), honest.proof))
    assert caught.value.node == 2
    with pytest.raises(InvalidNodeAnswerError):
        verify_answer(
            PUBLIC_SHARES[2], blinded, NodeAnswer(2, (b"x" * 32, honest.evaluated[1]), honest.proof)
        )  # type: ignore[arg-type]
    # The identity never decodes from the wire, and a node never evaluates it
    with pytest.raises(InvalidPointError):
        Element.decode(bytes(32))
    with pytest.raises(InvalidPointError):
        answer(SHARES[1], [IDENTITY])
    # A client's own identity blinded element is its error, not the node's
    with pytest.raises(InvalidPointError):
        verify_answer(PUBLIC_SHARES[2], [IDENTITY, blinded[1]], honest)


def test_an_answer_from_an_unknown_node_or_twice_from_one_is_refused() -> None:
    blinds, blinded = _client(INPUTS)
    answers = [answer(SHARES[i], blinded) for i in (1, 2, 3)]
    with pytest.raises(DuplicateShareError) as duplicate:
        finalize_threshold(INPUTS, blinds, blinded, PUBLIC_SHARES, [*answers, answers[0]], 3)
    assert duplicate.value.holder == 1
    outsider = answer(KeyShare(9, SHARES[1].value), blinded)
    with pytest.raises(InvalidNodeAnswerError) as unknown:
        finalize_threshold(INPUTS, blinds, blinded, PUBLIC_SHARES, [*answers, outsider], 3)
    assert unknown.value.node == 9


# Shapes and parameters.


def test_combine_refuses_bad_indices_lengths_and_thresholds() -> None:
    _, blinded = _client(INPUTS)
    evaluated = {i: answer(SHARES[i], blinded).evaluated for i in (1, 2, 3)}
    with pytest.raises(InvalidParameterError):
        combine({0: evaluated[1], 2: evaluated[2], 3: evaluated[3]}, 3)
    with pytest.raises(InvalidParameterError):
        combine({**evaluated, 3: evaluated[3][:1]}, 3)
    with pytest.raises(InvalidParameterError):
        combine({1: (), 2: (), 3: ()}, 3)
    for threshold in (0, -1, True, "3"):
        with pytest.raises(InvalidParameterError):
            combine(evaluated, threshold)  # type: ignore[arg-type]


def test_node_answer_checks_its_index_and_shape() -> None:
    _, blinded = _client(INPUTS)
    honest = answer(SHARES[1], blinded)
    with pytest.raises(InvalidParameterError):
        NodeAnswer(0, honest.evaluated, honest.proof)
    with pytest.raises(InvalidParameterError):
        NodeAnswer(1, list(honest.evaluated), honest.proof)  # type: ignore[arg-type]


def test_finalize_threshold_refuses_unpaired_inputs() -> None:
    blinds, blinded = _client(INPUTS)
    answers = [answer(SHARES[i], blinded) for i in (1, 2, 3)]
    with pytest.raises(InvalidParameterError, match="pair up"):
        finalize_threshold(INPUTS[:1], blinds, blinded, PUBLIC_SHARES, answers, 3)


def test_evaluate_share_refuses_a_public_share_that_is_not_its_own() -> None:
    _, blinded = _client(INPUTS)
    with pytest.raises(InvalidParameterError, match="public key"):
        evaluate_share(SHARES[1].value, PUBLIC_SHARES[2], blinded)


def test_from_edwards_public_shares_match_a_fresh_point_decode() -> None:
    # The wire path: a verification key read back from its bytes maps to the same element.
    for i, v in KEY.verification_keys.items():
        assert from_edwards(Point.decode(bytes(v))) == PUBLIC_SHARES[i]
