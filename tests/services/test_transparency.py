"""The transparency log service: appends in the caller's transaction, signed checkpoints, proofs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from escrow.crypto.note import open_note, parse_checkpoint, parse_verifier_key
from escrow.errors import NotFoundError, ValidationError
from escrow.models import LogCommitmentOpening, LogEntry
from escrow.services import transparency
from escrow.services.transparency import LogSigner, append_event, commitment

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LOG = LogSigner("escrow.test/log", nacl.signing.SigningKey(b"\x07" * 32))


def _checkpoint(session: Session) -> tuple[int, bytes]:
    body = open_note(transparency.latest_checkpoint(session, LOG), parse_verifier_key(LOG.verifier_key))
    checkpoint = parse_checkpoint(body)
    assert checkpoint.origin == LOG.origin
    return checkpoint.size, checkpoint.root_hash


def test_empty_log_has_a_signed_checkpoint_of_the_empty_tree(db_session: Session) -> None:
    assert _checkpoint(db_session) == (0, EMPTY_ROOT)


def test_appended_events_are_canonical_entries_with_verifiable_proofs(db_session: Session) -> None:
    # Given
    for n in range(5):
        append_event(db_session, LOG, kind="test.event", data={"n": n}, now=NOW)

    # When
    size, root = _checkpoint(db_session)
    entries = transparency.entries(db_session, 0, size)

    # Then
    assert size == 5
    assert [json.loads(e.body)["data"] for e in entries] == [{"n": n} for n in range(5)]
    assert json.loads(entries[0].body) == {
        "v": 1,
        "kind": "test.event",
        "time": "2026-11-29T12:00:00Z",
        "data": {"n": 0},
        "commitments": {},
    }
    for entry in entries:
        verify_inclusion(
            entry.leaf_hash,
            entry.index,
            size,
            transparency.prove_inclusion(db_session, entry.index, size),
            root,
        )
    old_root = parse_checkpoint(
        open_note(transparency.checkpoint_at(db_session, 3), parse_verifier_key(LOG.verifier_key))
    ).root_hash
    verify_consistency(3, 5, old_root, root, transparency.prove_consistency(db_session, 3, 5))


def test_sensitive_values_appear_only_as_salted_commitments(db_session: Session) -> None:
    index = append_event(
        db_session,
        LOG,
        kind="credential.issued",
        data={"platform": "forum"},
        sensitive={"pseudonym": "abc123"},
        now=NOW,
    )
    entry = db_session.get(LogEntry, index)
    assert entry is not None
    assert b"abc123" not in entry.body
    opening = db_session.execute(
        select(LogCommitmentOpening).where(LogCommitmentOpening.entry_idx == index)
    ).scalar_one()
    published = json.loads(entry.body)["commitments"]["pseudonym"]
    from escrow.crypto.transcript import b64u_encode

    assert published == b64u_encode(commitment(opening.salt, "abc123"))
    assert published != b64u_encode(commitment(b"\x00" * 16, "abc123"))


def test_event_in_a_rolled_back_transaction_leaves_no_entry(db_session: Session) -> None:
    append_event(db_session, LOG, kind="test.kept", data={}, now=NOW)
    db_session.commit()
    nested = db_session.begin_nested()
    append_event(db_session, LOG, kind="test.dropped", data={}, now=NOW)
    nested.rollback()
    assert transparency.tree_size(db_session) == 1
    assert _checkpoint(db_session)[0] == 1
    assert transparency.count_events(db_session) == {"test.kept": 1}


@pytest.mark.parametrize("kind", ["", "nodot", "Upper.case", "a..b", "a.b-c", "x" * 70 + ".y"])
def test_malformed_kinds_are_refused(db_session: Session, kind: str) -> None:
    with pytest.raises(ValidationError):
        append_event(db_session, LOG, kind=kind, data={}, now=NOW)


def test_data_that_is_not_canonical_json_is_refused(db_session: Session) -> None:
    with pytest.raises(ValidationError):
        append_event(db_session, LOG, kind="test.event", data={"x": 1.5}, now=NOW)


def test_bad_ranges_are_validation_errors(db_session: Session) -> None:
    append_event(db_session, LOG, kind="test.event", data={}, now=NOW)
    with pytest.raises(ValidationError):
        transparency.entries(db_session, 0, 2)
    with pytest.raises(ValidationError):
        transparency.entries(db_session, 1, 0)
    with pytest.raises(ValidationError):
        transparency.prove_inclusion(db_session, 1, 1)
    with pytest.raises(ValidationError):
        transparency.prove_consistency(db_session, 1, 0)
    with pytest.raises(NotFoundError):
        transparency.checkpoint_at(db_session, 7)


@given(st.integers(min_value=1, max_value=40))
@settings(max_examples=8, deadline=None)
def test_every_inclusion_proof_verifies_against_the_signed_root(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        for i in range(n):
            append_event(session, LOG, kind="test.event", data={"i": i}, now=NOW)
        size, root = _checkpoint(session)
        assert size == n
        for entry in transparency.entries(session, 0, n):
            proof = transparency.prove_inclusion(session, entry.index, n)
            verify_inclusion(leaf_hash(entry.body), entry.index, n, proof, root)
        session.close()
        outer.rollback()
