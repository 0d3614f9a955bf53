"""Feldman VSS and Lagrange interpolation: t shares determine the secret, t-1 do not, bad shares named."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escrow.crypto.errors import InvalidParameterError, InvalidShareError
from escrow.crypto.group import ZERO, Point, Scalar
from escrow.crypto.vss import (
    MAX_INDEX,
    Polynomial,
    check_index,
    commitment_at,
    interpolate_at_zero,
    lagrange_at_zero,
    verify_share,
)


@st.composite
def threshold_and_holders(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=12))
    return draw(st.integers(min_value=1, max_value=n)), n


def _interpolate_scalars(shares: dict[int, Scalar]) -> Scalar:
    lambdas = lagrange_at_zero(shares)
    total = ZERO
    for i, s in shares.items():
        total = total + lambdas[i] * s
    return total


@given(threshold_and_holders(), st.randoms())
@settings(max_examples=40, deadline=None)
def test_any_t_shares_recover_the_secret_and_t_minus_1_do_not(tn: tuple[int, int], rnd) -> None:  # type: ignore[no-untyped-def]
    t, n = tn
    secret = Scalar.random()
    poly = Polynomial.random(t, secret)
    commitments = poly.commitments()
    shares = {j: poly.evaluate(j) for j in range(1, n + 1)}
    for j, s in shares.items():
        verify_share(commitments, j, s, dealer=1)
    subset = rnd.sample(sorted(shares), t)
    assert _interpolate_scalars({j: shares[j] for j in subset}) == secret
    assert interpolate_at_zero({j: Point.base_times(shares[j]) for j in subset}) == commitments[0]
    if t > 1:
        fewer = rnd.sample(sorted(shares), t - 1)
        assert _interpolate_scalars({j: shares[j] for j in fewer}) != secret


def test_every_3_subset_of_5_recovers_the_secret() -> None:
    secret = Scalar.random()
    poly = Polynomial.random(3, secret)
    shares = {j: poly.evaluate(j) for j in range(1, 6)}
    for subset in itertools.combinations(shares, 3):
        assert _interpolate_scalars({j: shares[j] for j in subset}) == secret


def test_altered_share_is_rejected_naming_dealer_and_recipient() -> None:
    poly = Polynomial.random(3, None)
    with pytest.raises(InvalidShareError) as caught:
        verify_share(poly.commitments(), 2, poly.evaluate(2) + Scalar.from_int(1), dealer=7)
    assert (caught.value.dealer, caught.value.recipient) == (7, 2)


def test_commitment_at_matches_share_times_g() -> None:
    poly = Polynomial.random(4, None)
    assert commitment_at(poly.commitments(), 9) == Point.base_times(poly.evaluate(9))


@pytest.mark.parametrize("indices", [[], [1, 1], [0, 1], [1, MAX_INDEX + 1]])
def test_lagrange_refuses_bad_index_sets(indices: list[int]) -> None:
    with pytest.raises(InvalidParameterError):
        lagrange_at_zero(indices)


@pytest.mark.parametrize("index", [0, -1, True, "1", MAX_INDEX + 1])
def test_check_index_refuses_non_indices(index: object) -> None:
    with pytest.raises(InvalidParameterError):
        check_index(index)  # type: ignore[arg-type]


def test_polynomial_refuses_zero_threshold_and_hides_coefficients() -> None:
    with pytest.raises(InvalidParameterError):
        Polynomial.random(0, None)
    assert "hidden" in repr(Polynomial.random(2, None))
