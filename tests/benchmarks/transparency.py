"""Benchmark of the transparency log (run by `make bench`).

For each tree size (default 10^3, 10^5, 10^6) it builds a log of that size in a fresh SQLite file
(bulk-loaded: entries, complete-subtree nodes and the head), then measures through the real service:
appends per second (each append is its own committed transaction: entry, O(log n) nodes, signed
checkpoint) and the median time to generate an inclusion proof and a consistency proof. Growth with
size should be logarithmic. Pass --database-url to run against PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nacl.signing  # noqa: E402
from sqlalchemy import insert, text, update  # noqa: E402

from escrow.crypto.merkle import MemoryNodeStore, leaf_hash, nodes_to_store_after_append  # noqa: E402
from escrow.crypto.note import format_checkpoint, sign_note  # noqa: E402
from escrow.crypto.transcript import canonical_json  # noqa: E402
from escrow.db import make_engine, make_session_factory, upgrade_database  # noqa: E402
from escrow.models import LogCheckpoint, LogEntry, LogNode, LogState  # noqa: E402
from escrow.services import transparency  # noqa: E402
from escrow.services.transparency import LogSigner, append_event  # noqa: E402

LOG = LogSigner("bench.escrow/log", nacl.signing.SigningKey(b"\x0b" * 32))
NOW = datetime(2026, 11, 29, tzinfo=UTC)
BATCH = 50_000


def body(i: int) -> bytes:
    return canonical_json(
        {"v": 1, "kind": "bench.event", "time": "2026-11-29T00:00:00Z", "data": {"i": i}, "commitments": {}}
    )


def bulk_load(url: str, size: int) -> None:
    """Writes a valid log of `size` entries directly (the service's per-entry path would take hours)."""
    engine = make_engine(url)
    store = MemoryNodeStore()
    entries, nodes = [], []
    with engine.begin() as connection:
        for i in range(size):
            b = body(i)
            created = nodes_to_store_after_append(i, leaf_hash(b), store)
            for level, index, value in created:
                store._nodes[(level, index)] = value  # noqa: SLF001 - benchmark-only bulk load
                nodes.append({"level": level, "idx": index, "hash": value})
            store._size += 1  # noqa: SLF001
            entries.append({"idx": i, "kind": "bench.event", "body": b, "created_at": NOW})
            if len(entries) >= BATCH:
                connection.execute(insert(LogEntry), entries)
                connection.execute(insert(LogNode), nodes)
                entries, nodes = [], []
        if entries:
            connection.execute(insert(LogEntry), entries)
            connection.execute(insert(LogNode), nodes)
        root = store.root_hash()
        note = sign_note(format_checkpoint(LOG.origin, size, root), LOG.origin, LOG.signing_key)
        connection.execute(
            insert(LogCheckpoint), [{"size": size, "root_hash": root, "note": note, "created_at": NOW}]
        )
        connection.execute(update(LogState).where(LogState.id == 1).values(size=size))
    engine.dispose()


def measure(url: str, size: int, appends: int, proofs: int) -> dict[str, float]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    start = time.perf_counter()
    for i in range(appends):
        with factory() as session:
            append_event(session, LOG, kind="bench.append", data={"i": i}, now=NOW)
            session.commit()
    per_second = appends / (time.perf_counter() - start)
    rng = random.Random(7)
    inclusion, consistency = [], []
    with factory() as session:
        total = transparency.tree_size(session)
        for _ in range(proofs):
            index = rng.randrange(total)
            t0 = time.perf_counter()
            transparency.prove_inclusion(session, index, total)
            inclusion.append(time.perf_counter() - t0)
            first = rng.randrange(1, total)
            t0 = time.perf_counter()
            transparency.prove_consistency(session, first, total)
            consistency.append(time.perf_counter() - t0)
        session.execute(text("SELECT 1"))
    engine.dispose()
    return {
        "appends_per_s": per_second,
        "inclusion_ms": statistics.median(inclusion) * 1000,
        "inclusion_p99_ms": _p99(inclusion) * 1000,
        "consistency_ms": statistics.median(consistency) * 1000,
        "consistency_p99_ms": _p99(consistency) * 1000,
    }


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) >= 2 else samples[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--proofs", type=int, default=300)
    parser.add_argument("--database-url", help="a server URL; each size gets a fresh schema (PostgreSQL)")
    args = parser.parse_args()
    print(
        "| entries | appends/s (each committed, checkpoint signed) "
        "| inclusion proof (ms, median / p99) | consistency proof (ms, median / p99) |"
    )
    print("|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
            upgrade_database(url)
            t0 = time.perf_counter()
            bulk_load(url, size)
            load_s = time.perf_counter() - t0
            result = measure(url, size, args.appends, args.proofs)
            print(
                f"| {size:,} | {result['appends_per_s']:.0f} | {result['inclusion_ms']:.2f} / "
                f"{result['inclusion_p99_ms']:.2f} | {result['consistency_ms']:.2f} / "
                f"{result['consistency_p99_ms']:.2f} |",
                f"  (bulk load {load_s:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
