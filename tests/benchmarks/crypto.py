"""Benchmark of the threshold cryptography core (run by `make bench`).

Prints per-operation medians (microseconds) for sealing, partial decryption with proof, share
verification and combine+open, for 3-of-5 and 8-of-15 keys, each also as a multiple of one raw
variable-base scalar multiplication measured in the same run; then issue 14's target: the key-holder's
approval (parse and check the envelope, partial decryption with proof) and the officer's open (derive
the blinding scalar, verify t partials, combine, unblind, open), version 2 against version 1
(tests/benchmarks/seal_v1_baseline.py) timed in alternation in the same run, at most 1.5x. The figures
in docs/benchmarks.md come from this script.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from escrow.crypto.disclosure import blinding_point, blinding_scalar  # noqa: E402
from escrow.crypto.group import G, Point, Scalar  # noqa: E402
from escrow.crypto.proofs import prove_dleq, verify_dleq  # noqa: E402
from escrow.crypto.seal import (  # noqa: E402
    Envelope,
    SealKey,
    combine_and_open,
    open_blinded,
    partial_decrypt,
    reseal,
    seal,
    seal_identity,
    verify_partial,
)
from tests.benchmarks import seal_v1_baseline as v1  # noqa: E402
from tests.benchmarks.timing import median_ratio  # noqa: E402
from tests.crypto.support import run_dkg  # noqa: E402

IDENTITY = b'{"birthdate":"1815-12-10","name":"Ada Lovelace","issuer":"https://idp.example"}'
CONTEXT = {"platform": "forum.example", "pseudonym": "x" * 26, "envelope_id": "e" * 22}
REQUEST = b"\x42" * 32


_RAW_POINT = G * Scalar.random()
_RAW_SCALAR = Scalar.random()


def median_us(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Returns the median time of `fn` as a multiple of a raw scalar multiplication timed alongside it.

    Each sample of `fn` is paired with a sample of one raw variable-base multiplication taken right
    before it, so load on the machine moves both alike and the ratio stays meaningful.
    """
    fn()  # warm-up
    ratios, op_samples = [], []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        _ = _RAW_POINT * _RAW_SCALAR
        raw = time.perf_counter_ns() - start
        start = time.perf_counter_ns()
        fn()
        op = time.perf_counter_ns() - start
        ratios.append(op / raw)
        op_samples.append(op)
    return statistics.median(op_samples) / 1000, statistics.median(ratios)


