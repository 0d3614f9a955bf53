"""Disclosure with the real tools over real HTTP: `escrow officer ...` and `escrow keyholder review|approve|
reject` against a live server on loopback (issue 6)."""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import MetaData, select

from escrow.cli.main import cli
from escrow.client.disclosure import approve, fetch_checked
from escrow.client.holder import HolderClient, UrllibTransport
from escrow.client.http import HttpClient
from escrow.crypto.holderfile import encrypt_holder_file
from escrow.httpkit import get_components
from escrow.keystore import write_secret_file
from escrow.models import DisclosureDecision, DisclosureRequest, LogEntry
from tests.disclosure_support import OFFICER_ORGS, PERSON_NAME, World, build_world

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


def _holder_files(world: World, tmp_path: Path) -> list[Path]:
    files = []
    for i, holder in enumerate(world.holders, start=1):
        path = tmp_path / f"holder-{i}.escrow"
        path.write_bytes(
            encrypt_holder_file(
                holder.secrets,
                PASSPHRASE,
                opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
            )
        )
        path.chmod(0o600)
        files.append(path)
    return files


def _officer_key(tmp_path: Path, username: str, passphrase_file: Path) -> tuple[Path, str]:
    out = tmp_path / f"{username}.key"
    result = CliRunner().invoke(
        cli,
        [
            "officer",
            "init",
            "--username",
            username,
            "--out",
            str(out),
            "--passphrase-file",
            str(passphrase_file),
            "--insecure-fast-kdf",
        ],
    )
    assert result.exit_code == 0, result.output
    match = re.search(r"public key: (\S+)", result.output)
    assert match
    return out, match.group(1)


