"""Benchmark of the threshold OPRF (issue 13; run by `make bench`; figures in docs/benchmarks.md).

Starts a simulated ceremony's 2-of-3 key and three real `escrow oprf-node serve` processes on loopback
(tests/oprf_support.start_network), then measures, each against a baseline timed in alternating
batches in the same run (this machine is shared: load moves both alike):

1. One threshold evaluation through ThresholdOprfClient.evaluate (one input, loopback HTTP, every
   answer's proof checked) against its crypto floor in-process: blind, t proof verifications, combine,
   unblind and finalize. Reported: floor time / evaluation time (target >= 0.3).
2. One node's throughput in elements per second over HTTP, batches of 1 and 32 elements sent one after
   another from one client thread over one keep-alive connection (requests signed beforehand), against
   the node's floor: `evaluate_share` in-process for the same batch (one scalar multiplication and one
   share of the batch's proof per element). Reported: HTTP rate / floor rate (target >= 0.5 for
   batches, i.e. at 32).
3. register_person + issue_credential through the service layer (SQLite, no HTTP to the service),
   p50, with the real client against the nodes and with the old scheme's in-process HMAC
   (tests/benchmarks/oprf_baseline.HmacBaselineOprf). Reported: nodes p50 / HMAC p50 (target <= 1.5).

Prints each figure and ratio with "met" or "MISSED"; exits 0 like the other benchmark scripts (so
`make bench` runs them all) unless --strict is given, which exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nacl.signing  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from escrow.client.oprf import EVALUATE_PATH, NodeEndpoint, ThresholdOprfClient  # noqa: E402
from escrow.config import Settings  # noqa: E402
from escrow.crypto.ceremony_messages import NONCE_BYTES, public_keys  # noqa: E402
from escrow.crypto.oprf import Mode, blind, finalize  # noqa: E402
from escrow.crypto.ristretto import Element  # noqa: E402
from escrow.crypto.threshold_oprf import (  # noqa: E402
    answer,
    combine,
    evaluate_share,
    public_shares,
    verify_answer,
)
from escrow.db import make_engine, upgrade_database  # noqa: E402
from escrow.identity.base import VerifiedIdentity  # noqa: E402
from escrow.keystore import load_keyring  # noqa: E402
from escrow.protocol.oprf import EvaluateRequest, sign_service_request  # noqa: E402
from escrow.services.credentials import issue_credential  # noqa: E402
from escrow.services.escrow_keys import install_escrow_key  # noqa: E402
from escrow.services.oprf import OprfEvaluator  # noqa: E402
from escrow.services.oprf_keys import install_oprf_key  # noqa: E402
from escrow.services.platforms import register_platform  # noqa: E402
from escrow.services.registration import register_person  # noqa: E402
from escrow.services.transparency import LogSigner  # noqa: E402
from tests.benchmarks.oprf_baseline import HmacBaselineOprf  # noqa: E402
from tests.benchmarks.timing import paired  # noqa: E402
from tests.crypto.support import run_dkg  # noqa: E402
from tests.oprf_support import OprfNetwork, start_network  # noqa: E402

ISSUER = "https://escrow.example"
INPUT = b"https://idp.example\x00subject-benchmark"
EVAL_TARGET = 0.3
NODE_TARGET = 0.5
NODE_BATCHES = (1, 32)
FLOW_TARGET = 1.5


def bench_evaluation(network: OprfNetwork, client: ThresholdOprfClient, rounds: int) -> tuple[float, float]:
    """Returns (floor us, evaluation us), medians."""
    key, shares = run_dkg(network.key.threshold, len(network.key.verification_keys))
    pub = public_shares(key)
    t = key.threshold
    _, blinded0 = blind(INPUT, mode=Mode.VOPRF)
    answers0 = [answer(shares[i], (blinded0,)) for i in range(1, t + 1)]

    def floor() -> object:
        b, _ = blind(INPUT, mode=Mode.VOPRF)  # the client's blinding (its element is not used again)
        for a in answers0:
            verify_answer(pub[a.index], (blinded0,), a)
        (z,) = combine({a.index: a.evaluated for a in answers0}, t)
        return finalize(INPUT, b, z)

    def evaluate() -> object:
        return client.evaluate(network.key, [INPUT])

    floor_us, eval_us = paired(floor, evaluate, rounds)
    return statistics.median(floor_us), statistics.median(eval_us)


class _RawNode:
    """Signed /evaluate requests to one node over one keep-alive connection, answers not checked
    (the node's throughput, not the client's)."""

    def __init__(self, network: OprfNetwork, index: int) -> None:
        node = network.node(index)
        parts = urllib.parse.urlsplit(node.url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        self.seed = network.client_seed
        self.signing_key = public_keys(self.seed, bytes(32)).signing_key
        self.key_id = network.key.key_id
        self.index = index
        self.closes = 0

    def prepare(self, blinded: tuple[Element, ...], count: int) -> list[tuple[bytes, dict[str, str]]]:
        body = EvaluateRequest(key_id=self.key_id, node=self.index, elements=blinded).to_json()
        requests = []
        for _ in range(count):
            auth = sign_service_request(
                self.seed,
                self.signing_key,
                method="POST",
                path=EVALUATE_PATH,
                timestamp_ms=int(time.time() * 1000),
                nonce=os.urandom(NONCE_BYTES),
                body=body,
            )
            headers = {"Content-Type": "application/json", "Authorization": auth.to_header()}
            requests.append((body, headers))
        return requests

    def send(self, body: bytes, headers: dict[str, str]) -> None:
        self.connection.request("POST", EVALUATE_PATH, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"node {self.index} answered {response.status}: {data[:300]!r}")
        if response.will_close:
            self.closes += 1
            self.connection.close()


def bench_node(network: OprfNetwork, rounds: int, per_round: int) -> list[tuple[int, float, float, bool]]:
    """Returns (batch size, floor elements/s, HTTP elements/s, keep-alive held) per batch size."""
    key, shares = run_dkg(network.key.threshold, len(network.key.verification_keys))
    share = shares[1]
    pub = Element.base_times(share.value)
    rows = []
    for size in NODE_BATCHES:
        blinded = tuple(blind(INPUT + bytes([j]), mode=Mode.VOPRF)[1] for j in range(size))
        raw = _RawNode(network, 1)
        floor_s, http_s = [], []
        for _ in range(rounds + 1):  # the first round warms up
            requests = raw.prepare(blinded, per_round)  # signed now: fresh for the node's 60 s window
            t0 = time.perf_counter_ns()
            for _ in range(per_round):
                evaluate_share(share.value, pub, blinded)
            t1 = time.perf_counter_ns()
            for body, headers in requests:
                raw.send(body, headers)
            t2 = time.perf_counter_ns()
            floor_s.append(size * per_round / ((t1 - t0) / 1e9))
            http_s.append(size * per_round / ((t2 - t1) / 1e9))
        raw.connection.close()
        rows.append((size, statistics.median(floor_s[1:]), statistics.median(http_s[1:]), raw.closes == 0))
    return rows


def bench_flow(
    network: OprfNetwork, client: ThresholdOprfClient, rounds: int, db_dir: Path
) -> tuple[float, float]:
    """Returns (HMAC baseline p50 us, nodes p50 us) of register_person + issue_credential."""
    keyring = load_keyring(Settings.for_tests("sqlite://", db_dir / "keys"))
    url = f"sqlite:///{db_dir / 'bench.sqlite3'}"
    upgrade_database(url)
    engine = make_engine(url)
    log = LogSigner("escrow.bench/log", nacl.signing.SigningKey(b"\x01" * 32))
    escrow_key, _ = run_dkg(3, 5)
    now = datetime.now(UTC)
    counter = iter(range(10**9))
    baseline = HmacBaselineOprf()
    with Session(engine) as session:
        install_escrow_key(session, escrow_key, log=log, now=now)
        install_oprf_key(session, network.key, log=log, now=now)
        session.commit()
        register_platform(
            session,
            platform_id="forum",
            name="Forum",
            contact="abuse@forum.example",
            redirect_uris=["https://forum.example/cb"],
            log=log,
            now=now,
        )

        def flow(oprf: OprfEvaluator) -> object:
            identity = VerifiedIdentity(
                "oidc", "https://idp.example", f"subject-{next(counter)}", "Ada Example", "1990-01-01", "low"
            )
            moment = datetime.now(UTC)
            person = register_person(session, identity=identity, oprf=oprf, log=log, now=moment)
            return issue_credential(
                session,
                person_id=person.account.id,
                platform_id="forum",
                secret=person.secret,
                keyring=keyring,
                issuer=ISSUER,
                log=log,
                now=moment,
            )

        hmac_us, nodes_us = paired(lambda: flow(baseline), lambda: flow(client), rounds)
    engine.dispose()
    return statistics.median(hmac_us), statistics.median(nodes_us)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=300, help="paired samples for parts 1 and 3")
    parser.add_argument("--rounds", type=int, default=15, help="paired rounds for part 2")
    parser.add_argument("--per-round", type=int, default=40, help="requests per round in part 2")
    parser.add_argument("--dir", type=Path, default=None, help="parent folder for the nodes and the database")
    parser.add_argument(
        "--workers", type=int, default=1, help="gunicorn workers per node (0: the built-in dev server)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    missed = []

    def verdict(ok: bool, name: str) -> str:
        if not ok:
            missed.append(name)
        return "met" if ok else "MISSED"

    print(
        f"# escrow threshold OPRF benchmark  (python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; nodes: "
        f"{f'gunicorn, {args.workers} worker(s)' if args.workers else 'built-in dev server'})"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        network = start_network(Path(tmp) / "nodes", workers=args.workers)
        client = ThresholdOprfClient(
            nodes=[NodeEndpoint(i, u) for i, u in network.endpoints], signing_seed=network.client_seed
        )
        try:
            t, n = network.key.threshold, len(network.key.verification_keys)
            floor_us, eval_us = bench_evaluation(network, client, args.repeat)
            ratio = floor_us / eval_us
            print(f"\n## 1. one threshold evaluation ({t}-of-{n}, loopback HTTP, median of {args.repeat})")
            print(f"crypto floor (blind + {t} proof checks + combine + finalize) {floor_us:9.0f} us")
            print(f"ThresholdOprfClient.evaluate, one input                  {eval_us:9.0f} us")
            ok = verdict(ratio >= EVAL_TARGET, "eval")
            print(f"floor / evaluation (target >= {EVAL_TARGET})  {ratio:5.2f}  {ok}")

            print(f"\n## 2. one node process, one client thread ({args.per_round} requests per round,")
            print(f"##    median of {args.rounds} rounds)")
            print(
                "| batch | floor: evaluate_share (el/s) | HTTP /evaluate (el/s) | HTTP / floor | keep-alive |"
            )
            print("|---:|---:|---:|---:|---|")
            for size, floor_eps, http_eps, kept in bench_node(network, args.rounds, args.per_round):
                ratio = http_eps / floor_eps
                mark = verdict(ratio >= NODE_TARGET, f"node-{size}") if size > 1 else "(no target)"
                kept_text = "yes" if kept else "no"
                print(f"| {size} | {floor_eps:.0f} | {http_eps:.0f} | {ratio:.2f} {mark} | {kept_text} |")
            print(f"(target >= {NODE_TARGET} for batches: batch {max(NODE_BATCHES)})")

            hmac_us, nodes_us = bench_flow(network, client, args.repeat, Path(tmp))
            ratio = nodes_us / hmac_us
            print(f"\n## 3. register_person + issue_credential, p50 of {args.repeat} each (SQLite)")
            print(f"old scheme's cost (in-process HMAC baseline)  {hmac_us:9.0f} us")
            print(f"threshold OPRF client with the {n} nodes        {nodes_us:9.0f} us")
            print(
                f"nodes / HMAC (target <= {FLOW_TARGET})  {ratio:5.2f}  "
                f"{verdict(ratio <= FLOW_TARGET, 'flow')}"
            )
        finally:
            client.close()
            network.stop()
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
        if args.strict:
            sys.exit(1)


if __name__ == "__main__":
    main()
