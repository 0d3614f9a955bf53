"""`escrow officer extend|cosign-extension|withdraw` against a live server on loopback (issue 6)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import nacl.pwhash
import pytest
from click.testing import CliRunner
from flask import Flask

from escrow.cli.main import cli
from escrow.crypto.disclosure import encrypt_officer_key
from tests.disclosure_support import PDF, World, backdate_reveal, build_world
from tests.test_cli_disclosure import PASSPHRASE, _holder_args, _holder_files


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


def _key_file(world: World, tmp_path: Path, username: str) -> Path:
    path = tmp_path / f"{username}.key"
    fast = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
    path.write_bytes(encrypt_officer_key(world.officers[username], PASSPHRASE, **fast))
    path.chmod(0o600)
    return path


def _document(world: World, tmp_path: Path, request_id: int) -> Path:
    path = tmp_path / f"request-{request_id}.json"
    path.write_text(json.dumps(world.document(request_id)))
    return path


def _officer(
    url: str, world: World, tmp_path: Path, passphrase_file: Path, username: str, *args: str
) -> tuple[int, str]:
    command, document, *rest = args
    result = CliRunner().invoke(
        cli,
        [
            "officer",
            command,
            document,
            "--server",
            url,
            "--key-file",
            str(_key_file(world, tmp_path, username)),
            "--passphrase-file",
            str(passphrase_file),
            "--yes",
            *rest,
        ],
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _disclosed(world: World, delay_days: int) -> int:
    request_id = int(world.draft(notify_delay_days=str(delay_days)).get_json()["id"])
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    for holder in world.holders[:3]:
        world.approve(holder, request_id)
    return request_id


def test_officers_extend_the_notification_delay_with_the_cli(
    live_server: tuple[str, Flask], tmp_path: Path, passphrase_file: Path
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = _disclosed(world, delay_days=1)
    order = tmp_path / "extension.pdf"
    order.write_bytes(PDF + b"% extension\n")
    # When alice proposes 45 days with the court's decision attached
    code, output = _officer(
        url,
        world,
        tmp_path,
        passphrase_file,
        "alice",
        "extend",
        str(_document(world, tmp_path, request_id)),
        "--days",
        "45",
        "--reason",
        "the suspect must not be warned",
        "--order-reference",
        "2026/CR/0042-EXT-1",
        "--order",
        str(order),
    )
    # Then she saw what she signed and the command for the co-signer
    assert code == 0, output
    assert "notification delay 1 -> 45 day(s)" in output
    assert f"escrow officer cosign-extension request-{request_id}.json --extension 1" in output
    # and alice cannot co-sign it herself, nor carol of her organisation
    document = str(_document(world, tmp_path, request_id))
    code, output = _officer(
        url, world, tmp_path, passphrase_file, "alice", "cosign-extension", document, "--extension", "1"
    )
    assert code == 1
    assert "proposer cannot co-sign" in output
    code, output = _officer(
        url, world, tmp_path, passphrase_file, "carol", "cosign-extension", document, "--extension", "1"
    )
    assert code == 1
    assert "another organisation" in output
    # When dave co-signs, the delay is 45 days
    code, output = _officer(
        url, world, tmp_path, passphrase_file, "dave", "cosign-extension", document, "--extension", "1"
    )
    assert code == 0, output
    assert "2026/CR/0042-EXT-1" in output
    assert f"notification delay of request {request_id} is 45 day(s)" in output
    assert world.document(request_id)["notify_delay_days"] == 45
    # and the officer's page shows the extension and its state
    page = world.client("alice").get(f"/officer/disclosures/{request_id}").get_data(as_text=True)
    assert "2026/CR/0042-EXT-1" in page
    assert "effective" in page
    assert "escrow officer extend" in page
    # and a stale document is refused with a message, not a traceback
    code, output = _officer(
        url,
        world,
        tmp_path,
        passphrase_file,
        "alice",
        "extend",
        _stale(world, tmp_path, request_id),
        "--days",
        "60",
        "--reason",
        "r",
        "--order-reference",
        "o",
    )
    assert code == 1
    assert "download it again" in output


def _stale(world: World, tmp_path: Path, request_id: int) -> str:
    document = world.document(request_id)
    document["extensions"] = []
    document["notify_delay_days"] = 1
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_extension_after_the_notification_date_is_refused_by_the_cli(
    live_server: tuple[str, Flask], tmp_path: Path, passphrase_file: Path
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = _disclosed(world, delay_days=1)
    backdate_reveal(app, request_id, timedelta(days=2))
    code, output = _officer(
        url,
        world,
        tmp_path,
        passphrase_file,
        "bob",
        "extend",
        str(_document(world, tmp_path, request_id)),
        "--days",
        "30",
        "--reason",
        "r",
        "--order-reference",
        "o",
    )
    assert code == 1
    assert "(409)" in output
    assert "cannot be undone" in output


def test_officer_withdraws_with_the_cli_and_holders_no_longer_see_the_request(
    live_server: tuple[str, Flask], tmp_path: Path, passphrase_file: Path
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = world.cosigned_request()
    files = _holder_files(world, tmp_path)
    review = CliRunner().invoke(cli, ["keyholder", "review", *_holder_args(url, files[0], passphrase_file)])
    assert f"request {request_id}:" in review.output
    page = world.client("alice").get(f"/officer/disclosures/{request_id}").get_data(as_text=True)
    assert f"escrow officer withdraw request-{request_id}.json" in page
    # When dave (not an officer of it) tries, then alice withdraws it
    document = str(_document(world, tmp_path, request_id))
    code, output = _officer(
        url, world, tmp_path, passphrase_file, "dave", "withdraw", document, "--reason", "x"
    )
    assert code == 1
    assert "officer of this request" in output
    code, output = _officer(
        url, world, tmp_path, passphrase_file, "alice", "withdraw", document, "--reason", "order set aside"
    )
    # Then it is withdrawn, review lists nothing and an approval is refused with a message
    assert code == 0, output
    assert f"request {request_id} is withdrawn" in output
    review = CliRunner().invoke(cli, ["keyholder", "review", *_holder_args(url, files[0], passphrase_file)])
    assert review.exit_code == 0, review.output
    assert "no disclosure request awaits you" in review.output
    approve = CliRunner().invoke(
        cli, ["keyholder", "approve", str(request_id), *_holder_args(url, files[1], passphrase_file), "--yes"]
    )
    assert approve.exit_code == 1
    assert "(409)" in approve.output
    assert "withdrawn" in approve.output
    page = world.client("alice").get(f"/officer/disclosures/{request_id}").get_data(as_text=True)
    assert "Withdrawn by" in page
    assert "escrow officer withdraw" not in page
