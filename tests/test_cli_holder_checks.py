"""The key-holder's tool against a compromised server (issue 6): officer keys from the log, the court
signature re-verified, and the log checked for consistency with what the holder saw before.

A live server on loopback, the real `escrow keyholder ...` commands and holder client; the "compromise"
is done the way an insider would: by changing the server's database (and re-signing with its log key).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select, text

from escrow.cli.main import cli
from escrow.client.audit import AuditState
from escrow.client.disclosure import check_package, establish_checkpoint, officer_sign, officer_summary
from escrow.client.holder import HolderClient, HolderClientError, UrllibTransport
from escrow.client.http import HttpClient
from escrow.crypto.disclosure import (
    new_officer_secrets,
    sign_court_order,
)
from escrow.crypto.holderfile import encrypt_holder_file
from escrow.crypto.merkle import MemoryNodeStore, leaf_hash, nodes_to_store_after_append
from escrow.crypto.note import format_checkpoint, parse_checkpoint, sign_note
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.httpkit import get_components
from escrow.models import DisclosureRequest, OfficerKey, OrderDocument, StaffAccount
from escrow.services.staff import StaffView, disable_staff
from escrow.services.transparency import append_event
from tests.disclosure_support import PDF, World, build_world

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def world_url(live_server: tuple[str, Flask]) -> tuple[World, str]:
    url, app = live_server
    return build_world(app), url


@pytest.fixture
def holder_file(tmp_path: Path, world_url: tuple[World, str]) -> Path:
    world, _ = world_url
    path = tmp_path / "holder-1.escrow"
    path.write_bytes(
        encrypt_holder_file(
            world.holders[0].secrets,
            PASSPHRASE,
            opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        )
    )
    path.chmod(0o600)
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    return path


def _run(command: str, url: str, holder_file: Path, *extra: str) -> Any:
    args = ["--server", url, "--holder-file", str(holder_file)]
    args += ["--passphrase-file", str(holder_file.parent / "passphrase")]
    return CliRunner().invoke(cli, ["keyholder", command, *extra, *args])


def _approve(url: str, holder_file: Path, request_id: int, *extra: str) -> Any:
    return _run("approve", url, holder_file, str(request_id), "--yes", *extra)


def _state(holder_file: Path) -> AuditState:
    return AuditState.from_json(holder_file.with_name(holder_file.name + ".log-state.json").read_text())


def _package(world: World, url: str, request_id: int) -> dict[str, Any]:
    secrets = world.holders[0].secrets
    client = HolderClient(UrllibTransport(url), secrets.signing_seed)
    return dict(client.request("GET", f"/api/v1/holder/disclosures/{request_id}"))


def _officer_view(app: Flask, username: str) -> StaffView:
    with get_components(app).session_factory() as session:
        staff = session.scalars(select(StaffAccount).where(StaffAccount.username == username)).one()
        return StaffView(
            staff.id, staff.username, staff.display_name, staff.organisation, frozenset({"admin"})
        )


# --- 1. officer keys from the log ---------------------------------------------------------------


def test_officer_key_substituted_on_the_server_is_refused_naming_the_officer(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    # Given an insider who swaps bob's registered key for their own in the database (not in the log)
    attacker = new_officer_secrets("bob")
    with get_components(world.app).session_factory() as session:
        staff = session.scalars(select(StaffAccount).where(StaffAccount.username == "bob")).one()
        row = session.get(OfficerKey, staff.id)
        assert row is not None
        row.public_key = attacker.public_key
        session.commit()
    # and co-signs alice's request as bob with the attacker key (the server accepts it)
    request_id = world.draft().get_json()["id"]
    world.sign(request_id, "alice", "submit")
    _, digest, _ = officer_summary(world.document(request_id))
    officer_sign(UrllibTransport(url), attacker, request_id, digest, "cosign")

    # When a holder runs the tool
    result = _approve(url, holder_file, request_id)

    # Then it refuses, naming bob
    assert result.exit_code == 1, result.output
    assert "officer 'bob'" in result.output
    assert "refusing" in result.output
    assert "Traceback" not in result.output
    # and a server that also serves the attacker key (not the logged one) is refused as a substitution
    package = _package(world, url, request_id)
    for officer in package["officers"]:
        if officer["username"] == "bob":
            officer["public_key"] = b64u_encode(attacker.public_key)
    log, _, _ = establish_checkpoint(HttpClient(url).get_bytes)
    with pytest.raises(HolderClientError, match="officer 'bob': the server serves key .* substituted"):
        check_package(package, log, world.roster())


def test_replaced_officer_key_the_latest_before_the_signature_wins(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    package = _package(world, url, request_id)
    bob = next(o for o in package["officers"] if o["username"] == "bob")
    old_key_index = bob["key_log_index"]
    # Given bob replaces his key after co-signing (an honest rotation, logged)
    new_bob = new_officer_secrets("bob")
    world.certify("bob", new_bob)
    # Then the request he signed before still checks with the key in force when he signed
    log, _, _ = establish_checkpoint(HttpClient(url).get_bytes)
    checked = check_package(_package(world, url, request_id), log, world.roster())
    assert any(f"registered in log entry {old_key_index}" in line for line in checked.summary)

    # When a later request is co-signed by bob with his new key
    second = world.draft().get_json()["id"]
    world.sign(second, "alice", "submit")
    world.officers["bob"] = new_bob
    world.sign(second, "bob", "cosign")
    # and a server points the tool at bob's old key registration (and serves the old key)
    forged = _package(world, url, second)
    for officer in forged["officers"]:
        if officer["username"] == "bob":
            officer["key_log_index"] = old_key_index
            officer["public_key"] = b64u_encode(_served_key(package, "bob"))
    log, _, _ = establish_checkpoint(HttpClient(url).get_bytes)

    # Then the tool finds the newer registration in between and refuses
    with pytest.raises(HolderClientError, match="officer 'bob': the log records a newer key"):
        check_package(forged, log, world.roster())
    # while the honest answer passes
    assert check_package(_package(world, url, second), log, world.roster()).request_id == second


def _served_key(package: dict[str, Any], username: str) -> bytes:
    return b64u_decode(next(o for o in package["officers"] if o["username"] == username)["public_key"])


def test_officer_removed_in_the_log_but_reenabled_in_the_database_is_refused(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    # Given bob was removed (logged), and an insider quietly re-enables him in the database
    extension = get_components(world.app)
    with extension.session_factory() as session:
        disable_staff(session, extension.log, username="bob", now=world.now())
        staff = session.scalars(select(StaffAccount).where(StaffAccount.username == "bob")).one()
        staff.is_active = True
        session.commit()
    request_id = world.cosigned_request()

    result = _approve(url, holder_file, request_id)

    assert result.exit_code == 1, result.output
    assert "officer 'bob': the log records that this officer was removed before signing" in result.output


# --- 2. the court signature re-verified -----------------------------------------------------------


def test_court_verdict_lie_is_refused(world_url: tuple[World, str], holder_file: Path) -> None:
    world, url = world_url
    # Given a draft with a valid court signature (the service refuses any other for this court)
    request_id = world.draft().get_json()["id"]
    # and a compromised server that swaps in a signature over another document while keeping the
    # verdict "verified" in the body the officers sign (they read the body the server shows them)
    bad = sign_court_order(world.court_seed, PDF + b"another order")
    with get_components(world.app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        assert json.loads(row.body)["court_signature"] == "verified"
        row.court_signature = bad
        session.commit()
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")

    # When a holder runs the tool
    result = _approve(url, holder_file, request_id)

    # Then it computes its own verdict and refuses loudly
    assert result.exit_code == 1, result.output
    assert "COURT SIGNATURE VERDICT MISMATCH" in result.output
    assert "'verified'" in result.output
    assert "'signature-invalid'" in result.output


def test_swapped_order_document_is_refused(world_url: tuple[World, str], holder_file: Path) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    with get_components(world.app).session_factory() as session:
        document = session.scalars(select(OrderDocument)).one()
        document.content = PDF + b"% an order for someone else\n"
        session.commit()

    result = _approve(url, holder_file, request_id)

    assert result.exit_code == 1, result.output
    assert "does not hash to the SHA-256 the officers signed" in result.output


def test_honest_court_signature_is_verified_by_the_tool_itself(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    log, _, _ = establish_checkpoint(HttpClient(url).get_bytes)
    checked = check_package(_package(world, url, request_id), log, world.roster())
    line = next(line for line in checked.summary if line.startswith("court signature on the order"))
    assert "verified (checked here with the court key of roster version 1" in line


# --- 3. consistency with what the holder saw before ----------------------------------------------


def _rewrite_log(app: Flask, *, entry: int, keep: int | None = None) -> None:
    """An insider with the log key rewrites entry `entry` (or truncates to `keep` entries) and rebuilds
    the stored tree and every checkpoint, re-signed, so the server's own proofs are self-consistent."""
    extension = get_components(app)
    with extension.engine.begin() as connection:
        if keep is not None:
            connection.execute(text("DELETE FROM log_entries WHERE idx >= :k"), {"k": keep})
            connection.execute(text("DELETE FROM log_checkpoints WHERE size > :k"), {"k": keep})
            connection.execute(text("UPDATE log_state SET size = :k"), {"k": keep})
        else:
            connection.execute(
                text("UPDATE log_entries SET body = :b WHERE idx = :i"), {"b": b'{"rewritten":1}', "i": entry}
            )
        bodies = [row[0] for row in connection.execute(text("SELECT body FROM log_entries ORDER BY idx"))]
        connection.execute(text("DELETE FROM log_nodes"))
        store = MemoryNodeStore()
        for size, body in enumerate(bodies, start=1):
            for level, index, value in nodes_to_store_after_append(size - 1, leaf_hash(body), store):
                connection.execute(
                    text("INSERT INTO log_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                    {"l": level, "i": index, "h": value},
                )
            store.append(leaf_hash(body))
            note = sign_note(
                format_checkpoint(extension.log.origin, size, store.root_hash()),
                extension.log.origin,
                extension.log.signing_key,
            )
            connection.execute(
                text("UPDATE log_checkpoints SET note = :n, root_hash = :r WHERE size = :s"),
                {"n": note, "r": store.root_hash(), "s": size},
            )


def test_log_growth_is_accepted_and_the_state_moves_forward(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    # Given a holder who reviewed once (trust on first use, said so; state saved 0600)
    first = _run("review", url, holder_file)
    assert first.exit_code == 0, first.output
    assert "trusting the log key on first use" in first.output
    assert "first run, trusting the checkpoint" in first.output
    state_path = holder_file.with_name(holder_file.name + ".log-state.json")
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in holder_file.parent.iterdir() if "log-state" in p.name) == [state_path.name]
    seen = parse_checkpoint(_state(holder_file).checkpoint.split("\n\n")[0] + "\n").size  # type: ignore[union-attr]
    # When the log grows (a request is filed and co-signed) and the holder approves
    request_id = world.cosigned_request()
    result = _approve(url, holder_file, request_id)

    # Then the tool proved the new checkpoint extends the one seen before, and stored it
    assert result.exit_code == 0, result.output
    assert f"is consistent with the one you saw before (size {seen})" in result.output
    assert "court signature on the order: verified" in result.output
    now = parse_checkpoint(_state(holder_file).checkpoint.split("\n\n")[0] + "\n").size  # type: ignore[union-attr]
    assert now > seen


def test_log_rewritten_between_two_runs_is_refused(world_url: tuple[World, str], holder_file: Path) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    first = _run("review", url, holder_file)
    assert first.exit_code == 0, first.output
    before = _state(holder_file)
    # When an insider rewrites an old entry and re-signs every checkpoint with the log key
    _rewrite_log(world.app, entry=2)
    # (the rewritten log is self-consistent: a first-time holder would not notice)
    fresh = _run("review", url, holder_file, "--state", str(holder_file.parent / "other-state.json"))
    assert fresh.exit_code == 0, fresh.output
    assert "first run" in fresh.output

    result = _approve(url, holder_file, request_id)

    # Then the holder who saw the old log refuses, and keeps the old pin
    assert result.exit_code == 1, result.output
    assert "rewritten or forked" in result.output
    assert _state(holder_file) == before


def test_log_truncated_between_two_runs_is_refused(world_url: tuple[World, str], holder_file: Path) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    first = _run("review", url, holder_file)
    assert first.exit_code == 0, first.output
    extension = get_components(world.app)
    with extension.session_factory() as session:
        size = int(session.execute(text("SELECT size FROM log_state")).scalar_one())
    _rewrite_log(world.app, entry=0, keep=size - 1)

    result = _run("reject", url, holder_file, str(request_id), "--reason", "checking")

    assert result.exit_code == 1, result.output
    assert f"the log was truncated: a checkpoint for {size} entries was signed" in result.output


def test_wrong_pinned_log_key_is_refused(world_url: tuple[World, str], holder_file: Path) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    other = "escrow.localhost/log+00000000+AQ" + "A" * 42 + "="
    first = _run("review", url, holder_file)
    assert first.exit_code == 0, first.output

    result = _approve(url, holder_file, request_id, "--log-key", other)

    assert result.exit_code == 1, result.output
    assert "the log key differs from the one pinned in the state file" in result.output


def test_growth_with_an_appended_event_keeps_old_requests_provable(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    request_id = world.cosigned_request()
    assert _run("review", url, holder_file).exit_code == 0
    extension = get_components(world.app)
    with extension.session_factory() as session:
        append_event(session, extension.log, kind="test.event", data={"i": 1}, now=world.now())
        session.commit()

    result = _approve(url, holder_file, request_id)

    assert result.exit_code == 0, result.output
    assert "proven in the signed checkpoint" in result.output


def test_damaged_state_file_is_refused_not_replaced(world_url: tuple[World, str], holder_file: Path) -> None:
    _, url = world_url
    state = holder_file.parent / "state.json"
    state.write_text("not a state")

    result = _run("review", url, holder_file, "--state", str(state))

    assert result.exit_code == 1, result.output
    assert "damaged" in result.output
    assert state.read_text() == "not a state"
