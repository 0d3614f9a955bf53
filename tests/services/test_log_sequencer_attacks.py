"""Attacks on the batch sequencer (issue 15 item 4), found in review: a malicious auditor-facing server,
a witness holding a size this log never signed, and a queue backlog beyond what one statement may bind."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import nacl.signing
import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from escrow.client.audit import AuditFailure, audit_log, check_witnessed
from escrow.client.http import HttpClient
from escrow.crypto.merkle import MemoryNodeStore, leaf_hash
from escrow.crypto.note import format_checkpoint, sign_note
from escrow.crypto.transcript import canonical_json
from escrow.db import make_engine, make_session_factory
from escrow.httpkit import get_components
from escrow.models import LogQueued, WitnessAlarm
from escrow.protocol.transparency import EntriesPage, LogEntry
from escrow.protocol.witness import WitnessAnswer, WitnessPolicy
from escrow.services.transparency import LogSigner, append_event, queue_event, sequence_pending
from escrow.services.witnessing import record_answers, witnessed_latest_checkpoint
from tests.services.test_log_sequencer import verify_whole_log
from tests.witness.test_witnessed_log import WitnessedServer, witnessed  # noqa: F401, F811 - the fixture

LOG = LogSigner("escrow.test/log", nacl.signing.SigningKey(b"\x07" * 32))
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def factory(fresh_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(fresh_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _body(i: int) -> bytes:
    return canonical_json(
        {"v": 1, "kind": "test.queued", "time": "2026-12-02T06:00:00Z", "data": {"i": i}, "commitments": {}}
    )


def _signed(bodies: list[bytes]) -> str:
    store = MemoryNodeStore()
    for body in bodies:
        store.append(leaf_hash(body))
    return sign_note(
        format_checkpoint(LOG.origin, len(bodies), store.root_hash()), LOG.origin, LOG.signing_key
    )


class _RewrittenLog:
    """A seized server: it signed a log of 8 entries, now serves entry 5 rewritten, and lists checkpoint
    sizes from a huge negative number upwards, one per page, to keep the auditor paging."""

    def __init__(self) -> None:
        self.signed = [_body(i) for i in range(8)]
        self.served = list(self.signed)
        self.served[5] = _body(500)
        self.list_requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path, args = request.path, request.args
        if path == "/api/v1/log/key":
            response = Response(json.dumps({"verifier_key": LOG.verifier_key}), mimetype="application/json")
        elif path == "/api/v1/log/checkpoint":
            response = Response(_signed(self.signed), mimetype="text/plain")
        elif path == "/api/v1/log/entries":
            start, end = int(args["start"]), int(args["end"])
            rows = tuple(LogEntry(i, self.served[i]) for i in range(start, min(end, len(self.served))))
            response = Response(json.dumps(EntriesPage(8, rows).to_dict()), mimetype="application/json")
        elif path == "/api/v1/log/checkpoints":
            self.list_requests += 1
            after = int(args.get("after", "0"))
            # Bounded here only so the test ends: a real attacker would go on for 10^12 pages.
            sizes = [] if self.list_requests > 200 else [-(10**12)] if after == 0 else [after + 1]
            response = Response(json.dumps({"sizes": sizes}), mimetype="application/json")
        elif path.startswith("/api/v1/log/checkpoints/"):
            size = int(urllib.parse.unquote(path.rsplit("/", 1)[1]))
            if not 0 < size <= 8:
                response = Response(json.dumps({"detail": "no such checkpoint"}), status=404)
            else:
                response = Response(_signed(self.signed[:size]), mimetype="text/plain")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)


def test_a_server_listing_negative_checkpoint_sizes_neither_stalls_nor_crashes_the_audit() -> None:
    # Given a server whose log was rewritten and whose list of checkpoint sizes starts at -10^12
    server_app = _RewrittenLog()
    server = make_server("127.0.0.1", 0, server_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # When the auditor verifies it
        with pytest.raises(AuditFailure) as failure:
            audit_log(HttpClient(f"http://127.0.0.1:{server.server_port}"), state=None)
    finally:
        server.shutdown()
    # Then the audit fails at once, naming a rewrite, after one page of the bad list (not 10^12 pages,
    # and not a crash on a negative size)
    assert server_app.list_requests == 1
    assert "checkpoint sizes" in str(failure.value)


def _two_batches(factory: sessionmaker[Session]) -> None:
    for n in (3, 5):  # checkpoints at sizes 3 and 8, none at 4..7
        with factory() as session:
            for i in range(n):
                queue_event(session, kind="test.queued", data={"i": i}, now=NOW)
            session.commit()
        sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=100)


def _alarms(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session:
        return list(session.scalars(select(WitnessAlarm.size)))


def test_a_witness_holding_a_size_this_log_never_signed_raises_an_alarm(
    factory: sessionmaker[Session],
) -> None:
    # Given a log that signed checkpoints for sizes 3 and 8 only (one per batch)
    _two_batches(factory)
    # When a witness asked about size 3 answers that it holds size 6: a checkpoint of a size this log
    # never signed, so one signed with the log key for someone else (a split view)
    with factory() as session:
        answer = WitnessAnswer("w1", 3, status=409, detail="it holds size 6", held=6)
        record_answers(session, [answer], now=NOW)
        session.commit()
    # Then that is an alarm, not "another worker had it cosigned first"
    assert _alarms(factory) == [3]


def test_a_witness_holding_a_later_checkpoint_of_this_log_is_no_alarm(factory: sessionmaker[Session]) -> None:
    _two_batches(factory)
    with factory() as session:
        record_answers(session, [WitnessAnswer("w1", 3, status=409, detail="holds 8", held=8)], now=NOW)
        session.commit()
    assert _alarms(factory) == []


def test_an_append_after_a_backlog_beyond_the_drivers_parameter_limit_still_integrates(
    factory: sessionmaker[Session],
) -> None:
    # Given more queued events than PostgreSQL lets one statement bind (65,535), e.g. after the
    # sequencers were down for a while, or with ESCROW_LOG_BATCH_MAX above that
    backlog = 70_000
    with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("the bind-parameter limit is PostgreSQL's (SQLite allows 250,000)")
        session.execute(
            insert(LogQueued),
            [{"kind": "test.queued", "body": _body(i), "created_at": NOW} for i in range(backlog)],
        )
        session.commit()
    # When a sequencer integrates it in one batch (ESCROW_LOG_BATCH_MAX allows up to 100,000), and then a
    # step that needs its index appends (behind more than 5,000 queued events it would get a 503 instead)
    sequence_pending(factory, LOG, clock=lambda: NOW, batch_max=100_000, wait=True)
    with factory() as session:
        index = append_event(session, LOG, kind="test.cited", data={"x": 1}, now=NOW)
        session.commit()
    # Then the whole backlog is in the tree, one batch, and the step's event after it
    assert index == backlog
    with factory() as session:
        assert len(verify_whole_log(session)) == backlog + 1


def test_a_batch_committed_while_the_log_asks_its_witnesses_raises_no_false_alarm(
    witnessed: WitnessedServer,  # noqa: F811 - the fixture imported above
) -> None:
    # Given witnesses that cosigned the log at 12 entries, and one more entry since
    components = get_components(witnessed.app)
    witnessed.checkpoint()  # GET /api/v1/log/checkpoint: the witnesses now hold size 12
    witnessed.append()
    # When another worker commits one more entry between the moment the asking worker reads the size
    # and the moment it reads the latest checkpoint (PostgreSQL READ COMMITTED: a new snapshot each)
    sizes_read = 0

    def commit_an_append_after_the_first_size_read(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal sizes_read
        if statement.lstrip().upper().startswith("SELECT LOG_STATE.SIZE"):
            sizes_read += 1
            if sizes_read == 1:
                witnessed.append()

    with components.session_factory() as session:
        connection = session.connection()
        event.listen(connection, "after_cursor_execute", commit_an_append_after_the_first_size_read)
        note = witnessed_latest_checkpoint(session, components.log, components.witnesses, now=NOW)
        event.remove(connection, "after_cursor_execute", commit_an_append_after_the_first_size_read)
    # Then the witnesses were asked with a proof for the checkpoint they were sent: no alarm, and the
    # note served carries cosignatures that verify for it
    with components.session_factory() as session:
        assert list(session.scalars(select(WitnessAlarm.detail))) == []
    check_witnessed(note, WitnessPolicy.parse(witnessed.witnesses.policy("all")), "the latest checkpoint")


def test_the_head_lock_timeout_does_not_outlive_the_append_that_set_it(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("lock_timeout is PostgreSQL's")
        before = session.execute(text("SHOW lock_timeout")).scalar_one()
        append_event(session, LOG, kind="test.cited", data={"x": 1}, now=NOW)
        assert session.execute(text("SHOW lock_timeout")).scalar_one() == before
        session.commit()


def test_a_revocation_queued_after_its_issuance_is_never_integrated_before_it(
    factory: sessionmaker[Session],
) -> None:
    # Given an issuance committed, then its revocation, both still queued, and a step citing its index
    # whose own transaction queued an event earlier
    for kind in ("credential.issued", "credential.revoked"):
        with factory() as session:
            queue_event(session, kind=kind, data={"c": 1}, now=NOW)
            session.commit()
    with factory() as session:
        queue_event(session, kind="test.earlier", data={}, now=NOW)
        append_event(session, LOG, kind="test.cited", data={}, now=NOW)
        session.commit()
    with factory() as session:
        kinds = [json.loads(b)["kind"] for b in verify_whole_log(session)]
    assert kinds == ["credential.issued", "credential.revoked", "test.earlier", "test.cited"]
