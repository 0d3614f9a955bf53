"""`escrow audit verify` against a live server: passes on an honest log, names the first bad index
when a stored entry is changed, deleted, swapped or truncated, or the checkpoint key is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text

from escrow.cli.main import cli
from escrow.crypto.note import verifier_key_string
from escrow.httpkit import get_components
from escrow.services.transparency import append_event

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ENTRIES = 12


@pytest.fixture
def server(live_server: tuple[str, Flask]) -> tuple[str, Flask]:
    url, app = live_server
    extension = get_components(app)
    with extension.session_factory() as session:
        for i in range(ENTRIES):
            append_event(session, extension.log, kind="test.event", data={"i": i}, now=NOW)
        session.commit()
    return url, app


def _verify(url: str, state: Path, *extra: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["audit", "verify", "--server", url, "--state", str(state), *extra])


def _sql(app: Flask, statement: str, **params: object) -> None:
    with get_components(app).engine.begin() as connection:
        connection.execute(text(statement), params)


def test_honest_log_verifies_and_a_second_run_checks_append_only(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    first = _verify(url, tmp_path / "state.json")
    assert first.exit_code == 0, first.output
    assert "trusting the log key on first use" in first.output
    assert f"verified at size {ENTRIES}" in first.output
    extension = get_components(app)
    with extension.session_factory() as session:
        append_event(session, extension.log, kind="test.event", data={"i": "new"}, now=NOW)
        session.commit()
    second = _verify(url, tmp_path / "state.json")
    assert second.exit_code == 0, second.output
    assert f"consistent with the saved checkpoint of size {ENTRIES}" in second.output
    assert f"verified at size {ENTRIES + 1}" in second.output


def test_changed_entry_is_named(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    _sql(app, "UPDATE log_entries SET body = :b WHERE idx = 5", b=b'{"forged":true}')
    result = _verify(url, tmp_path / "s.json")
    assert result.exit_code == 1
    assert "FAILED: entry 5 does not match" in result.output


def test_swapped_entries_are_named(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    _sql(app, "UPDATE log_entries SET idx = -1 WHERE idx = 7")
    _sql(app, "UPDATE log_entries SET idx = 7 WHERE idx = 8")
    _sql(app, "UPDATE log_entries SET idx = 8 WHERE idx = -1")
    result = _verify(url, tmp_path / "s.json")
    assert result.exit_code == 1
    assert "FAILED: entry 7 does not match" in result.output


def test_deleted_entry_is_named(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    _sql(app, "DELETE FROM log_entries WHERE idx = 3")
    result = _verify(url, tmp_path / "s.json")
    assert result.exit_code == 1
    assert "FAILED: entry 3 is missing" in result.output


def test_truncation_after_a_saved_checkpoint_is_named(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    state = tmp_path / "s.json"
    first = _verify(url, state)
    assert first.exit_code == 0, first.output
    # A consistent-looking truncation: rows, nodes and checkpoints beyond 9 removed, head rewound.
    _sql(app, "DELETE FROM log_entries WHERE idx >= 9")
    _sql(app, "DELETE FROM log_checkpoints WHERE size > 9")
    _sql(app, "UPDATE log_state SET size = 9")
    result = _verify(url, state)
    assert result.exit_code == 1
    assert (
        f"the log was truncated: a checkpoint for {ENTRIES} entries was signed, the server now has 9"
        in result.output
    )


def test_rewrite_resigned_with_the_log_key_is_caught_by_the_saved_state(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Given an auditor who verified the log once
    url, app = server
    state = tmp_path / "s.json"
    first = _verify(url, state)
    assert first.exit_code == 0, first.output
    # When an insider with the log key rewrites entry 2 and re-signs every checkpoint
    from escrow.crypto.merkle import MemoryNodeStore, leaf_hash
    from escrow.crypto.note import format_checkpoint, sign_note

    extension = get_components(app)
    with extension.engine.begin() as connection:
        connection.execute(text("UPDATE log_entries SET body = :b WHERE idx = 2"), {"b": b'{"rewritten":1}'})
        bodies = [row[0] for row in connection.execute(text("SELECT body FROM log_entries ORDER BY idx"))]
        store = MemoryNodeStore()
        for size, body in enumerate(bodies, start=1):
            store.append(leaf_hash(body))
            note = sign_note(
                format_checkpoint(extension.log.origin, size, store.root_hash()),
                extension.log.origin,
                extension.log.signing_key,
            )
            connection.execute(
                text("UPDATE log_checkpoints SET note = :n WHERE size = :s"), {"n": note, "s": size}
            )
    # Then the second run names the changed entry
    result = _verify(url, state)
    assert result.exit_code == 1
    assert "entry 2 changed" in result.output


def test_wrong_pinned_key_fails_and_unreachable_server_exits_2(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    other = verifier_key_string(
        get_components(app).log.origin, nacl.signing.SigningKey(b"\x09" * 32).verify_key
    )
    result = _verify(url, tmp_path / "s.json", "--key", other)
    assert result.exit_code == 1
    assert "signature or format invalid" in result.output
    down = _verify("http://127.0.0.1:9", tmp_path / "t.json")
    assert down.exit_code == 2
    assert "cannot reach" in down.output


def test_damaged_state_file_is_refused(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, _ = server
    state = tmp_path / "s.json"
    state.write_text(json.dumps({"version": 1}))
    result = _verify(url, state)
    assert result.exit_code == 1
    assert "damaged" in result.output
