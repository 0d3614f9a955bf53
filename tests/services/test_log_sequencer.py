"""Sequencing the log in batches (issue 15 item 4): queued in the change's transaction, integrated by
the sequencer with one checkpoint per batch, one sequencer at a time, nothing lost or doubled."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import nacl.signing
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from escrow.config import Settings
from escrow.crypto.merkle import MemoryNodeStore, leaf_hash
from escrow.crypto.note import open_note, parse_checkpoint, parse_verifier_key
from escrow.crypto.transcript import b64u_decode
from escrow.db import is_database_fault, make_engine, make_session_factory
from escrow.errors import ServiceUnavailableError, ValidationError
from escrow.keystore import load_keyring
from escrow.models import LogCheckpoint, LogCommitmentOpening, LogEntry
from escrow.services import transparency
from escrow.services.transparency import (
    LogSigner,
    append_event,
    commitment,
    integrate,
    queue_event,
    queued_count,
    sequence_pending,
)

LOG = LogSigner("escrow.test/log", nacl.signing.SigningKey(b"\x07" * 32))
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def factory(fresh_database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(fresh_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _queue(factory: sessionmaker[Session], n: int, *, tag: str = "q") -> None:
    with factory() as session:
        for i in range(n):
            queue_event(session, kind="test.queued", data={"tag": tag, "i": i}, now=NOW)
        session.commit()


def verify_whole_log(session: Session) -> list[bytes]:
    """Checks the log as an auditor would: indices 0..n-1 once each, every signed checkpoint equal to the
    recomputed root of its prefix, and the latest at the head. Returns the entries' bodies."""
    indices = session.execute(select(LogEntry.idx).order_by(LogEntry.idx)).scalars().all()
    size = transparency.tree_size(session)
    assert indices == list(range(size))
    bodies = list(session.execute(select(LogEntry.body).order_by(LogEntry.idx)).scalars())
    checkpoints = {c.size: c.note for c in session.execute(select(LogCheckpoint)).scalars()}
    verifier = parse_verifier_key(LOG.verifier_key)
    store = MemoryNodeStore()
    for n, body in enumerate(bodies, start=1):
        store.append(leaf_hash(body))
        if n in checkpoints:
            assert parse_checkpoint(open_note(checkpoints[n], verifier)).root_hash == store.root_hash(), n
    assert max(checkpoints, default=0) == size
    return bodies


def test_a_queued_event_is_not_in_the_tree_until_the_sequencer_integrates_it(factory) -> None:  # type: ignore[no-untyped-def]
    # Given three committed queued events
    _queue(factory, 3)
    with factory() as session:
        assert transparency.tree_size(session) == 0
        assert queued_count(session) == 3
        # When the sequencer runs once
        batch = integrate(session, LOG, now=NOW)
        session.commit()
    # Then they are entries 0..2 in queue order, under one new checkpoint, and the queue is empty
    assert batch is not None
    assert (batch.start, batch.size, batch.count) == (0, 3, 3)
    with factory() as session:
        bodies = verify_whole_log(session)
        assert [json.loads(b)["data"]["i"] for b in bodies] == [0, 1, 2]
        assert session.execute(select(LogCheckpoint.size)).scalars().all() == [3]
        assert queued_count(session) == 0


def test_a_rolled_back_change_leaves_nothing_queued(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        queue_event(session, kind="test.queued", data={"i": 1}, now=NOW)
        session.rollback()
    with factory() as session:
        assert queued_count(session) == 0
        assert integrate(session, LOG, now=NOW) == transparency.IntegratedBatch(0, 0)


def test_the_sequencer_signs_one_checkpoint_per_batch_of_at_most_batch_max(factory) -> None:  # type: ignore[no-untyped-def]
    _queue(factory, 25)
    count = sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=10)
    assert count == 25
    with factory() as session:
        verify_whole_log(session)
        assert session.execute(select(LogCheckpoint.size).order_by(LogCheckpoint.size)).scalars().all() == [
            10,
            20,
            25,
        ]


def test_an_append_that_needs_its_index_goes_after_the_queue_with_its_own_checkpoint(factory) -> None:  # type: ignore[no-untyped-def]
    _queue(factory, 4)
    with factory() as session:
        index = append_event(session, LOG, kind="test.cited", data={"x": 1}, now=NOW)
        session.commit()
    assert index == 4
    with factory() as session:
        bodies = verify_whole_log(session)
        assert json.loads(bodies[4])["kind"] == "test.cited"
        assert transparency.checkpoint_at(session, index + 1)


