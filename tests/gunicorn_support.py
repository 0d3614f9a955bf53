"""`escrow serve` (gunicorn, escrow/gunicorn_conf.py) in development mode as a real subprocess, for the
tests of issue 17 that need several worker processes: its URL, keys folder, database and log."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 120
DEV_WARNING_PREFIX = "DEVELOPMENT ONLY: "
ESCROW = str(Path(sys.executable).with_name("escrow"))


@dataclass(frozen=True)
class ServedInstance:
    url: str
    keys_dir: Path
    database_url: str
    log_path: Path  # standard error: the JSON lines of gunicorn, its access log and the app
    env: dict[str, str]

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()

    def wait_for_access(self, path: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """Returns the newest access-log record of ``path``, waiting for gunicorn to write it (it
        logs after the response is sent)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [
                r for r in self.log_records() if r.get("logger") == "gunicorn.access" and r["path"] == path
            ]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no access-log line for {path}"
            time.sleep(0.1)

    def log_records(self) -> list[dict[str, Any]]:
        """Every log line, parsed; fails if one is not a JSON object (structured logs). The only plain
        lines allowed are the CLI's own red DEVELOPMENT ONLY warnings, printed before serving."""
        lines = [line for line in self.log_lines() if line.strip()]
        plain = [line for line in lines if not line.startswith("{")]
        assert all(line.startswith(DEV_WARNING_PREFIX) for line in plain), plain
        records = [json.loads(line) for line in lines if line.startswith("{")]
        assert all(isinstance(r, dict) for r in records)
        return records


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_by_gunicorn(
    folder: Path,
    *,
    workers: int = 2,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[ServedInstance]:
    """Runs `escrow serve --workers N` in development mode (dev IdP, OPRF nodes, witnesses, seeded
    accounts) on a fresh SQLite database in ``folder`` (or on ``database_url``, an empty database the
    caller made), with ``extra_env`` on top; stops it with SIGTERM, as a service manager does."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
    env.update(
        ESCROW_DEV_MODE="1",
        ESCROW_DEV_IDP="1",
        ESCROW_ISSUER_URL=url,
        ESCROW_INSTANCE_PATH=str(folder / "instance"),
        ESCROW_KEYS_DIR=str(folder / "keys"),
        ESCROW_DATABASE_URL=database_url or f"sqlite:///{folder / 'escrow.sqlite3'}",
    )
    env.update(extra_env or {})
    log_path = folder / "serve.log"
    with log_path.open("wb") as log, (folder / "serve.out").open("wb") as out:
        process = subprocess.Popen(
            [ESCROW, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, log_path.read_text()[-4000:]
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                assert time.monotonic() < deadline, "escrow serve did not start"
                time.sleep(0.3)
        yield ServedInstance(url, folder / "keys", env["ESCROW_DATABASE_URL"], log_path, env)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
