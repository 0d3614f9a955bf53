"""The key-holder tool and ceremony commands end to end: real holder files, a live server on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update
from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.bootstrap import Components
from escrow.cli.dev_nodes import NodeProcess, free_port, wait_until_ready
from escrow.cli.main import cli
from escrow.config import Settings
from escrow.crypto.ceremony_messages import fingerprint, public_keys
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.crypto.ristretto import from_edwards
from escrow.crypto.seal import combine_and_open, partial_decrypt, seal
from escrow.crypto.transcript import b64u_encode
from escrow.db import upgrade_database
from escrow.errors import InvalidStateError, ValidationError
from escrow.httpkit import get_components
from escrow.models import Ceremony, LogEntry
from escrow.node.settings import NodeSettings, load_share
from escrow.protocol.oprf import NodeKey
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.oprf_keys import active_oprf_key

ESCROW = str(Path(sys.executable).parent / "escrow")
PASSPHRASE = "correct horse battery staple"


@dataclass
class LiveServer:
    url: str
    extension: Components


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real app on 127.0.0.1 (port chosen by the OS) over its own migrated SQLite database."""
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    upgrade_database(url)
    app = create_app(Settings.for_tests(url, tmp_path / "server-keys", instance_path=tmp_path / "instance"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", get_components(app))
    finally:
        server.shutdown()
        thread.join()
        get_components(app).engine.dispose()


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


def _invite(live: LiveServer, name: str) -> str:
    with live.extension.session_factory() as session:
        return keyholder_service.invite_keyholder(
            session, name=name, organisation="Org", contact="c", log=live.extension.log, now=datetime.now(UTC)
        ).code


def _init_holders(live: LiveServer, tmp_path: Path, passphrase_file: Path, n: int) -> list[Path]:
    files = []
    for i in range(1, n + 1):
        out = tmp_path / f"holder-{i}.escrow"
        result = CliRunner().invoke(
            cli,
            [
                "keyholder",
                "init",
                "--server",
                live.url,
                "--invite",
                _invite(live, f"Holder {i}"),
                "--out",
                str(out),
                "--passphrase-file",
                str(passphrase_file),
                "--insecure-fast-kdf",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "signing key fingerprint:" in result.output
        files.append(out)
    return files


def _write_roster(files: list[Path]) -> Path:
    """The fingerprints the holders confirmed by phone: here, read from their own holder files."""
    lines = []
    for f in files:
        secrets = decrypt_holder_file(f.read_bytes(), PASSPHRASE)
        keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
        lines += [fingerprint(keys.signing_key), fingerprint(keys.exchange_key)]
    path = files[0].parent / "roster.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_holders(
    live: LiveServer, files: list[Path], passphrase_file: Path, command: str, access: str
) -> list[subprocess.CompletedProcess[str]]:
    """Runs `escrow keyholder COMMAND` for every holder file at once, each confirming `access` (T-of-N)."""
    processes = [
        subprocess.Popen(
            [
                ESCROW,
                "keyholder",
                command,
                "--server",
                live.url,
                "--holder-file",
                str(f),
                "--passphrase-file",
                str(passphrase_file),
                "--poll",
                "0.1",
                "--timeout",
                "60",
                "--roster",
                str(_write_roster(files)),
                "--confirm-access-structure",
                access,
                *(["--erase-old-share"] if command == "reshare" else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in files
    ]
    results = []
    for p in processes:
        out, _ = p.communicate(timeout=90)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out))
    return results


def test_holders_enrol_run_a_ceremony_and_anyone_verifies_it_with_the_cli(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    # Given three holders enrolled with the tool and a 2-of-3 ceremony opened
    files = _init_holders(live_server, tmp_path, passphrase_file, 3)
    with live_server.extension.session_factory() as session:
        ceremony_id = ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2, 3], log=live_server.extension.log, now=datetime.now(UTC)
        )

    # When each runs `escrow keyholder ceremony` on its own
    results = _run_holders(live_server, files, passphrase_file, "ceremony", "2-of-3")

    # Then every run succeeds, the key is active, each holder file holds a working share (mode 0600)
    for result in results:
        assert result.returncode == 0, result.stdout
        assert "the key is active" in result.stdout
    with live_server.extension.session_factory() as session:
        key = active_escrow_key(session)
    secrets = [decrypt_holder_file(f.read_bytes(), PASSPHRASE) for f in files]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    envelope = seal(key, b"identity", {"p": 1})
    partials = [partial_decrypt(s.share_for(key.key_id).share, envelope, b"\x03" * 32) for s in secrets[:2]]
    assert combine_and_open(key, envelope, b"\x03" * 32, partials).identity == b"identity"
    # and the transcript verifies offline, from the server and from a saved file
    saved = tmp_path / "transcript.json"
    online = CliRunner().invoke(
        cli, ["ceremony", "verify", "--server", live_server.url, "--save", str(saved)]
    )
    assert online.exit_code == 0, online.output
    assert key.key_id in online.output
    offline = CliRunner().invoke(cli, ["ceremony", "verify", "--transcript", str(saved)])
    assert offline.exit_code == 0, offline.output
    assert f"ceremony {ceremony_id}" in offline.output


def test_tampered_transcript_fails_verification(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    files = _init_holders(live_server, tmp_path, passphrase_file, 2)
    with live_server.extension.session_factory() as session:
        ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2], log=live_server.extension.log, now=datetime.now(UTC)
        )
    for run in _run_holders(live_server, files, passphrase_file, "ceremony", "2-of-2"):
        assert run.returncode == 0, run.stdout
    saved = tmp_path / "transcript.json"
    CliRunner().invoke(cli, ["ceremony", "verify", "--server", live_server.url, "--save", str(saved)])
    data = json.loads(saved.read_text())
    data["messages"][0]["body"]["broadcast"]["commitments"].reverse()
    saved.write_text(json.dumps(data))

    result = CliRunner().invoke(cli, ["ceremony", "verify", "--transcript", str(saved)])

    assert result.exit_code == 1
    assert "not signed by key-holder" in result.output
    assert "Traceback" not in result.output


def test_wrong_passphrase_is_refused_with_a_clear_message(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    files = _init_holders(live_server, tmp_path, passphrase_file, 1)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")

    result = CliRunner().invoke(
        cli, ["keyholder", "show", "--holder-file", str(files[0]), "--passphrase-file", str(wrong)]
    )

    assert result.exit_code == 1
    assert "wrong passphrase or damaged file" in result.output


def test_tampered_holder_file_is_refused_with_a_clear_message(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    files = _init_holders(live_server, tmp_path, passphrase_file, 1)
    document = json.loads(files[0].read_bytes())
    document["ciphertext"] = document["ciphertext"][:-4] + (
        "AAAA" if not document["ciphertext"].endswith("AAAA") else "BBBB"
    )
    files[0].write_text(json.dumps(document))

    result = CliRunner().invoke(
        cli,
        [
            "keyholder",
            "ceremony",
            "--server",
            live_server.url,
            "--holder-file",
            str(files[0]),
            "--passphrase-file",
            str(passphrase_file),
        ],
    )

    assert result.exit_code == 1
    assert "cannot open the holder file" in result.output


def test_enrolment_with_a_spent_code_is_refused(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    code = _invite(live_server, "A")
    args = [
        "keyholder",
        "init",
        "--server",
        live_server.url,
        "--invite",
        code,
        "--passphrase-file",
        str(passphrase_file),
        "--insecure-fast-kdf",
    ]
    assert CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")]).exit_code == 0

    again = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")])

    assert again.exit_code == 1
    assert "unknown, already used or expired" in again.output
    assert not (tmp_path / "b").exists()


def test_unreachable_server_is_a_message_not_a_traceback(tmp_path: Path, passphrase_file: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "keyholder",
            "init",
            "--server",
            "http://127.0.0.1:9",
            "--invite",
            "x",
            "--out",
            str(tmp_path / "h"),
            "--passphrase-file",
            str(passphrase_file),
        ],
    )

    assert result.exit_code == 1
    assert "cannot reach the server" in result.output


def test_simulate_writes_protected_holder_files_and_warns(tmp_path: Path, passphrase_file: Path) -> None:
    out = tmp_path / "dev"

    result = CliRunner().invoke(
        cli,
        [
            "admin",
            "ceremony",
            "simulate",
            "--threshold",
            "3",
            "--holders",
            "5",
            "--out",
            str(out),
            "--passphrase-file",
            str(passphrase_file),
            "--insecure-fast-kdf",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "DEVELOPMENT ONLY" in result.output
    files = sorted(out.glob("holder-*.escrow"))
    assert len(files) == 5
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    secrets = [decrypt_holder_file(f.read_bytes(), PASSPHRASE) for f in files]
    key = secrets[0].shares[0].key
    envelope = seal(key, b"x", {})
    partials = [partial_decrypt(s.shares[0].share, envelope, b"\x04" * 32) for s in secrets[2:]]
    assert combine_and_open(key, envelope, b"\x04" * 32, partials).identity == b"x"


def test_verify_needs_exactly_one_source() -> None:
    result = CliRunner().invoke(cli, ["ceremony", "verify"])

    assert result.exit_code == 2


def test_holders_reshare_with_the_cli_and_keep_the_key(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    # Given an active 2-of-3 key made with the tool, and an envelope sealed to it
    files = _init_holders(live_server, tmp_path, passphrase_file, 3)
    log = live_server.extension.log
    with live_server.extension.session_factory() as session:
        ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2, 3], log=log, now=datetime.now(UTC)
        )
    for run in _run_holders(live_server, files, passphrase_file, "ceremony", "2-of-3"):
        assert run.returncode == 0, run.stdout
    with live_server.extension.session_factory() as session:
        key = active_escrow_key(session)
        # When holders 1 and 2 reshare to {1, 3} with threshold 2
        ceremony_service.open_reshare(
            session, threshold=2, dealer_ids=[1, 2], holder_ids=[1, 3], log=log, now=datetime.now(UTC)
        )
    envelope = seal(key, b"sealed before", {})
    results = _run_holders(live_server, files, passphrase_file, "reshare", "2-of-2")

    # Then all three runs succeed, holder 2 has no share left, and holders 1 and 3 open the old envelope
    for run in results:
        assert run.returncode == 0, run.stdout
    assert "old share was removed" in results[1].stdout
    assert "your signed erasure statement is in the transparency log" in results[1].stdout
    secrets = [decrypt_holder_file(f.read_bytes(), PASSPHRASE) for f in files]
    assert secrets[1].shares == ()
    # and the leaving holder's signed erasure statement is in the log (issue 16)
    with live_server.extension.session_factory() as session:
        erased = session.scalars(select(LogEntry.body).where(LogEntry.kind == "keyholder.share_erased")).all()
    assert [json.loads(b)["data"]["holder"] for b in erased] == [2]
    statement = json.loads(erased[0])["data"]
    assert (statement["key_id"], statement["old_index"]) == (key.key_id, 2)
    with live_server.extension.session_factory() as session:
        assert active_escrow_key(session).key_id == key.key_id
    digest = b"\x05" * 32
    partials = [partial_decrypt(secrets[i].share_for(key.key_id).share, envelope, digest) for i in (0, 2)]
    with live_server.extension.session_factory() as session:
        new_key = active_escrow_key(session)
    assert combine_and_open(new_key, envelope, digest, partials).identity == b"sealed before"
    verified = CliRunner().invoke(cli, ["ceremony", "verify", "--server", live_server.url])
    assert verified.exit_code == 0, verified.output
    assert "(reshare)" in verified.output


def test_server_side_commands_invite_open_and_cancel(runner: CliRunner) -> None:
    # Given a fresh instance with one invitation
    invited = runner.invoke(
        cli, ["admin", "keyholder", "invite", "--name", "A", "--organisation", "O", "--contact", "c"]
    )
    assert invited.exit_code == 0, invited.output
    assert "one-time code (shown once)" in invited.output

    # When an admin opens a ceremony with a holder who has not enrolled, or cancels an unknown one
    opened = runner.invoke(cli, ["admin", "ceremony", "open", "--threshold", "1", "--holders", "1,2"])
    cancelled = runner.invoke(cli, ["admin", "ceremony", "cancel", "7"])
    reshared = runner.invoke(
        cli, ["admin", "ceremony", "reshare", "--threshold", "1", "--dealers", "1", "--holders", "x"]
    )

    # Then each is refused with a message and status 1 (2 for a usage error)
    assert opened.exit_code == 1
    assert "not enrolled" in opened.output
    assert cancelled.exit_code == 1
    assert "no ceremony 7" in cancelled.output
    assert reshared.exit_code == 2


def test_holder_stops_before_dealing_when_a_fingerprint_was_not_confirmed(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    # Given a ceremony whose third holder is not on the roster this holder confirmed by phone
    files = _init_holders(live_server, tmp_path, passphrase_file, 3)
    roster = _write_roster(files[:2])
    with live_server.extension.session_factory() as session:
        ceremony_id = ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2, 3], log=live_server.extension.log, now=datetime.now(UTC)
        )

    # When holder 1 runs the ceremony with that roster, or without one and answers "no"
    args = ["keyholder", "ceremony", "--server", live_server.url, "--holder-file", str(files[0])]
    with_roster = CliRunner().invoke(
        cli, [*args, "--passphrase-file", str(passphrase_file), "--roster", str(roster)]
    )
    refused = CliRunner().invoke(cli, [*args, "--passphrase-file", str(passphrase_file)], input="n\n")

    # Then it stops before sending anything
    assert with_roster.exit_code == 1
    assert "may be substituting keys" in with_roster.output
    assert refused.exit_code == 1
    assert "fingerprints not confirmed" in refused.output
    with live_server.extension.session_factory() as session:
        assert ceremony_service.ceremony_state(session, ceremony_id).messages == ()


def test_short_passphrase_is_refused_for_a_new_holder_file(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("hunter2\n")

    result = CliRunner().invoke(
        cli,
        ["admin", "ceremony", "simulate", "--out", str(tmp_path / "dev"), "--passphrase-file", str(short)],
    )

    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert not (tmp_path / "dev").exists()


def _serve_node(share_file: Path, passphrase_file: Path, key_id: str, data_dir: Path) -> NodeProcess:
    """Starts `escrow oprf-node serve --share-file <holder file> --key-id <key>` on a free loopback port."""
    port = free_port()
    data_dir.mkdir(mode=0o700)
    command = [
        ESCROW, "oprf-node", "serve",
        "--share-file", str(share_file),
        "--passphrase-file", str(passphrase_file),
        "--service-key", b64u_encode(bytes(32)),
        "--data-dir", str(data_dir),
        "--key-id", key_id,
        "--port", str(port),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
    log_path = data_dir / "node.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    node = NodeProcess(1, f"http://127.0.0.1:{port}", process, command, env, log_path)
    try:
        wait_until_ready(node)
    except BaseException:
        node.stop()
        raise
    return node


def test_node_operators_run_the_oprf_ceremony_with_the_holder_tool_and_serve_their_share(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    # Given three node operators enrolled with the holder tool and a 2-of-3 OPRF ceremony
    files = _init_holders(live_server, tmp_path, passphrase_file, 3)
    with live_server.extension.session_factory() as session:
        ceremony_service.open_ceremony(
            session,
            threshold=2,
            holder_ids=[1, 2, 3],
            log=live_server.extension.log,
            now=datetime.now(UTC),
            purpose="oprf",
        )

    # When each runs the unchanged `escrow keyholder ceremony`
    results = _run_holders(live_server, files, passphrase_file, "ceremony", "2-of-3")

    # Then each was told what the key is for and how to serve it; the OPRF key is active, no escrow key
    with live_server.extension.session_factory() as session:
        key = active_oprf_key(session)
        with pytest.raises(InvalidStateError):
            active_escrow_key(session)
    for result, path in zip(results, files, strict=True):
        assert result.returncode == 0, result.stdout
        assert "makes the OPRF key" in result.stdout
        assert f"escrow oprf-node serve --share-file {path} --key-id {key.key_id}" in result.stdout
    # and `escrow ceremony verify` names the purpose
    verified = CliRunner().invoke(cli, ["ceremony", "verify", "--server", live_server.url])
    assert verified.exit_code == 0, verified.output
    assert "purpose oprf" in verified.output
    # and a node started on an operator's holder file serves the public share the ceremony made
    node = _serve_node(files[1], passphrase_file, key.key_id, tmp_path / "node-data")
    try:
        with urllib.request.urlopen(f"{node.url}/key", timeout=5) as answer:  # noqa: S310 - loopback
            served = NodeKey.parse(answer.read())
    finally:
        node.stop()
    assert served.key_id == key.key_id
    assert bytes(served.public_share) == bytes(from_edwards(key.verification_key(served.node)))


def test_admin_opens_an_oprf_ceremony_and_an_unknown_purpose_is_a_usage_error(runner: CliRunner) -> None:
    bogus = runner.invoke(
        cli, ["admin", "ceremony", "open", "--purpose", "bogus", "--threshold", "1", "--holders", "1,2"]
    )
    unenrolled = runner.invoke(
        cli, ["admin", "ceremony", "open", "--purpose", "oprf", "--threshold", "1", "--holders", "1,2"]
    )

    assert bogus.exit_code == 2
    assert "'bogus' is not one of 'escrow', 'oprf'" in bogus.output
    assert unenrolled.exit_code == 1
    assert "not enrolled" in unenrolled.output


def test_simulate_oprf_writes_node_share_files_a_node_loads(tmp_path: Path, passphrase_file: Path) -> None:
    out = tmp_path / "nodes"

    result = CliRunner().invoke(
        cli,
        [
            "admin",
            "ceremony",
            "simulate",
            "--purpose",
            "oprf",
            "--threshold",
            "2",
            "--holders",
            "3",
            "--out",
            str(out),
            "--passphrase-file",
            str(passphrase_file),
            "--insecure-fast-kdf",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "DEVELOPMENT ONLY" in result.output
    files = sorted(out.glob("node-*.share"))
    assert len(files) == 3
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    settings = NodeSettings(
        share_file=files[0], passphrase=PASSPHRASE, service_key=bytes(32), data_dir=tmp_path
    )
    shares = [load_share(dataclasses.replace(settings, share_file=f)) for f in files]
    assert sorted(s.index for s in shares) == [1, 2, 3]
    assert f"--key-id {shares[0].key.key_id}" in result.output


def _reshare_args(live: LiveServer, holder_file: Path, passphrase_file: Path) -> list[str]:
    return [
        "keyholder",
        "reshare",
        "--server",
        live.url,
        "--holder-file",
        str(holder_file),
        "--passphrase-file",
        str(passphrase_file),
        "--poll",
        "0.1",
        "--timeout",
        "5",
    ]


def test_issue16_threshold_downgrade_to_1_by_reshare_is_refused_by_the_service_and_every_holder_tool(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    """Issue 16, item 2: reshared to the same holders with t' = 1, every check used to pass, the key id
    stayed the same, and one holder's partial opened every envelope, old ones included."""
    # Given an active 2-of-3 key made with the tool and an envelope sealed to it
    files = _init_holders(live_server, tmp_path, passphrase_file, 3)
    log = live_server.extension.log
    with live_server.extension.session_factory() as session:
        ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2, 3], log=log, now=datetime.now(UTC)
        )
    for run in _run_holders(live_server, files, passphrase_file, "ceremony", "2-of-3"):
        assert run.returncode == 0, run.stdout
    with live_server.extension.session_factory() as session:
        key = active_escrow_key(session)

    # When the administrator reshares to the same holders with t' = 1 through the service
    with (
        live_server.extension.session_factory() as session,
        pytest.raises(ValidationError, match=r"1 of 3 is below the published minimum"),
    ):
        ceremony_service.open_reshare(
            session, threshold=1, dealer_ids=[1, 2], holder_ids=[1, 2, 3], log=log, now=datetime.now(UTC)
        )
    # and, as a database writer would, opens an honest-looking 2-of-3 reshare and cuts its threshold to 1
    with live_server.extension.session_factory() as session:
        reshare_id = ceremony_service.open_reshare(
            session, threshold=2, dealer_ids=[1, 2], holder_ids=[1, 2, 3], log=log, now=datetime.now(UTC)
        )
        session.execute(update(Ceremony).where(Ceremony.id == reshare_id).values(threshold=1))
        session.commit()
    roster = _write_roster(files)
    scripted = [
        CliRunner().invoke(
            cli,
            [
                *_reshare_args(live_server, f, passphrase_file),
                "--roster",
                str(roster),
                "--confirm-access-structure",
                expected,
            ],
        )
        for f, expected in ((files[0], "2-of-3"), (files[1], "1-of-3"))
    ]
    interactive = CliRunner().invoke(
        cli, _reshare_args(live_server, files[2], passphrase_file), input="y\ny\ny\n"
    )

    # Then every holder tool stops before sending anything, with a message and status 1, whatever it
    # was told to accept: the tool checks the header against the published minimum itself
    for result in (*scripted, interactive):
        assert result.exit_code == 1, result.output
        assert "1 of 3 is below the published minimum access structure (t >= 2 and 2t > n)" in result.output
        assert "Traceback" not in result.output
        assert "any 1 of these 3 key-holders" in result.output  # shown before refusing
    with live_server.extension.session_factory() as session:
        assert ceremony_service.ceremony_state(session, reshare_id).messages == ()
        assert ceremony_service.ceremony_state(session, reshare_id).status == "round1"
        assert active_escrow_key(session) == key
    secrets = [decrypt_holder_file(f.read_bytes(), PASSPHRASE) for f in files]
    assert all(s.share_for(key.key_id).share.index == i for i, s in enumerate(secrets, start=1))


def test_holder_confirms_the_access_structure_before_dealing(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    # Given a 2-of-3 ceremony among holders of organisation "Org"
    files = _init_holders(live_server, tmp_path, passphrase_file, 3)
    roster = _write_roster(files)
    with live_server.extension.session_factory() as session:
        ceremony_id = ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2, 3], log=live_server.extension.log, now=datetime.now(UTC)
        )
    args = [
        "keyholder",
        "ceremony",
        "--server",
        live_server.url,
        "--holder-file",
        str(files[0]),
        "--passphrase-file",
        str(passphrase_file),
        "--roster",
        str(roster),
    ]

    # When holder 1 answers "no" to the access structure, states another one, or a malformed one
    declined = CliRunner().invoke(cli, args, input="n\n")
    mismatched = CliRunner().invoke(cli, [*args, "--confirm-access-structure", "3-of-3"])
    malformed = CliRunner().invoke(cli, [*args, "--confirm-access-structure", "two"])

    # Then it was shown t, n and every new holder's name, organisation and fingerprint, and sent nothing
    assert declined.exit_code == 1, declined.output
    assert "Access structure: any 2 of these 3 key-holders together can use the escrow key" in declined.output
    secrets = decrypt_holder_file(files[2].read_bytes(), PASSPHRASE)
    signing = fingerprint(public_keys(secrets.signing_seed, secrets.exchange_secret).signing_key)
    assert f"share 3: Holder 3, Org, signing {signing}" in declined.output
    assert "access structure not confirmed" in declined.output
    assert mismatched.exit_code == 1
    assert "this ceremony is 2-of-3, not the 3-of-3 you confirmed" in mismatched.output
    assert malformed.exit_code == 2
    assert "T-of-N" in malformed.output
    with live_server.extension.session_factory() as session:
        assert ceremony_service.ceremony_state(session, ceremony_id).messages == ()


def test_success_signatures_carry_the_confirmed_access_structure_and_the_floor_is_logged(
    live_server: LiveServer, tmp_path: Path, passphrase_file: Path
) -> None:
    # Given a 2-of-2 ceremony run with the tool
    files = _init_holders(live_server, tmp_path, passphrase_file, 2)
    with live_server.extension.session_factory() as session:
        ceremony_id = ceremony_service.open_ceremony(
            session, threshold=2, holder_ids=[1, 2], log=live_server.extension.log, now=datetime.now(UTC)
        )
    for run in _run_holders(live_server, files, passphrase_file, "ceremony", "2-of-2"):
        assert run.returncode == 0, run.stdout

    # When anyone reads the transcript and the log
    with urllib.request.urlopen(f"{live_server.url}/api/v1/ceremonies/{ceremony_id}") as answer:  # noqa: S310
        transcript = json.loads(answer.read())
    with live_server.extension.session_factory() as session:
        opened = session.scalars(select(LogEntry.body).where(LogEntry.kind == "ceremony.opened")).all()

    # Then each signed success message names t, n, purpose and every holder as its holder confirmed
    confirms = [m["body"] for m in transcript["messages"] if m["body"]["kind"] == "confirm"]
    assert len(confirms) == 2
    for body in confirms:
        access = body["access"]
        assert (access["threshold"], access["holders"], access["purpose"]) == (2, 2, "escrow")
        assert [(m["name"], m["organisation"]) for m in access["members"]] == [
            ("Holder 1", "Org"),
            ("Holder 2", "Org"),
        ]
    # and the log records the published minimum the ceremony was opened under
    assert json.loads(opened[-1])["data"]["access_floor"] == {"min_threshold": 2, "rule": "t >= 2 and 2t > n"}