def test_commitment_openings_follow_the_event_into_the_tree(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        queue_event(session, kind="test.secret", data={}, sensitive={"case": "2026-CV-17"}, now=NOW)
        session.commit()
    sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=100)
    with factory() as session:
        (body,) = verify_whole_log(session)
        opening = session.execute(select(LogCommitmentOpening)).scalar_one()
        assert (opening.entry_idx, opening.name, opening.value) == (0, "case", "2026-CV-17")
        published = b64u_decode(json.loads(body)["commitments"]["case"])
        assert published == commitment(opening.salt, "2026-CV-17")


def test_a_malformed_event_is_refused_before_it_is_queued(factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session:
        with pytest.raises(ValidationError):
            queue_event(session, kind="Not A Kind", data={}, now=NOW)
        with pytest.raises(ValidationError):
            queue_event(session, kind="test.float", data={"x": 1.5}, now=NOW)
        assert queued_count(session) == 0


def test_concurrent_producers_and_sequencers_integrate_every_event_exactly_once(factory) -> None:  # type: ignore[no-untyped-def]
    # Given four producers queueing (each event its own transaction) and three sequencers at once,
    # and one producer needing indices (append_event) among them
    producers, per_producer = 4, 25
    errors: list[BaseException] = []
    done = threading.Event()
    start = threading.Barrier(producers + 4)

    def produce(n: int) -> None:
        try:
            start.wait()
            for i in range(per_producer):
                with factory() as session:
                    queue_event(session, kind="test.produced", data={"p": n, "i": i}, now=NOW)
                    session.commit()
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    def cite() -> None:
        try:
            start.wait()
            for i in range(5):
                with factory() as session:
                    append_event(session, LOG, kind="test.cited", data={"i": i}, now=NOW)
                    session.commit()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def sequence() -> None:
        try:
            start.wait()
            while not done.is_set():
                sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=7)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    workers = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    workers.append(threading.Thread(target=cite))
    sequencers = [threading.Thread(target=sequence) for _ in range(3)]
    for t in workers + sequencers:
        t.start()
    for t in workers:
        t.join()
    done.set()
    for t in sequencers:
        t.join()
    sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=1000, wait=True)

    # Then every event is in the tree once, each producer's events in its own order, every checkpoint
    # agrees with the tree, and nothing is left in the queue
    assert errors == []
    with factory() as session:
        bodies = verify_whole_log(session)
        assert queued_count(session) == 0
    assert len(bodies) == producers * per_producer + 5
    per_producer_seen: dict[int, list[int]] = {}
    for body in bodies:
        record = json.loads(body)
        if record["kind"] == "test.produced":
            per_producer_seen.setdefault(record["data"]["p"], []).append(record["data"]["i"])
    assert all(seen == list(range(per_producer)) for seen in per_producer_seen.values())


