"""The public log API over HTTP: checkpoints, entries, proofs, the report; bad input -> problems."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient

from escrow.crypto.merkle import leaf_hash, verify_consistency, verify_inclusion, verify_range
from escrow.crypto.note import open_note, parse_checkpoint, parse_verifier_key
from escrow.crypto.transcript import b64u_decode
from escrow.httpkit import get_components
from escrow.services.transparency import append_event

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _append(app: Flask, n: int, kind: str = "test.event") -> None:
    extension = get_components(app)
    with extension.session_factory() as session:
        for i in range(n):
            append_event(session, extension.log, kind=kind, data={"i": i}, now=NOW)
        session.commit()


def test_checkpoint_is_a_signed_note_verifiable_with_the_published_key(
    app: Flask, client: FlaskClient
) -> None:
    _append(app, 3)
    key = client.get("/api/v1/log/key").get_json()
    response = client.get("/api/v1/log/checkpoint")
    assert response.mimetype == "text/plain"
    checkpoint = parse_checkpoint(
        open_note(response.get_data(as_text=True), parse_verifier_key(key["verifier_key"]))
    )
    assert checkpoint.origin == key["origin"]
    assert checkpoint.size == 3


def test_entries_and_proofs_verify_against_the_checkpoint(app: Flask, client: FlaskClient) -> None:
    _append(app, 6)
    verifier = parse_verifier_key(client.get("/api/v1/log/key").get_json()["verifier_key"])
    root = parse_checkpoint(
        open_note(client.get("/api/v1/log/checkpoint").get_data(as_text=True), verifier)
    ).root_hash
    page = client.get("/api/v1/log/entries?start=0&end=6").get_json()
    assert page["tree_size"] == 6
    assert [e["event"]["data"]["i"] for e in page["entries"]] == list(range(6))
    for entry in page["entries"]:
        proof = client.get(f"/api/v1/log/proof/inclusion?index={entry['index']}&size=6").get_json()["proof"]
        verify_inclusion(
            leaf_hash(b64u_decode(entry["body"])), entry["index"], 6, [b64u_decode(h) for h in proof], root
        )
    old = parse_checkpoint(
        open_note(client.get("/api/v1/log/checkpoints/4").get_data(as_text=True), verifier)
    )
    proof = client.get("/api/v1/log/proof/consistency?first=4&second=6").get_json()["proof"]
    verify_consistency(4, 6, old.root_hash, root, [b64u_decode(h) for h in proof])
    # a run of entries is proven whole by a range proof (issue 6: the holder tool's key history)
    run = [leaf_hash(b64u_decode(e["body"])) for e in page["entries"][1:5]]
    answer = client.get("/api/v1/log/proof/range?start=1&end=5&size=6").get_json()
    assert (answer["start"], answer["end"], answer["tree_size"]) == (1, 5, 6)
    verify_range(1, run, 6, [b64u_decode(h) for h in answer["proof"]], root)


def test_bad_parameters_are_problems_not_errors(app: Flask, client: FlaskClient) -> None:
    _append(app, 2)
    for path, status in [
        ("/api/v1/log/entries", 422),
        ("/api/v1/log/entries?start=0&end=x", 422),
        ("/api/v1/log/entries?start=-1&end=1", 422),
        ("/api/v1/log/entries?start=0&end=99", 422),
        ("/api/v1/log/proof/inclusion?index=2&size=2", 422),
        ("/api/v1/log/proof/inclusion?index=0&size=0", 422),
        ("/api/v1/log/proof/consistency?first=2&second=1", 422),
        ("/api/v1/log/proof/range?start=1&end=1&size=2", 422),
        ("/api/v1/log/proof/range?start=0&end=3&size=2", 422),
        ("/api/v1/log/proof/range?start=0&end=1&size=9", 422),
        ("/api/v1/log/proof/range?start=0&end=1", 422),
        ("/api/v1/log/checkpoints/99", 404),
        ("/api/v1/log/entries?start=0&end=99999999999999999999999", 422),
    ]:
        response = client.get(path)
        assert response.status_code == status, path
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"]


def test_report_counts_events_per_quarter_and_lists_holders(app: Flask, client: FlaskClient) -> None:
    extension = get_components(app)
    with extension.session_factory() as session:
        append_event(
            session, extension.log, kind="person.registered", data={}, now=datetime(2026, 2, 1, tzinfo=UTC)
        )
        append_event(
            session, extension.log, kind="person.registered", data={}, now=datetime(2026, 11, 1, tzinfo=UTC)
        )
        append_event(
            session,
            extension.log,
            kind="disclosure.submitted",
            data={"court": "Court A"},
            now=datetime(2026, 11, 2, tzinfo=UTC),
        )
        append_event(
            session,
            extension.log,
            kind="keyholder.enrolled",
            data={"name": "Hana", "organisation": "Univ"},
            now=NOW,
        )
        session.commit()
    report = client.get("/api/v1/transparency/report").get_json()
    assert report["quarters"] == ["2026-Q1", "2026-Q4"]
    assert report["counts"]["registrations"] == {"2026-Q1": 1, "2026-Q4": 1}
    assert report["counts"]["requests_submitted"] == {"2026-Q1": 0, "2026-Q4": 1}
    assert report["by_court"] == {"Court A": {"requests_submitted": 1}}
    assert report["keyholders"] == [{"name": "Hana", "organisation": "Univ"}]
    page = client.get("/transparency").get_data(as_text=True)
    assert "<svg" in page
    assert "2026-Q4" in page
    assert "Hana" in page
    assert "Court A" in page


def test_empty_report_page_renders(client: FlaskClient) -> None:
    response = client.get("/transparency")
    assert response.status_code == 200
    assert "Nothing has been recorded yet" in response.get_data(as_text=True)
