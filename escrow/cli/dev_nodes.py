"""Starting OPRF nodes and witnesses as real processes on loopback ports: `escrow run` in development
mode, `make run`, and the test suite's fixtures all use this (a node or a witness is a separate
service, never in-process)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from escrow.crypto.transcript import b64u_encode
from escrow.errors import ConfigError

STARTUP_TIMEOUT_S: Final = 30.0
# Where `escrow run` keeps the development witnesses' keys and the policy naming them (issue 15).
DEV_WITNESS_DIR: Final = "dev-witnesses"
DEV_WITNESS_POLICY: Final = "witness.policy"


def free_port(host: str = "127.0.0.1") -> int:
    """Returns a TCP port that was free a moment ago on `host`."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class NodeProcess:
    """One running node: its index, URL, process, and how it was started (to restart it)."""

    index: int
    url: str
    process: subprocess.Popen[bytes]
    command: list[str]
    env: dict[str, str] = field(repr=False)
    log_path: Path
    label: str = "OPRF node"

    def kill(self) -> None:
        """SIGKILL: the node dies mid-whatever, as a crash or a pulled cable would."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """Starts the node again with the same share, port and ledger."""
        self.stop()
        self.process = _spawn(self.command, self.env, self.log_path)
        wait_until_ready(self)

    def is_running(self) -> bool:
        return self.process.poll() is None


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    try:
        return subprocess.Popen(  # noqa: S603 - our own command, no shell
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    finally:
        log.close()


def wait_until_ready(node: NodeProcess, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Returns once the node answers /healthz. Raises ConfigError (with its log) if it dies or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            raise ConfigError(
                f"{node.label} {node.index} exited at start: {node.log_path.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(f"{node.url}/healthz", timeout=1) as answer:  # noqa: S310 - our URL
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    node.kill()
    raise ConfigError(
        f"{node.label} {node.index} did not start within {timeout:g} s: {node.log_path.read_text()[-2000:]}"
    )


def start_nodes(
    share_files: Mapping[int, Path],
    *,
    passphrase_file: Path,
    service_key: bytes,
    data_dir: Path,
    limits: Mapping[str, int] | None = None,
    host: str = "127.0.0.1",
    workers: int = 0,
) -> list[NodeProcess]:
    """Starts one `escrow oprf-node serve` process per share file, on free loopback ports, and waits
    until each answers. `workers` > 0 serves each with gunicorn (as in production) instead of the
    built-in server. Raises ConfigError if one does not start (the others are stopped)."""
    nodes: list[NodeProcess] = []
    try:
        for index, share_file in sorted(share_files.items()):
            port = free_port(host)
            node_dir = data_dir / f"node-{index}"
            node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            command = [
                sys.executable, "-m", "escrow", "oprf-node", "serve",
                "--share-file", str(share_file),
                "--passphrase-file", str(passphrase_file),
                "--service-key", b64u_encode(service_key),
                "--data-dir", str(node_dir),
                "--host", host, "--port", str(port),
            ]  # fmt: skip
            if workers:
                command += ["--workers", str(workers)]
            for window, value in (limits or {}).items():
                command += [f"--limit-{window}", str(value)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
            log_path = node_dir / "node.log"
            node = NodeProcess(
                index, f"http://{host}:{port}", _spawn(command, env, log_path), command, env, log_path
            )
            nodes.append(node)
        for node in nodes:
            wait_until_ready(node)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: list[NodeProcess]) -> None:
    for node in nodes:
        node.stop()


@dataclass(frozen=True, slots=True)
class WitnessSpec:
    """A development witness to start: its index (for its folder), key name and key file."""

    index: int
    name: str
    key_file: Path


def start_witnesses(
    specs: list[WitnessSpec], *, log_keys: list[str], data_dir: Path, host: str = "127.0.0.1"
) -> list[NodeProcess]:
    """Starts one `escrow witness serve` process per spec on a free loopback port, witnessing the logs
    whose verifier keys are `log_keys`, and waits until each answers. Raises ConfigError if one does
    not start (the others are stopped)."""
    witnesses: list[NodeProcess] = []
    try:
        for spec in specs:
            port = free_port(host)
            folder = data_dir / f"witness-{spec.index}"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            command = [
                sys.executable, "-m", "escrow", "witness", "serve",
                "--name", spec.name, "--key-file", str(spec.key_file), "--data-dir", str(folder),
                *[arg for key in log_keys for arg in ("--log", key)],
                "--host", host, "--port", str(port),
            ]  # fmt: skip
            env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
            log_path = folder / "witness.log"
            witnesses.append(
                NodeProcess(
                    spec.index,
                    f"http://{host}:{port}",
                    _spawn(command, env, log_path),
                    command,
                    env,
                    log_path,
                    label="witness",
                )
            )
        for witness in witnesses:
            wait_until_ready(witness)
    except BaseException:
        stop_nodes(witnesses)
        raise
    return witnesses
