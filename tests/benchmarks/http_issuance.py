"""Benchmark: credential issuance over HTTP against /healthz (issue 15; run by `make bench`).

Starts the real service under gunicorn (two workers, sync) on a fresh PostgreSQL database, three real
OPRF nodes (tests/oprf_support.start_network), an escrow key from a recorded ceremony, a platform and an
officer-verified person who signs in with a password over HTTP. Then `wrk` (Debian's package) drives,
in alternating rounds of the same length, `GET /healthz` and `POST /api/v1/me/credentials` (the
person's session cookie and CSRF header, a JSON body). Reported: requests/s of each and the ratio of
the medians, issuance / healthz (issue 15 target: >= 0.3; it was 0.07 to 0.10 with one committed
transaction and one signed checkpoint per log event). After the run the log is sequenced and every
issued credential is checked to be in the log.

    .venv/bin/python tests/benchmarks/http_issuance.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import create_engine, func, make_url, select, text  # noqa: E402

from escrow.config import Settings  # noqa: E402
from escrow.db import make_engine, make_session_factory, upgrade_database  # noqa: E402
from escrow.identity.officer import DocumentCheck, verify_document  # noqa: E402
from escrow.models import Credential, LogEntry  # noqa: E402
from escrow.services.passwords import make_password_hasher  # noqa: E402
from escrow.services.registration import register_person  # noqa: E402
from tests.credentials_support import add_platform, install_key, make_log  # noqa: E402
from tests.oprf_support import CLIENT_KEY_ENV, client_key_text, start_network  # noqa: E402

PASSWORD = "bench horse battery staple"
DOCUMENT = DocumentCheck("passport", "NLD", "BENCH1234", "Bench Person", "1980-01-01")
_WRK_LINE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_LUA = """
wrk.method = "POST"
wrk.body = '{"platform_id": "forum"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "%(cookie)s"
wrk.headers["X-CSRFToken"] = "%(csrf)s"
local errors = 0
response = function(status, headers, body)
  if status ~= 201 then
    errors = errors + 1
    if errors <= 3 then io.stderr:write("unexpected status " .. status .. ": " .. body .. "\\n") end
  end
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_database(server_url: str) -> str:
    base = make_url(server_url)
    name = f"{base.database or 'bench'}_http_issuance"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    return url


def _seed(url: str, env: dict[str, str]) -> None:
    """An escrow key, the platform `forum` and one officer-verified person with a password."""
    settings = Settings.from_env(env)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        install_key(session)
        add_platform(session, "forum")
        register_person(
            session,
            identity=verify_document(DOCUMENT, today=date(2026, 12, 2)),
            oprf=_oprf_client(settings),
            log=make_log(),
            now=datetime.now(UTC),
            password=PASSWORD,
            hasher=make_password_hasher(settings),
        )
    engine.dispose()


def _oprf_client(settings: Settings):  # type: ignore[no-untyped-def]
    from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
    from escrow.keystore import load_keyring

    keyring = load_keyring(settings)
    return ThresholdOprfClient(
        nodes=[NodeEndpoint(i, u) for i, u in settings.oprf_nodes], signing_seed=keyring.oprf_client_seed
    )


def _sign_in(base: str) -> tuple[str, str]:
    """Signs the person in with a password over HTTP; returns (Cookie header, CSRF token)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/account/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise SystemExit("no CSRF token on /account/login")
    form = urllib.parse.urlencode(
        {
            "csrf_token": token.group(1),
            "issuing_country": DOCUMENT.issuing_country,
            "document_number": DOCUMENT.document_number,
            "password": PASSWORD,
        }
    ).encode()
    opener.open(f"{base}/account/login", data=form).read()
    csrf = json.loads(opener.open(f"{base}/api/v1/session").read())["csrf_token"]
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/v1/me/credentials",
        data=b'{"platform_id": "forum"}',
        headers={"Content-Type": "application/json", "X-CSRFToken": csrf, "Cookie": cookie},
    )
    with urllib.request.urlopen(request) as answer:  # noqa: S310 - loopback
        if answer.status != 201:
            raise SystemExit(f"issuance answered {answer.status}")
    return cookie, csrf


def _wrk(url: str, seconds: int, connections: int, script: Path | None) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    found = _WRK_LINE.search(out.stdout)
    if found is None or "Non-2xx" in out.stdout:
        raise SystemExit(f"wrk failed or saw errors:\n{out.stdout}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="escrow-bench-http-"))
    network = start_network(tmp / "oprf", workers=1)
    server = None
    try:
        url = _fresh_database(args.database_url)
        network.install(url)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "ESCROW_DATABASE_URL": url,
            "ESCROW_KEYS_DIR": str(tmp / "keys"),
            "ESCROW_INSTANCE_PATH": str(tmp / "instance"),
            "ESCROW_ISSUER_URL": base,
            "ESCROW_DEV_MODE": "1",
            "ESCROW_DEV_IDP": "0",
            "ESCROW_OPRF_NODES": network.endpoints_text,
            CLIENT_KEY_ENV: client_key_text(network),
            "ESCROW_OPRF_CLIENT_KEY": client_key_text(network),
            "ESCROW_RATELIMIT_STORAGE_URI": args.redis_url,
            "ESCROW_LOGIN_RATE_LIMIT": "1000 per minute",
            "ESCROW_LOG_LEVEL": "WARNING",
        }
        subprocess.run([sys.executable, "-m", "escrow", "init"], env=env, check=True, capture_output=True)  # noqa: S603
        _seed(url, env)
        server = subprocess.Popen(  # noqa: S603 - our own command
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--workers=2",
                f"--bind=127.0.0.1:{port}",
                "--log-level=warning",
                "escrow.app:create_app()",
            ],
            env=env,
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.1)
        cookie, csrf = _sign_in(base)
        script = tmp / "issue.lua"
        script.write_text(_LUA % {"cookie": cookie, "csrf": csrf})
        health, issuance = [], []
        for _ in range(args.rounds):
            health.append(_wrk(f"{base}/healthz", args.seconds, args.connections, None))
            issuance.append(_wrk(f"{base}/api/v1/me/credentials", args.seconds, args.connections, script))
        time.sleep(1.0)  # the sequencer threads' last round
        engine = make_engine(url)
        with engine.connect() as connection:
            issued = connection.execute(select(func.count()).select_from(Credential)).scalar_one()
            logged = connection.execute(
                select(func.count()).select_from(LogEntry).where(LogEntry.kind == "credential.issued")
            ).scalar_one()
        engine.dispose()
        print(
            f"gunicorn -w 2 on PostgreSQL, wrk -t2 -c{args.connections} -d{args.seconds}s, "
            f"{args.rounds} rounds"
        )
        print("| round | /healthz (req/s) | POST /api/v1/me/credentials (req/s) |")
        print("|---:|---:|---:|")
        for i, (h, c) in enumerate(zip(health, issuance, strict=True), start=1):
            print(f"| {i} | {h:.0f} | {c:.0f} |")
        ratio = statistics.median(issuance) / statistics.median(health)
        print(
            f"issuance / healthz (medians): {ratio:.2f} "
            f"(target >= 0.3: {'met' if ratio >= 0.3 else 'MISSED'})"
        )
        print(f"credentials issued: {issued}; credential.issued entries in the log: {logged}")
        if logged != issued:
            raise SystemExit("some issued credentials are not in the log")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        network.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
