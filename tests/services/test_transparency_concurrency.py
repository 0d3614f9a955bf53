"""Concurrent appends from many sessions yield a gap-free, correctly ordered, verifiable log."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import nacl.signing
from sqlalchemy import select

from escrow.crypto.merkle import MemoryNodeStore, leaf_hash
from escrow.crypto.note import open_note, parse_checkpoint, parse_verifier_key
from escrow.db import make_engine, make_session_factory
from escrow.models import LogCheckpoint, LogEntry
from escrow.services import transparency
from escrow.services.transparency import LogSigner, append_event

LOG = LogSigner("escrow.test/log", nacl.signing.SigningKey(b"\x05" * 32))
THREADS, PER_THREAD = 8, 10


def test_concurrent_appends_are_gap_free_and_every_checkpoint_matches(fresh_database_url: str) -> None:
    # Given eight writers, each appending in its own transactions
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(PER_THREAD):
                with factory() as session:
                    append_event(
                        session,
                        LOG,
                        kind="test.concurrent",
                        data={"writer": n, "i": i},
                        now=datetime.now(UTC),
                    )
                    session.commit()
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    # When they all run at once
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then every index 0..N-1 exists once, and each signed checkpoint matches the recomputed prefix
    assert errors == []
    total = THREADS * PER_THREAD
    with factory() as session:
        assert transparency.tree_size(session) == total
        indices = session.execute(select(LogEntry.idx).order_by(LogEntry.idx)).scalars().all()
        assert indices == list(range(total))
        bodies = session.execute(select(LogEntry.body).order_by(LogEntry.idx)).scalars().all()
        checkpoints = {c.size: c.note for c in session.execute(select(LogCheckpoint)).scalars()}
    store = MemoryNodeStore()
    verifier = parse_verifier_key(LOG.verifier_key)
    for size, body in enumerate(bodies, start=1):
        store.append(leaf_hash(body))
        assert parse_checkpoint(open_note(checkpoints[size], verifier)).root_hash == store.root_hash()
    per_writer: dict[int, list[int]] = {}
    for body in bodies:
        data = json.loads(body)["data"]
        per_writer.setdefault(data["writer"], []).append(data["i"])
    assert all(seq == list(range(PER_THREAD)) for seq in per_writer.values())
    engine.dispose()
