"""The log asks real witness processes to cosign its checkpoints; the tools require a witness policy;
a log rewritten and re-signed with the stolen log key is refused by the witnesses that saw the honest
one, and therefore by every tool; a witness killed mid-test is an alarm (log line, metric, report)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nacl.signing
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import text
from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.cli.main import cli
from escrow.client.audit import check_witnessed
from escrow.client.disclosure import establish_checkpoint
from escrow.client.holder import HolderClientError
from escrow.config import Settings
from escrow.crypto.merkle import MemoryNodeStore, leaf_hash, nodes_to_store_after_append
from escrow.crypto.note import (
    format_checkpoint,
    parse_cosigner_vkey,
    sign_note,
    verifier_key_string,
    verify_cosignatures,
)
from escrow.httpkit import get_components
from escrow.keystore import load_keyring
from escrow.protocol.witness import WitnessPolicy
from escrow.services.transparency import append_event
from tests.witness_support import Witnesses, start_test_witnesses

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
ENTRIES = 12
METRICS_TOKEN = "m" * 40


@dataclass(slots=True)
class WitnessedServer:
    url: str
    app: Flask
    witnesses: Witnesses
    directory: Path

    def append(self, count: int = 1) -> None:
        components = get_components(self.app)
        with components.session_factory() as session:
            for i in range(count):
                append_event(session, components.log, kind="test.event", data={"i": i}, now=NOW)
            session.commit()

    def checkpoint(self) -> str:
        with urllib.request.urlopen(f"{self.url}/api/v1/log/checkpoint", timeout=10) as answer:  # noqa: S310
            return answer.read().decode()

    def policy(self, quorum: str = "all") -> Path:
        return self.witnesses.write_policy(self.directory / f"{quorum}.policy", quorum)

    def sql(self, statement: str, **params: object) -> None:
        with get_components(self.app).engine.begin() as connection:
            connection.execute(text(statement), params)


@pytest.fixture
def witnessed(fresh_database_url: str, tmp_path: Path) -> Iterator[WitnessedServer]:
    settings = Settings.for_tests(fresh_database_url, tmp_path / "server-keys", instance_path=tmp_path)
    seed = load_keyring(settings).log_signing_seed  # made now, so the witnesses can pin the log key
    log_key = verifier_key_string(settings.log_origin, nacl.signing.SigningKey(seed).verify_key)
    witnesses = start_test_witnesses(tmp_path / "witnesses", [log_key])
    try:
        settings = dataclasses.replace(settings, witnesses=witnesses.configured, metrics_token=METRICS_TOKEN)
        app = create_app(settings)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            running = WitnessedServer(f"http://127.0.0.1:{server.server_port}", app, witnesses, tmp_path)
            running.append(ENTRIES)
            yield running
        finally:
            server.shutdown()
            thread.join(timeout=5)
            get_components(app).close()
    finally:
        witnesses.stop()


def _verify(server: WitnessedServer, state: Path, policy: Path) -> Result:
    return CliRunner().invoke(
        cli,
        ["audit", "verify", "--server", server.url, "--state", str(state), "--witness-policy", str(policy)],
    )


def _rewrite_with_the_stolen_log_key(server: WitnessedServer, index: int) -> None:
    """What a seized server can do: change an entry, rebuild the tree from the leaves, re-sign every
    checkpoint with the log key, and drop the cosignatures that no longer match."""
    components = get_components(server.app)
    with components.engine.begin() as connection:
        connection.execute(
            text("UPDATE log_entries SET body = :b WHERE idx = :i"), {"b": b'{"forged":1}', "i": index}
        )
        bodies = [row[0] for row in connection.execute(text("SELECT body FROM log_entries ORDER BY idx"))]
        connection.execute(text("DELETE FROM log_nodes"))
        connection.execute(text("DELETE FROM log_cosignatures"))
        store = MemoryNodeStore()
        for size, body in enumerate(bodies, start=1):
            for level, idx, value in nodes_to_store_after_append(size - 1, leaf_hash(body), store):
                connection.execute(
                    text("INSERT INTO log_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                    {"l": level, "i": idx, "h": value},
                )
            store.append(leaf_hash(body))
            note = sign_note(
                format_checkpoint(components.log.origin, size, store.root_hash()),
                components.log.origin,
                components.log.signing_key,
            )
            connection.execute(
                text("UPDATE log_checkpoints SET note = :n, root_hash = :r WHERE size = :s"),
                {"n": note, "r": store.root_hash(), "s": size},
            )


def test_the_served_checkpoint_carries_a_cosignature_of_every_witness(witnessed: WitnessedServer) -> None:
    note = witnessed.checkpoint()

    keys = [parse_cosigner_vkey(v) for v in witnessed.witnesses.vkeys]
    assert set(verify_cosignatures(note, keys)) == {k.name for k in keys}
    policy = WitnessPolicy.parse(witnessed.policy().read_text())
    assert "witnessed by witness-1.test/w, witness-2.test/w" in check_witnessed(note, policy, "it")


def test_a_new_checkpoint_is_cosigned_in_the_background_before_anyone_asks(
    witnessed: WitnessedServer,
) -> None:
    components = get_components(witnessed.app)
    thread = components.start_witnessing(interval=0.05)
    assert thread is not None
    witnessed.append(3)
    keys = [parse_cosigner_vkey(v) for v in witnessed.witnesses.vkeys]

    deadline = time.monotonic() + 10
    found: dict[str, object] = {}
    while time.monotonic() < deadline and len(found) < 2:
        # /checkpoints/{size} only reads what was kept: it never asks the witnesses itself.
        with urllib.request.urlopen(f"{witnessed.url}/api/v1/log/checkpoints/{ENTRIES + 3}", timeout=5) as a:  # noqa: S310
            found = dict(verify_cosignatures(a.read().decode(), keys))
        time.sleep(0.05)

    assert set(found) == {k.name for k in keys}


def test_audit_verify_accepts_a_witnessed_log_and_requires_a_policy(
    witnessed: WitnessedServer, tmp_path: Path
) -> None:
    result = _verify(witnessed, tmp_path / "state.json", witnessed.policy())
    missing = CliRunner().invoke(
        cli, ["audit", "verify", "--server", witnessed.url], env={"ESCROW_WITNESS_POLICY": ""}
    )

    assert result.exit_code == 0, result.output
    assert "witnessed by witness-1.test/w, witness-2.test/w (policy: 2 of 2 (w1, w2))" in result.output
    assert missing.exit_code == 2
    assert "--witness-policy" in missing.output


def test_forked_log_resigned_with_the_stolen_log_key_is_refused_by_witnesses_and_tools(
    witnessed: WitnessedServer, tmp_path: Path
) -> None:
    # Given witnesses that cosigned the honest log at size 12 (an auditor saw it)
    assert _verify(witnessed, tmp_path / "honest.json", witnessed.policy()).exit_code == 0
    # When the seized server rewrites entry 3, re-signs every checkpoint with the log key and grows
    _rewrite_with_the_stolen_log_key(witnessed, 3)
    witnessed.append()

    # Then the witnesses refuse to cosign (the proof from their size 12 does not verify) ...
    note = witnessed.checkpoint()
    keys = [parse_cosigner_vkey(v) for v in witnessed.witnesses.vkeys]
    assert verify_cosignatures(note, keys) == {}
    # ... so a newcomer shown only the forked history (no saved state to compare) refuses it
    newcomer = _verify(witnessed, tmp_path / "newcomer.json", witnessed.policy())
    assert newcomer.exit_code == 1
    assert (
        "is not witnessed as your policy requires (2 of 2 (w1, w2)): cosigned by 0 (none)" in newcomer.output
    )
    # ... and so does a key-holder's tool
    with pytest.raises(HolderClientError, match="not witnessed as your policy requires"):
        establish_checkpoint(
            _fetch(witnessed.url), policy=WitnessPolicy.parse(witnessed.policy().read_text())
        )
    # ... and the refusals are alarms on the public report and in the metrics
    report = _get_json(f"{witnessed.url}/api/v1/transparency/report")
    refusals = [a for a in report["witness_alarms"] if a["size"] == ENTRIES + 1]
    assert sorted((a["witness"], a["status"]) for a in refusals) == [
        ("witness-1.test/w", 422),
        ("witness-2.test/w", 422),
    ]
    metrics = _metrics(witnessed.url)
    assert 'escrow_witness_refusals_total{witness="witness-1.test/w"} 1.0' in metrics


def test_forked_checkpoint_of_the_same_size_with_copied_cosignatures_is_refused(
    witnessed: WitnessedServer, tmp_path: Path
) -> None:
    honest = witnessed.checkpoint()
    lines = honest[honest.rindex("\n\n") + 2 :].splitlines(keepends=True)[1:]
    _rewrite_with_the_stolen_log_key(witnessed, 0)
    # The attacker pastes the honest cosignatures onto the forged checkpoint of the same size.
    for line in lines:
        witnessed.sql(
            "INSERT INTO log_cosignatures (size, witness, line, created_at) VALUES (:s, :w, :l, :t)",
            s=ENTRIES,
            w=line[2:].partition(" ")[0],
            l=line,
            t=NOW,
        )

    result = _verify(witnessed, tmp_path / "s.json", witnessed.policy())

    assert result.exit_code == 1
    assert "a witness cosignature is invalid" in result.output


def test_a_witness_killed_mid_test_is_an_alarm_and_a_k_of_m_policy_still_accepts(
    witnessed: WitnessedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="escrow.witnessing")
    assert _verify(witnessed, tmp_path / "s.json", witnessed.policy()).exit_code == 0
    second = witnessed.witnesses.processes[1]
    second.kill()
    witnessed.append()

    all_of_them = _verify(witnessed, tmp_path / "all.json", witnessed.policy("all"))
    one_of_two = _verify(witnessed, tmp_path / "any.json", witnessed.policy("1"))
    report = _get_json(f"{witnessed.url}/api/v1/transparency/report")

    assert all_of_them.exit_code == 1
    assert "cosigned by 1 (witness-1.test/w)" in all_of_them.output
    assert one_of_two.exit_code == 0, one_of_two.output
    down = [a for a in report["witness_alarms"] if a["witness"] == "witness-2.test/w"]
    assert down[0]["status"] is None
    assert "unreachable" in down[0]["detail"] or "no answer" in down[0]["detail"]
    assert 'escrow_witness_failures_total{witness="witness-2.test/w"} 1.0' in _metrics(witnessed.url)
    assert (
        f"witness alarm: witness-2.test/w did not answer the checkpoint of size {ENTRIES + 1}" in caplog.text
    )

    # When it comes back (its state kept), the next checkpoint is cosigned by both again.
    second.restart()
    witnessed.append()
    assert _verify(witnessed, tmp_path / "s.json", witnessed.policy("all")).exit_code == 0


GO = shutil.which("go")
GO_VERIFIER = Path(__file__).resolve().parents[1] / "goverify"


@pytest.fixture(scope="module")
def goverify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/goverify built with Debian's Go and golang.org/x/mod (golang-go, golang-golang-x-mod-dev)."""
    if GO is None:
        pytest.skip("go is not installed (apt-get install golang-go golang-golang-x-mod-dev; .ci/run does)")
    out = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(out / "cache")}
    built = subprocess.run(
        [GO, "build", "-o", str(out / "goverify"), "."],
        cwd=GO_VERIFIER,
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return out / "goverify"


def _go_verify(goverify: Path, server: WitnessedServer, quorum: int) -> subprocess.CompletedProcess[str]:
    log_key = _get_json(f"{server.url}/api/v1/log/key")["verifier_key"]
    return subprocess.run(
        [
            str(goverify),
            "-server",
            server.url,
            "-log-key",
            log_key,
            "-witness",
            ",".join(server.witnesses.vkeys),
            "-quorum",
            str(quorum),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_independent_go_verifier_accepts_the_witnessed_log(
    goverify: Path, witnessed: WitnessedServer
) -> None:
    witnessed.append(5)

    result = _go_verify(goverify, witnessed, quorum=2)

    assert result.returncode == 0, result.stderr
    assert (
        f"at size {ENTRIES + 5}: signed by the log key, cosigned by witness-1.test/w, witness-2.test/w"
        in (result.stdout)
    )
    assert "6 proofs verify" in result.stdout


def test_the_go_verifier_refuses_the_forked_log(goverify: Path, witnessed: WitnessedServer) -> None:
    assert _go_verify(goverify, witnessed, quorum=2).returncode == 0
    _rewrite_with_the_stolen_log_key(witnessed, 1)
    witnessed.append()

    result = _go_verify(goverify, witnessed, quorum=2)

    assert result.returncode == 1
    assert "is cosigned by 0 witness(es) []; 2 required" in result.stderr


def _fetch(url: str):  # type: ignore[no-untyped-def]
    def fetch(path: str) -> bytes:
        with urllib.request.urlopen(url + path, timeout=10) as answer:  # noqa: S310 - loopback
            return bytes(answer.read())

    return fetch


def _get_json(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        return json.load(answer)  # type: ignore[no-any-return]


def _metrics(url: str) -> str:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    request = urllib.request.Request(f"{url}/metrics", headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        return answer.read().decode()
