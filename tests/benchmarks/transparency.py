"""Benchmark of the transparency log (run by `make bench`; figures in docs/benchmarks.md).

For each tree size (default 10^4, 10^5, 10^6) it bulk-loads a log of that size into its own fresh database
(a SQLite file, or `<name>_log_<size>` on the PostgreSQL server given by --database-url), then, in one run:

1. proofs: inclusion- and consistency-proof times through the service, sampled round-robin across the
   sizes (so a busy moment of the machine weighs on every size alike), median and p99; target: p99 at the
   largest size at most 2x the p99 at the smallest (issue 15);
2. appends: per-event appends/s (append_event: each event its own transaction and its own signed
   checkpoint, the path before batching) against the sequencer's events/s over a queue of committed
   events with one checkpoint per batch (issue 15 target: >= 20x), and four concurrent writers' single-event
   transactions/s with queued events against per-event appends (whether writers still serialise on the
   log); every checkpoint signed during the run is then checked against the recomputed tree.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nacl.signing  # noqa: E402
from sqlalchemy import create_engine, insert, make_url, select, text, update  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from escrow.crypto.merkle import MemoryNodeStore, leaf_hash, nodes_to_store_after_append  # noqa: E402
from escrow.crypto.note import (  # noqa: E402
    format_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
)
from escrow.crypto.transcript import canonical_json  # noqa: E402
from escrow.db import make_engine, make_session_factory, upgrade_database  # noqa: E402
from escrow.models import LogCheckpoint, LogEntry, LogNode, LogState  # noqa: E402
from escrow.services import transparency  # noqa: E402
from escrow.services.transparency import LogSigner, append_event, queue_event, sequence_pending  # noqa: E402

LOG = LogSigner("bench.escrow/log", nacl.signing.SigningKey(b"\x0b" * 32))
NOW = datetime(2026, 11, 29, tzinfo=UTC)
BATCH = 50_000


def body(i: int) -> bytes:
    return canonical_json(
        {"v": 1, "kind": "bench.event", "time": "2026-11-29T00:00:00Z", "data": {"i": i}, "commitments": {}}
    )


def bulk_load(url: str, size: int) -> MemoryNodeStore:
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
    return store


def verify_checkpoints(url: str, store: MemoryNodeStore, after: int) -> int:
    """Appends the entries after `after` to `store` and checks every checkpoint signed beyond it against
    the recomputed root. Returns how many it checked; raises AssertionError on a mismatch."""
    engine = make_engine(url)
    verifier = parse_verifier_key(LOG.verifier_key)
    with engine.connect() as connection:
        bodies = connection.execute(
            select(LogEntry.body).where(LogEntry.idx >= after).order_by(LogEntry.idx)
        ).scalars()
        notes = dict(
            connection.execute(
                select(LogCheckpoint.size, LogCheckpoint.note).where(LogCheckpoint.size > after)
            ).all()
        )
        checked = 0
        for size, b in enumerate(bodies, start=after + 1):
            store.append(leaf_hash(b))
            if size in notes:
                signed = parse_checkpoint(open_note(notes[size], verifier))
                assert signed.root_hash == store.root_hash(), f"checkpoint {size} disagrees with the tree"
                checked += 1
    engine.dispose()
    return checked


def per_event_appends(factory: sessionmaker[Session], appends: int) -> float:
    """Appends/s when each event is its own transaction with its own signed checkpoint (append_event:
    the path every event took before issue 15, and the one events cited by index still take)."""
    start = time.perf_counter()
    for i in range(appends):
        with factory() as session:
            append_event(session, LOG, kind="bench.append", data={"i": i}, now=NOW)
            session.commit()
    return appends / (time.perf_counter() - start)


def batched_appends(factory: sessionmaker[Session], events: int, batch_max: int) -> float:
    """Events/s the sequencer integrates with one signed checkpoint per batch of `batch_max`, from a
    queue of `events` committed events (queued 500 to a transaction to fill it quickly)."""
    with factory() as session:
        for i in range(events):
            queue_event(session, kind="bench.queued", data={"i": i}, now=NOW)
            if i % 500 == 499:
                session.commit()
        session.commit()
    start = time.perf_counter()
    integrated = sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=batch_max, wait=True)
    elapsed = time.perf_counter() - start
    assert integrated == events, (integrated, events)
    return events / elapsed


def concurrent_commits(
    factory: sessionmaker[Session], threads: int, per_thread: int, *, queued: bool
) -> float:
    """Single-event transactions/s from `threads` writers at once, each event queued (queue_event) or
    appended with its index (append_event): whether writers still serialise on the log."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with factory() as session:
                    if queued:
                        queue_event(session, kind="bench.concurrent", data={"w": n, "i": i}, now=NOW)
                    else:
                        append_event(session, LOG, kind="bench.concurrent", data={"w": n, "i": i}, now=NOW)
                    session.commit()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=1000, wait=True)
    return threads * per_thread / elapsed