def _org_certifies(tmp_path: Path, world: World, username: str, officer_public: str) -> dict[str, Any]:
    """`escrow org certify` with the organisation's key file; returns the certificate it wrote."""
    organisation = OFFICER_ORGS[username]
    key = tmp_path / f"org-{username}.seed"
    write_secret_file(key, world.org_seeds[organisation])
    out = tmp_path / f"{username}.cert.json"
    result = CliRunner().invoke(
        cli,
        ["org", "certify", "--key", str(key), "--organisation", organisation, "--username", username]
        + ["--officer-key", officer_public, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(out.read_text()))


def _holder_args(url: str, holder_file: Path, passphrase_file: Path) -> list[str]:
    return ["--server", url, "--holder-file", str(holder_file), "--passphrase-file", str(passphrase_file)]


def _status(world: World, request_id: int) -> str:
    with get_components(world.app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        return row.status


def test_officers_and_holders_carry_an_order_to_reveal_with_the_cli(
    live_server: tuple[str, Flask], tmp_path: Path, passphrase_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url, app = live_server
    world = build_world(app)
    # Given alice made her key with `escrow officer init`, her organisation certified it with `escrow org
    # certify` and she recorded the certificate; bob's likewise, recorded by an admin (issue 16)
    alice_key, alice_public = _officer_key(tmp_path, "alice", passphrase_file)
    bob_key, bob_public = _officer_key(tmp_path, "bob", passphrase_file)
    for username, public, recorder in (("alice", alice_public, "alice"), ("bob", bob_public, "root")):
        record = _org_certifies(tmp_path, world, username, public)
        recorded = world.client(recorder).post(
            "/api/v1/officers/certificate", json=record, headers=world.csrf(recorder)
        )
        assert recorded.status_code == 201, recorded.get_json()
    assert (
        world.client("bob")
        .post(
            "/api/v1/officers/key",
            json={"username": "alice", "public_key": bob_public},
            headers=world.csrf("bob"),
        )
        .status_code
        == 403
    )
    # and alice drafted a request (its document saved from the portal)
    request_id = world.draft().get_json()["id"]
    document = tmp_path / "request.json"
    document.write_text(json.dumps(world.document(request_id)))

    # When alice submits and bob co-signs with the tool
    for key, command in ((alice_key, "submit"), (bob_key, "cosign")):
        result = CliRunner().invoke(
            cli,
            [
                "officer",
                command,
                str(document),
                "--server",
                url,
                "--key-file",
                str(key),
                "--passphrase-file",
                str(passphrase_file),
                "--yes",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "District Court of Example" in result.output
        # the co-signer reads the submitted request, blinding points in (issue 14)
        document.write_text(json.dumps(world.document(request_id)))
    assert "only your tool can open this request's reveal" in result.output or command == "cosign"
    # and three holders review and approve on their machines
    files = _holder_files(world, tmp_path)
    review = CliRunner().invoke(cli, ["keyholder", "review", *_holder_args(url, files[0], passphrase_file)])
    assert review.exit_code == 0, review.output
    assert f"escrow keyholder approve {request_id}" in review.output
    outputs = []
    for f in files[:3]:
        result = CliRunner().invoke(
            cli, ["keyholder", "approve", str(request_id), *_holder_args(url, f, passphrase_file), "--yes"]
        )
        assert result.exit_code == 0, result.output
        outputs.append(result.output)

    # Then the holder saw court, case, verdict, log proof and scope, and the reveal shows the identity
    assert "case: 2026/CR/0042" in outputs[0]
    assert "court signature on the order: verified" in outputs[0]
    assert "proven in the signed checkpoint" in outputs[0]
    assert world.credential.envelope_digest in outputs[0]
    assert "is disclosed" in outputs[2]
    # and alice's tool opens it on her machine, checked by the OPRF nodes to be the right person
    reveal = CliRunner().invoke(
        cli,
        [
            "officer",
            "reveal",
            str(document),
            "--server",
            url,
            "--key-file",
            str(alice_key),
            "--passphrase-file",
            str(passphrase_file),
            "--yes",
        ],
    )
    assert reveal.exit_code == 0, reveal.output
    assert f"name: {PERSON_NAME}" in reveal.output
    assert "checked by the OPRF nodes" in reveal.output
    # bob co-signed, but his key opens nothing: the server does not even hand him the partials
    refused = CliRunner().invoke(
        cli,
        [
            "officer",
            "reveal",
            str(document),
            "--server",
            url,
            "--key-file",
            str(bob_key),
            "--passphrase-file",
            str(passphrase_file),
            "--yes",
        ],
    )
    assert refused.exit_code == 1
    assert PERSON_NAME not in refused.output
    # and after the reveal no table row and no log line holds the name or the document number
    with get_components(app).engine.connect() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        dump = "".join(
            repr(row) for table in metadata.sorted_tables for row in connection.execute(select(table))
        )
    for secret in (PERSON_NAME, "XR1234567"):
        assert secret not in dump
        assert secret not in caplog.text


def test_holder_tool_refuses_a_request_missing_from_the_log(
    live_server: tuple[str, Flask], tmp_path: Path, passphrase_file: Path
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = world.cosigned_request()
    with get_components(app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        row.log_index = 0  # a compromised server hides the request from the log
        session.commit()
    files = _holder_files(world, tmp_path)

    result = CliRunner().invoke(
        cli, ["keyholder", "approve", str(request_id), *_holder_args(url, files[0], passphrase_file), "--yes"]
    )

    assert result.exit_code == 1
    assert "not in the transparency log" in result.output
    assert "Traceback" not in result.output


def test_holder_rejects_with_a_reason_and_a_bad_officer_key_file_is_a_message(
    live_server: tuple[str, Flask], tmp_path: Path, passphrase_file: Path
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = world.cosigned_request()
    files = _holder_files(world, tmp_path)

    result = CliRunner().invoke(
        cli,
        [
            "keyholder",
            "reject",
            str(request_id),
            "--reason",
            "too broad",
            *_holder_args(url, files[0], passphrase_file),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "rejected; request" in result.output
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    key, _ = _officer_key(tmp_path, "alice", passphrase_file)
    document = tmp_path / "request.json"
    document.write_text(json.dumps(world.document(request_id)))
    bad = CliRunner().invoke(
        cli,
        [
            "officer",
            "cosign",
            str(document),
            "--server",
            url,
            "--key-file",
            str(key),
            "--passphrase-file",
            str(wrong),
            "--yes",
        ],
    )
    assert bad.exit_code == 1
    assert "wrong passphrase or damaged file" in bad.output


def test_t_holders_approving_at_the_same_moment_give_one_reveal_and_keep_every_approval(
    live_server: tuple[str, Flask],
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = world.cosigned_request()
    http = HttpClient(url)
    clients = [HolderClient(UrllibTransport(url), h.secrets.signing_seed) for h in world.holders[:3]]
    checked = [fetch_checked(c, http.get_bytes, request_id)[0] for c in clients]
    barrier = threading.Barrier(3)
    results: list[Any] = [None] * 3

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = approve(clients[i], world.holders[i].secrets, checked[i])["status"]
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert results.count("disclosed") == 1, results
    assert results.count("cosigned") == 2, results
    assert _status(world, request_id) == "disclosed"
    with get_components(app).session_factory() as session:
        kinds = list(session.scalars(select(LogEntry.kind)))
        approvals = session.scalars(
            select(DisclosureDecision).where(DisclosureDecision.request_id == request_id)
        ).all()
    assert kinds.count("disclosure.disclosed") == 1
    assert kinds.count("disclosure.approved") == 3
    assert len(approvals) == 3


def test_sweep_command_runs_on_the_server(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["init"]).exit_code == 0

    result = runner.invoke(cli, ["disclosures", "sweep"])

    assert result.exit_code == 0, result.output
    assert "0 disclosure request(s) closed or cleared" in result.output