def bench_key(t: int, n: int, r: int) -> list[tuple[str, tuple[float, float]]]:
    """Returns (operation, median us) rows for one t-of-n key made by an in-process DKG."""
    key, shares = run_dkg(t, n)
    seal_key = SealKey(bytes(64 * [7]))
    identity_seal = seal_identity(seal_key, IDENTITY, {"kind": "identity"})
    envelope = reseal(key, seal_key, identity_seal, CONTEXT)
    partials = [partial_decrypt(shares[j], envelope, REQUEST) for j in range(1, t + 1)]
    return [
        ("seal (one-shot, new identity)", median_us(lambda: seal(key, IDENTITY, CONTEXT), r)),
        (
            "reseal (per-platform envelope, with its proof)",
            median_us(lambda: reseal(key, seal_key, identity_seal, CONTEXT), r),
        ),
        (
            "partial decryption + proof (envelope: 1 point)",
            median_us(lambda: partial_decrypt(shares[1], envelope, REQUEST), r),
        ),
        (
            "verify one partial decryption (envelope)",
            median_us(lambda: verify_partial(key, envelope, REQUEST, partials[0]), r),
        ),
        (
            f"combine+open ({t} partials, verification included)",
            median_us(lambda: combine_and_open(key, envelope, REQUEST, partials), max(r // 5, 20)),
        ),
    ]


REVEAL_TARGET = 1.5
OFFICER_SEED = bytes(range(32))
NONCE = "0f" * 16


def bench_reveal(t: int, n: int, r: int) -> list[tuple[str, float, float, float]]:
    """Returns (step, v2 us, v1 us, ratio v2/v1) for the holder's approval and the officer's open."""
    key, shares = run_dkg(t, n)
    old = v1.seal(key, IDENTITY, CONTEXT)
    new = seal(key, IDENTITY, CONTEXT)
    old_dict, new_dict = old.to_dict(), new.to_dict()
    blind = blinding_point(OFFICER_SEED, NONCE, new.digest())

    def approve_v1() -> object:
        return v1.partial_decrypt(shares[1], v1.Envelope.from_dict(old_dict), REQUEST)

    def approve_v2() -> object:
        return partial_decrypt(shares[1], Envelope.from_dict(new_dict), REQUEST, blind=blind)

    old_partials = [v1.partial_decrypt(shares[j], old, REQUEST) for j in range(1, t + 1)]
    new_partials = [partial_decrypt(shares[j], new, REQUEST, blind=blind) for j in range(1, t + 1)]

    def open_v1() -> object:  # the server's combine_and_open of version 1
        return v1.combine_and_open(key, old, REQUEST, old_partials)

    def open_v2() -> object:  # the officer's tool: re-derive b, verify, combine, unblind, open
        b = blinding_scalar(OFFICER_SEED, NONCE, new.digest())
        return open_blinded(key, new, REQUEST, new_partials, b)

    rows = []
    for step, after, before, rounds in (
        ("holder's approval (check envelope, partial + proof)", approve_v2, approve_v1, r),
        (f"officer's open ({t} partials verified)", open_v2, open_v1, max(r // 3, 30)),
    ):
        rows.append((step, *median_ratio(after, before, rounds)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=300, help="samples per operation")
    args = parser.parse_args()
    r = args.repeat

    s = Scalar.random()
    p = G * Scalar.random()
    raw, _ = median_us(lambda: p * s, r * 3)
    base, base_ratio = median_us(lambda: Point.base_times(s), r * 3)
    print(f"# escrow crypto benchmark  (python {platform.python_version()}, {platform.machine()})")
    print(f"# median of {r} runs per operation; 1 raw scalar multiplication = {raw:.1f} us")
    print(f"# base-point multiplication = {base:.1f} us ({base_ratio:.2f}x)")
    print("# ratio = median over samples of (operation time / raw multiplication timed just before it)")
    # The primitive the targets describe: one ElGamal point, its decryption share and proof.
    v = Point.base_times(s)
    binding = ((b"request", REQUEST), (b"envelope", REQUEST))

    def one_point_partial() -> object:
        d = p * s
        return prove_dleq(s, Point.base_times(s), ((p, d),), binding)

    d = p * s
    proof = prove_dleq(s, v, ((p, d),), binding)
    print()
    print("| key | operation | median (us) | x raw scalar mult |")
    print("|---|---|---:|---:|")
    for name, fn in {
        "partial decryption + DLEQ proof, one point": one_point_partial,
        "verify one point's partial decryption": lambda: verify_dleq(v, ((p, d),), proof, binding),
    }.items():
        us, ratio = median_us(fn, r)
        print(f"| any | {name} | {us:.0f} | {ratio:.2f} |")
    for t, n in ((3, 5), (8, 15)):
        for name, (us, ratio) in bench_key(t, n, r):
            print(f"| {t}-of-{n} | {name} | {us:.0f} | {ratio:.2f} |")
    print()
    print(f"# issue 14: version 2 (blinded, proven) against version 1, same run; target <= {REVEAL_TARGET}x")
    print("| key | step | v2 median (us) | v1 median (us) | v2 / v1 (median of paired rounds) | target |")
    print("|---|---|---:|---:|---:|---|")
    for t, n in ((3, 5), (8, 15)):
        for step, after, before, ratio in bench_reveal(t, n, r):
            verdict = "met" if ratio <= REVEAL_TARGET else "MISSED"
            print(f"| {t}-of-{n} | {step} | {after:.0f} | {before:.0f} | {ratio:.2f} | {verdict} |")


if __name__ == "__main__":
    main()
