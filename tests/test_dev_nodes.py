"""`escrow run` in development mode (what `make run` starts): three OPRF nodes (issue 13) and two
witnesses (issue 15) as their own processes beside the server, used by it, and stopped with it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from escrow.cli.dev_nodes import free_port
from escrow.client.audit import check_witnessed
from escrow.protocol.witness import WitnessPolicy


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
        return json.load(answer)  # type: ignore[no-any-return]


def _answers(url: str) -> bool:
    try:
        _get(url)
    except (urllib.error.URLError, OSError):
        return False
    return True


@contextlib.contextmanager
def _escrow_run(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`escrow run` in development mode, as `make run` starts it, until it answers /healthz."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")},
        "ESCROW_DEV_MODE": "1",
        "ESCROW_INSTANCE_PATH": str(tmp_path / "instance"),
        "ESCROW_KEYS_DIR": str(tmp_path / "keys"),
        "ESCROW_ISSUER_URL": f"http://127.0.0.1:{port}",
    }
    log = (tmp_path / "run.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "escrow", "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(240):
            if _answers(f"http://127.0.0.1:{port}/healthz"):
                break
            assert server.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}", server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()


def test_escrow_run_starts_dev_nodes_and_witnesses_and_stops_them_with_the_server(tmp_path: Path) -> None:
    with _escrow_run(tmp_path) as (base, server):
        health = _get(f"{base}/healthz")
        assert set(health["oprf_nodes"]) == {"1", "2", "3"}  # type: ignore[arg-type]
        output = (tmp_path / "run.log").read_text()
        assert "DEVELOPMENT ONLY" in output
        urls = [
            line.split(": ", 1)[1].split(" ")[0]
            for line in output.splitlines()
            if "development OPRF node" in line
        ]
        assert len(urls) == 3
        for url in urls:
            assert _get(f"{url}/key")["threshold"] == 2
        witnesses = [
            line.split(": ", 1)[1].split(" ")[0]
            for line in output.splitlines()
            if "development witness" in line
        ]
        assert len(witnesses) == 2
        with urllib.request.urlopen(f"{base}/api/v1/log/checkpoint", timeout=10) as answer:  # noqa: S310
            note = answer.read().decode()
        policy = WitnessPolicy.parse((tmp_path / "keys" / "dev-witnesses" / "witness.policy").read_text())
        assert "witnessed by dev-witness-1.localhost/w, dev-witness-2.localhost/w" in check_witnessed(
            note, policy, "the checkpoint"
        )
        urls += witnesses

        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        for url in urls:
            deadline = time.monotonic() + 10
            while _answers(f"{url}/healthz") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _answers(f"{url}/healthz"), f"{url} still answers after the server stopped"


def test_escrow_ceremony_verify_passes_on_the_development_key_of_escrow_run(tmp_path: Path) -> None:
    # Issue 14: the development key comes from a recorded ceremony (every success signature and drill
    # of the simulated holders), so the auditor's CLI finds the transcript complete, not INCOMPLETE.
    with _escrow_run(tmp_path) as (base, _server):
        result = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "escrow", "ceremony", "verify", "--server", base],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 success signatures and 5 drill proofs verified" in result.stdout
    assert "OK: every signature, proof, success signature and drill proof verifies" in result.stdout
    assert "INCOMPLETE" not in result.stdout