def proof_samples(
    factories: dict[int, sessionmaker[Session]], proofs: int, warmup: int
) -> dict[int, dict[str, list[float]]]:
    """Times inclusion and consistency proofs on every size, interleaved sample by sample so that
    whatever else the machine does weighs on every size alike; `warmup` rounds are not kept."""
    rng = random.Random(7)
    samples: dict[int, dict[str, list[float]]] = {
        size: {"inclusion": [], "consistency": []} for size in factories
    }
    sessions = {size: f() for size, f in factories.items()}
    try:
        totals = {size: transparency.tree_size(s) for size, s in sessions.items()}
        for round_ in range(warmup + proofs):
            for size, session in sessions.items():
                total = totals[size]
                index, first = rng.randrange(total), rng.randrange(1, total)
                t0 = time.perf_counter()
                transparency.prove_inclusion(session, index, total)
                t1 = time.perf_counter()
                transparency.prove_consistency(session, first, total)
                t2 = time.perf_counter()
                if round_ >= warmup:
                    samples[size]["inclusion"].append(t1 - t0)
                    samples[size]["consistency"].append(t2 - t1)
    finally:
        for session in sessions.values():
            session.close()
    return samples


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) >= 2 else samples[0]


def _database_for(server_url: str | None, tmp: str, size: int) -> str:
    """A fresh database for one size: a SQLite file in `tmp`, or `<database>_<size>` on the server."""
    if server_url is None:
        return f"sqlite:///{tmp}/bench-{size}.sqlite3"
    base = make_url(server_url)
    name = f"{base.database or 'bench'}_log_{size}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--appends", type=int, default=300, help="per-event appends timed per size")
    parser.add_argument("--batched", type=int, default=20000, help="queued events integrated per size")
    parser.add_argument("--batch-max", type=int, default=1000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL; each size gets its own fresh database <name>_log_<size>",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        urls, stores = {}, {}
        for size in sizes:
            urls[size] = _database_for(args.database_url, tmp, size)
            upgrade_database(urls[size])
            t0 = time.perf_counter()
            stores[size] = bulk_load(urls[size], size)
            print(f"loaded {size:,} entries in {time.perf_counter() - t0:.0f} s", flush=True)
        engines = {size: make_engine(url) for size, url in urls.items()}
        factories = {size: make_session_factory(e) for size, e in engines.items()}

        samples = proof_samples(factories, args.proofs, args.warmup)
        print()
        print(
            f"Proofs, {args.proofs} samples per size interleaved across sizes ({args.warmup} warm-up rounds):"
        )
        print("| entries | inclusion proof (ms, median / p99) | consistency proof (ms, median / p99) |")
        print("|---:|---:|---:|")
        for size in sizes:
            inc, con = samples[size]["inclusion"], samples[size]["consistency"]
            print(
                f"| {size:,} | {statistics.median(inc) * 1000:.2f} / {_p99(inc) * 1000:.2f} "
                f"| {statistics.median(con) * 1000:.2f} / {_p99(con) * 1000:.2f} |"
            )
        smallest, largest = sizes[0], sizes[-1]
        for kind in ("inclusion", "consistency"):
            ratio = _p99(samples[largest][kind]) / _p99(samples[smallest][kind])
            verdict = "met" if ratio <= 2 else "MISSED"
            print(f"{kind} proof p99 at {largest:,} / at {smallest:,}: {ratio:.2f} (target <= 2: {verdict})")

        print()
        print("Appends (same run, same databases):")
        print(
            "| entries | per event (appends/s) | batched (events/s) | ratio | 4 writers, queued (tx/s) "
            "| 4 writers, per event (tx/s) | checkpoints verified |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            factory = factories[size]
            per_event = per_event_appends(factory, args.appends)
            batched = batched_appends(factory, args.batched, args.batch_max)
            queued_tx = concurrent_commits(factory, 4, args.appends // 4, queued=True)
            per_event_tx = concurrent_commits(factory, 4, args.appends // 4, queued=False)
            checked = verify_checkpoints(urls[size], stores[size], size)
            print(
                f"| {size:,} | {per_event:.0f} | {batched:.0f} | {batched / per_event:.1f}x "
                f"| {queued_tx:.0f} | {per_event_tx:.0f} | {checked} |",
                flush=True,
            )
        for e in engines.values():
            e.dispose()
        print("target: batched >= 20x per event")


if __name__ == "__main__":
    main()