def test_a_sequencer_killed_with_sigkill_at_any_point_leaves_no_gap_duplicate_or_bad_checkpoint(
    fresh_database_url: str, tmp_path: Path
) -> None:
    # Given an instance, and producers queueing events all along
    env = {
        **os.environ,
        "ESCROW_INSTANCE_PATH": str(tmp_path / "instance"),
        "ESCROW_KEYS_DIR": str(tmp_path / "keys"),
        "ESCROW_DATABASE_URL": fresh_database_url,
        "ESCROW_DEV_MODE": "1",
        "ESCROW_LOG_BATCH_MS": "1",
        "ESCROW_LOG_BATCH_MAX": "40",
    }
    env.pop("ESCROW_SECRET_KEY", None)
    command = [sys.executable, "-m", "escrow", "log", "sequence"]
    subprocess.run([*command, "--once"], env=env, check=True, capture_output=True)  # noqa: S603
    log = LogSigner(
        Settings.from_env(env).log_origin,
        nacl.signing.SigningKey(load_keyring(Settings.from_env(env)).log_signing_seed),
    )
    engine = make_engine(fresh_database_url)
    factory = make_session_factory(engine)
    produced = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def produce() -> None:
        nonlocal produced
        try:
            while not stop.is_set():
                with factory() as session:
                    for _ in range(random.randint(1, 5)):
                        queue_event(session, kind="test.produced", data={"n": produced}, now=NOW)
                        produced += 1
                    session.commit()
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    producer = threading.Thread(target=produce)
    producer.start()
    sizes = []
    try:
        # When a real `escrow log sequence` process is killed with SIGKILL six times, each time at a
        # random moment after it started integrating
        for _ in range(6):
            with factory() as session:
                before = transparency.tree_size(session)
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None:
                with factory() as session:
                    if transparency.tree_size(session) > before:
                        break
                time.sleep(0.01)
            time.sleep(random.uniform(0, 0.15))
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL, (
                process.stderr.read() if process.stderr else ""
            )
            with factory() as session:
                sizes.append(transparency.tree_size(session))
    finally:
        stop.set()
        producer.join()
    # and a last sequencer drains the queue
    subprocess.run([*command, "--once"], env=env, check=True, capture_output=True)  # noqa: S603

    # Then the log holds every produced event exactly once, in order, and every checkpoint agrees
    assert errors == []
    assert sizes == sorted(sizes)
    assert sizes[0] > 0
    with factory() as session:
        indices = session.execute(select(LogEntry.idx).order_by(LogEntry.idx)).scalars().all()
        bodies = list(session.execute(select(LogEntry.body).order_by(LogEntry.idx)).scalars())
        checkpoints = {c.size: c.note for c in session.execute(select(LogCheckpoint)).scalars()}
        assert queued_count(session) == 0
    engine.dispose()
    assert indices == list(range(produced))
    assert [json.loads(b)["data"]["n"] for b in bodies] == list(range(produced))
    verifier = parse_verifier_key(log.verifier_key)
    store = MemoryNodeStore()
    for n, body in enumerate(bodies, start=1):
        store.append(leaf_hash(body))
        if n in checkpoints:
            assert parse_checkpoint(open_note(checkpoints[n], verifier)).root_hash == store.root_hash(), n
    assert max(checkpoints) == produced


def test_an_append_that_needs_its_index_waits_boundedly_then_answers_503_while_the_head_is_held(
    factory,  # type: ignore[no-untyped-def]
) -> None:
    # Given a sequencer holding the log head in a transaction that does not end
    holder = factory()
    integrate(holder, LOG, now=NOW)
    try:
        with factory() as session:
            started = time.monotonic()
            # When a step that needs its entry's index appends meanwhile
            with pytest.raises(Exception) as raised:  # noqa: PT011 - the type depends on the engine, checked below
                append_event(session, LOG, kind="test.cited", data={}, now=NOW)
            waited = time.monotonic() - started
            session.rollback()
    finally:
        holder.rollback()
        holder.close()
    # Then it waited a bounded time and failed as "try again" (a 503 with Retry-After over HTTP), not as a bug
    error = raised.value
    assert waited < 30
    if isinstance(error, ServiceUnavailableError):  # PostgreSQL: lock_timeout
        assert error.retry_after_s == 1
        assert waited >= transparency.LOG_LOCK_TIMEOUT_MS / 1000
    else:  # SQLite: the busy timeout, a database fault the HTTP layer answers with 503
        assert is_database_fault(error), repr(error)
    with factory() as session:
        assert queued_count(session) == 0
        assert transparency.tree_size(session) == 0


def test_an_append_behind_a_backlog_too_large_to_integrate_in_a_request_answers_503_and_changes_nothing(
    factory,  # type: ignore[no-untyped-def]
) -> None:
    # Given more queued events than a request may integrate (the sequencers were down)
    with factory() as session:
        for i in range(transparency.APPEND_BACKLOG_MAX + 1):
            queue_event(session, kind="test.backlog", data={"i": i}, now=NOW)
        session.commit()
    # When a step that needs its entry's index appends
    with factory() as session:
        with pytest.raises(ServiceUnavailableError) as raised:
            append_event(session, LOG, kind="test.cited", data={}, now=NOW)
        session.rollback()
    # Then it is told to retry, nothing was integrated, and once the sequencer drained the queue it works
    assert raised.value.retry_after_s == 1
    with factory() as session:
        assert transparency.tree_size(session) == 0
    sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=1000, wait=True)
    with factory() as session:
        assert (
            append_event(session, LOG, kind="test.cited", data={}, now=NOW)
            == transparency.APPEND_BACKLOG_MAX + 1
        )
        session.commit()
        verify_whole_log(session)
