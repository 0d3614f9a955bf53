"""Feldman verifiable secret sharing (Feldman 1987) and Lagrange interpolation at zero (Shamir 1979).

A dealer's polynomial f(x) = a_0 + a_1 x + ... + a_{t-1} x^{t-1} over Z_L gives holder j the share f(j);
the commitments C_k = a_k * G let anyone check a share: f(j) * G == sum_k j^k * C_k. Holder indices are
the integers 1..n (never 0, where the secret sits).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from escrow.crypto.errors import InvalidParameterError, InvalidShareError
from escrow.crypto.group import IDENTITY, ZERO, L, Point, RandomSource, Scalar

MAX_INDEX = 2**16
"""Holder indices are small positive integers; a bound keeps encodings and loops sane."""


def check_index(index: int) -> int:
    """Returns `index` if it is a valid holder index (1..MAX_INDEX). Raises InvalidParameterError."""
    if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= MAX_INDEX:
        raise InvalidParameterError(f"holder index must be an integer in 1..{MAX_INDEX}")
    return index


@dataclass(frozen=True, slots=True, repr=False)
class Polynomial:
    """A secret polynomial over Z_L, lowest coefficient first. Never leaves the dealer's process."""

    coefficients: tuple[Scalar, ...]

    @classmethod
    def random(cls, threshold: int, secret: Scalar | None, *, rand: RandomSource = os.urandom) -> Polynomial:
        """Returns a random polynomial of degree threshold-1 with constant term `secret` (random if None)."""
        if threshold < 1:
            raise InvalidParameterError("threshold must be at least 1")
        first = secret if secret is not None else Scalar.random(rand)
        return cls((first, *(Scalar.random(rand) for _ in range(threshold - 1))))

    def evaluate(self, x: int) -> Scalar:
        """Returns f(x) (Horner's rule)."""
        xs = Scalar.from_int(check_index(x))
        acc = ZERO
        for coefficient in reversed(self.coefficients):
            acc = acc * xs + coefficient
        return acc

    def commitments(self) -> tuple[Point, ...]:
        """Returns the Feldman commitments a_k * G."""
        return tuple(Point.base_times(a) for a in self.coefficients)

    def __repr__(self) -> str:
        return f"Polynomial(degree={len(self.coefficients) - 1}, <hidden>)"


def commitment_at(commitments: Sequence[Point], x: int) -> Point:
    """Returns sum_k x^k * C_k, i.e. f(x) * G for the committed polynomial (Horner's rule on points)."""
    xs = Scalar.from_int(check_index(x))
    acc = IDENTITY
    for c in reversed(commitments):
        acc = acc * xs + c
    return acc


def verify_share(commitments: Sequence[Point], recipient: int, share: Scalar, *, dealer: int) -> None:
    """Checks share * G == sum_k recipient^k * C_k.

    Raises InvalidShareError naming the dealer and recipient if the share does not match.
    """
    if Point.base_times(share) != commitment_at(commitments, recipient):
        raise InvalidShareError(
            f"share from dealer {dealer} to holder {recipient} does not match the dealer's commitments",
            dealer=dealer,
            recipient=recipient,
        )


def lagrange_at_zero(indices: Iterable[int]) -> dict[int, Scalar]:
    """Returns the Lagrange coefficients lambda_i = prod_{j != i} j / (j - i) mod L for each index.

    Raises InvalidParameterError for an empty set, duplicate or out-of-range indices.
    """
    idx = [check_index(i) for i in indices]
    if not idx:
        raise InvalidParameterError("interpolation needs at least one index")
    if len(set(idx)) != len(idx):
        raise InvalidParameterError("interpolation indices must be distinct")
    coefficients: dict[int, Scalar] = {}
    for i in idx:
        num, den = 1, 1
        for j in idx:
            if j != i:
                num = num * j % L
                den = den * (j - i) % L
        # Public values: Python integers are fine here (no secret-dependent timing).
        coefficients[i] = Scalar.from_int(num * pow(den, -1, L))
    return coefficients


def interpolate_at_zero(values: dict[int, Point]) -> Point:
    """Returns sum_i lambda_i * values[i]: the interpolated value at zero, in the exponent."""
    lambdas = lagrange_at_zero(values)
    acc = IDENTITY
    for i, value in values.items():
        acc = acc + value * lambdas[i]
    return acc
