"""Shared builders for the crypto tests: deterministic randomness and whole DKG runs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from escrow.crypto.dkg import (
    CeremonyParameters,
    KeyShare,
    ThresholdPublicKey,
    deal,
    finalise_ceremony,
)


class SeededRandom:
    """A deterministic byte stream (SHAKE-256 of a seed and a counter) standing in for os.urandom."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)


def run_dkg(
    threshold: int,
    holders: int,
    *,
    context: bytes = b"test ceremony",
    rand: Callable[[int], bytes] | None = None,
) -> tuple[ThresholdPublicKey, dict[int, KeyShare]]:
    """Runs an honest dealerless ceremony in one process; returns the key and every holder's share."""
    params = CeremonyParameters.fresh(threshold, holders, context)
    kwargs = {"rand": rand} if rand else {}
    dealings = {i: deal(params, i, **kwargs) for i in params.participants}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    shares: dict[int, KeyShare] = {}
    key = None
    for j in params.participants:
        shares[j], key = finalise_ceremony(
            params, j, broadcasts, {i: d.shares[j] for i, d in dealings.items()}
        )
    assert key is not None
    return key, shares
