"""Dealerless key generation and resharing: consistent keys, cheaters named, published DKG flaws closed."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.dkg import (
    CeremonyParameters,
    Complaint,
    DealerBroadcast,
    ReshareParameters,
    ThresholdPublicKey,
    check_complaint,
    combine_ceremony,
    combine_reshare,
    deal,
    finalise_ceremony,
    finalise_reshare,
    reshare_deal,
    verify_broadcast,
    verify_dealt_share,
)
from escrow.crypto.errors import (
    EncodingError,
    InvalidParameterError,
    InvalidProofError,
    InvalidShareError,
    UnjustifiedComplaintError,
)
from escrow.crypto.group import G, Point, Scalar
from escrow.crypto.vss import Polynomial, interpolate_at_zero, lagrange_at_zero
from tests.crypto.support import run_dkg


def _secret_times_g(shares: dict[int, Scalar]) -> Point:
    return interpolate_at_zero({i: Point.base_times(s) for i, s in shares.items()})


@st.composite
def threshold_and_holders(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=8))
    return draw(st.integers(min_value=1, max_value=n)), n


@given(threshold_and_holders(), st.randoms())
@settings(max_examples=15, deadline=None)
def test_honest_dkg_yields_shares_consistent_with_the_public_key(tn, rnd) -> None:  # type: ignore[no-untyped-def]
    t, n = tn
    key, shares = run_dkg(t, n)
    assert key.threshold == t
    assert sorted(key.verification_keys) == list(range(1, n + 1))
    for j, share in shares.items():
        assert Point.base_times(share.value) == key.verification_key(j)
    subset = rnd.sample(sorted(shares), t)
    assert _secret_times_g({j: shares[j].value for j in subset}) == key.public_key


def test_every_participant_computes_the_same_public_key() -> None:
    params = CeremonyParameters.fresh(2, 3, b"c")
    dealings = {i: deal(params, i) for i in (1, 2, 3)}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    keys = {
        finalise_ceremony(params, j, broadcasts, {i: d.shares[j] for i, d in dealings.items()})[1]
        for j in (1, 2, 3)
    }
    assert len({k.public_key for k in keys}) == 1
    assert combine_ceremony(params, broadcasts) in keys


def test_extra_commitment_that_would_raise_the_threshold_is_refused() -> None:
    # The published flaw: a dealer sending t+1 commitments silently raises the threshold for everyone.
    params = CeremonyParameters.fresh(2, 3, b"c")
    bigger = deal(CeremonyParameters.fresh(3, 3, b"c"), 1).broadcast
    with pytest.raises(InvalidParameterError, match="expected exactly 2"):
        verify_broadcast(params, bigger)


def test_bad_proof_of_knowledge_names_the_dealer() -> None:
    params = CeremonyParameters.fresh(2, 3, b"c")
    honest = deal(params, 2).broadcast
    rogue = dataclasses.replace(honest, commitments=(honest.commitments[0] + G, honest.commitments[1]))
    with pytest.raises(InvalidProofError) as caught:
        verify_broadcast(params, rogue)
    assert caught.value.holder == 2


def test_proof_replayed_from_another_ceremony_or_dealer_is_refused() -> None:
    first = CeremonyParameters.fresh(2, 3, b"ceremony one")
    broadcast = deal(first, 1).broadcast
    with pytest.raises(InvalidProofError):
        verify_broadcast(CeremonyParameters.fresh(2, 3, b"ceremony two"), broadcast)
    with pytest.raises(InvalidProofError):
        verify_broadcast(first, dataclasses.replace(broadcast, dealer=2))


def test_cheating_dealer_is_named_and_the_complaint_is_publicly_checkable() -> None:
    params = CeremonyParameters.fresh(2, 3, b"c")
    dealings = {i: deal(params, i) for i in (1, 2, 3)}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    received = {i: d.shares[3] for i, d in dealings.items()}
    received[2] = received[2] + Scalar.from_int(1)  # dealer 2 sends holder 3 a bad share
    with pytest.raises(InvalidShareError) as caught:
        finalise_ceremony(params, 3, broadcasts, received)
    assert (caught.value.dealer, caught.value.recipient) == (2, 3)
    check_complaint(broadcasts[2], Complaint(dealer=2, accuser=3, share=received[2]))
    with pytest.raises(UnjustifiedComplaintError):
        check_complaint(broadcasts[1], Complaint(dealer=1, accuser=3, share=received[1]))


def test_missing_or_extra_broadcasts_and_mismatched_shares_are_refused() -> None:
    params = CeremonyParameters.fresh(2, 3, b"c")
    dealings = {i: deal(params, i) for i in (1, 2, 3)}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    with pytest.raises(InvalidParameterError, match="missing \\[3\\]"):
        combine_ceremony(params, {1: broadcasts[1], 2: broadcasts[2]})
    with pytest.raises(InvalidParameterError, match="is from dealer"):
        combine_ceremony(params, {1: broadcasts[1], 2: broadcasts[3], 3: broadcasts[2]})
    with pytest.raises(InvalidParameterError):
        finalise_ceremony(params, 3, broadcasts, {1: dealings[1].shares[3]})
    with pytest.raises(InvalidParameterError):
        finalise_ceremony(params, 4, broadcasts, {i: d.shares[3] for i, d in dealings.items()})


@pytest.mark.parametrize(
    ("threshold", "participants", "context"),
    [(0, (1, 2), b"c"), (3, (1, 2), b"c"), (1, (1, 1), b"c"), (1, (0,), b"c"), (1, (1,), b"")],
)
def test_ceremony_parameters_are_validated(
    threshold: int, participants: tuple[int, ...], context: bytes
) -> None:
    with pytest.raises(InvalidParameterError):
        CeremonyParameters(threshold, participants, context)


def test_broadcast_and_public_key_round_trip_and_validate_points() -> None:
    key, _ = run_dkg(2, 3)
    assert ThresholdPublicKey.from_dict(key.to_dict()) == key
    broadcast = deal(CeremonyParameters.fresh(2, 3, b"c"), 1).broadcast
    assert DealerBroadcast.from_dict(broadcast.to_dict()) == broadcast
    bad = broadcast.to_dict() | {"commitments": ["AQ" + "A" * 41, broadcast.to_dict()["commitments"][1]]}
    with pytest.raises(EncodingError):
        DealerBroadcast.from_dict(bad)
    with pytest.raises(EncodingError):
        DealerBroadcast.from_dict({"dealer": 0})
    with pytest.raises(EncodingError, match="key id"):
        ThresholdPublicKey.from_dict(key.to_dict() | {"key_id": "ek1-000000000000000000000000"})
    with pytest.raises(EncodingError):
        ThresholdPublicKey.from_dict(key.to_dict() | {"threshold": 4})
    with pytest.raises(EncodingError):
        ThresholdPublicKey.from_dict({"threshold": 1})
    with pytest.raises(InvalidParameterError):
        key.verification_key(9)


def _reshare(key: ThresholdPublicKey, shares: dict, quorum: tuple[int, ...], t: int, n: int):  # type: ignore[no-untyped-def,type-arg]
    params = ReshareParameters(key, quorum, CeremonyParameters.fresh(t, n, b"reshare"))
    dealings = {i: reshare_deal(params, shares[i]) for i in quorum}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    new_shares = {}
    new_key = None
    for j in params.new.participants:
        new_shares[j], new_key = finalise_reshare(
            params, j, broadcasts, {i: d.shares[j] for i, d in dealings.items()}
        )
    return params, broadcasts, new_key, new_shares


@given(threshold_and_holders(), threshold_and_holders(), st.randoms())
@settings(max_examples=10, deadline=None)
def test_resharing_keeps_the_public_key_for_any_new_threshold(old, new, rnd) -> None:  # type: ignore[no-untyped-def]
    key, shares = run_dkg(*old)
    quorum = tuple(sorted(rnd.sample(sorted(shares), old[0])))
    _, _, new_key, new_shares = _reshare(key, shares, quorum, *new)
    assert new_key.public_key == key.public_key
    assert new_key.key_id == key.key_id
    assert new_key.threshold == new[0]
    subset = rnd.sample(sorted(new_shares), new[0])
    assert _secret_times_g({j: new_shares[j].value for j in subset}) == key.public_key


def test_old_and_new_shares_do_not_combine() -> None:
    key, shares = run_dkg(3, 5)
    _, _, _, new_shares = _reshare(key, shares, (1, 3, 5), 2, 3)
    for old_j, new_j in itertools.product((1, 2), (1, 2, 3)):
        if old_j == new_j:
            continue
        mixed = {old_j: shares[old_j].value, new_j: new_shares[new_j].value}
        # Two shares from different polynomials interpolate to garbage, not the key.
        assert _secret_times_g(mixed) != key.public_key


def test_reshare_dealer_that_deals_another_secret_is_named() -> None:
    key, shares = run_dkg(2, 3)
    params = ReshareParameters(key, (1, 2), CeremonyParameters.fresh(2, 2, b"reshare"))
    honest = reshare_deal(params, shares[1])
    forged = deal(params.new, 2, secret=Scalar.random())  # holder 2 deals something else
    with pytest.raises(InvalidProofError) as caught:
        combine_reshare(params, {1: honest.broadcast, 2: forged.broadcast})
    assert caught.value.holder == 2


def test_reshare_refuses_small_quorum_outsider_and_unknown_holder() -> None:
    key, shares = run_dkg(3, 4)
    new = CeremonyParameters.fresh(2, 2, b"r")
    with pytest.raises(InvalidParameterError, match="at least 3"):
        ReshareParameters(key, (1, 2), new)
    with pytest.raises(InvalidParameterError):
        ReshareParameters(key, (1, 1, 2), new)
    with pytest.raises(InvalidParameterError):
        ReshareParameters(key, (1, 2, 9), new)
    params = ReshareParameters(key, (1, 2, 3), new)
    with pytest.raises(InvalidParameterError):
        reshare_deal(params, shares[4])
    assert set(params.weights()) == {1, 2, 3}
    assert lagrange_at_zero((1, 2, 3)) == params.weights()


def test_dealt_share_check_and_reprs_hide_secrets() -> None:
    params = CeremonyParameters.fresh(2, 2, b"c")
    dealing = deal(params, 1)
    verify_dealt_share(dealing.broadcast, 2, dealing.shares[2])
    key, shares = run_dkg(1, 1)
    assert "hidden" in repr(shares[1])
    assert "hidden" in repr(dealing)
    assert "hidden" in repr(Polynomial.random(1, None))
    assert key.key_id.startswith("ek1-")
    assert len(key.key_id) == 28
