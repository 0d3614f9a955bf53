"""HTTP benchmark (issue 17 finding 10; run by `make bench`; figures in docs/benchmarks.md#http).

gunicorn with two sync workers on PostgreSQL, loaded by `wrk` (Debian's package), in one run:
``/healthz`` (the floor: one trivial query), the JWKS, and a platform's online verify
(``POST /api/v1/credentials/verify``: API key, JWKS, signature, one conditional UPDATE), each credential
used once (a Lua script walks a file of fresh credentials). Reported: requests per second of each, and
the JWKS and the verify as ratios to ``/healthz`` measured alternately in the same run (targets: JWKS
>= 0.9, verify >= 0.5). This machine is shared, so only the ratios are meant to be compared.

The database (--database-url, default ``bench17``) is emptied and migrated first. ``--source DIR`` serves
another tree of the package (e.g. ``git archive main | tar -x -C DIR``) on the same data: how the figures
before the caches were taken.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and this file would shadow the standard
# library's `http` package (which urllib and PyJWT import): put the repository there instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import nacl.signing  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from escrow.config import Settings  # noqa: E402
from escrow.crypto.tokens import sign_token  # noqa: E402
from escrow.crypto.transcript import b64u_decode, b64u_encode  # noqa: E402
from escrow.db import make_engine, upgrade_database  # noqa: E402
from escrow.identity.base import VerifiedIdentity  # noqa: E402
from escrow.keystore import LOG_SIGNING_KEY_NAME, load_keyring, load_or_create_secret  # noqa: E402
from escrow.models import Credential  # noqa: E402
from escrow.services.credentials import issue_credential  # noqa: E402
from escrow.services.oprf_keys import install_oprf_key  # noqa: E402
from escrow.services.registration import register_person  # noqa: E402
from escrow.services.transparency import LogSigner  # noqa: E402
from tests.benchmarks.oprf_baseline import HmacBaselineOprf  # noqa: E402
from tests.credentials_support import add_api_key, add_platform, install_key  # noqa: E402
from tests.crypto.support import run_dkg  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench17"
PLATFORM = "forum"
IDENTITY = VerifiedIdentity("oidc", "https://idp.example", "subject-1", "Ada Example", "1990-01-01", "low")
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_VERIFY_LUA = """
local tokens, n, step, key = {}, 0, 1, os.getenv("BENCH_API_KEY")
function setup(thread)
  thread:set("offset", n)
  n = n + 1
end
function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  step = tonumber(os.getenv("BENCH_THREADS"))
  i = offset
end
function request()
  i = i + step
  local body = '{"credential":"' .. tokens[(i % #tokens) + 1] .. '"}'
  return wrk.format("POST", "/api/v1/credentials/verify",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(database_url: str, keys_dir: Path, issuer: str, credentials: int) -> tuple[str, list[str]]:
    """Empties and migrates the database, then registers one platform, its API key, one person and
    ``credentials`` credentials (one through the service layer, the rest copies of it: _copies).
    Returns (API key, credential tokens)."""
    maintenance = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with maintenance.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    maintenance.dispose()
    upgrade_database(database_url)
    settings = Settings.for_tests(database_url, keys_dir)
    keyring = load_keyring(settings)
    # The server's own log key (keys/), so its later appends continue this log.
    log = LogSigner(settings.log_origin, nacl.signing.SigningKey(keyring.log_signing_seed))
    assert load_or_create_secret(keys_dir, LOG_SIGNING_KEY_NAME, 32) == keyring.log_signing_seed
    oprf_key, _ = run_dkg(2, 3)
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    with Session(engine) as session:
        install_key(session, log=log, now=now)
        install_oprf_key(session, oprf_key, log=log, now=now)
        session.commit()
        add_platform(session, PLATFORM)
        api_key = add_api_key(session, PLATFORM)
        # Registration does not reach the OPRF nodes here (tests/benchmarks/credentials.py explains).
        person = register_person(session, identity=IDENTITY, oprf=HmacBaselineOprf(), log=log, now=now)
        issued = issue_credential(
            session,
            person_id=person.account.id,
            platform_id=PLATFORM,
            secret=person.secret,
            keyring=keyring,
            issuer=issuer,
            log=log,
            now=now,
        )
        tokens = _copies(session, issued.token, keyring.signing_seed, credentials)
    engine.dispose()
    return api_key, tokens


def _copies(session: Session, token: str, seed_of: Any, count: int) -> list[str]:
    """Returns ``count`` credentials like ``token`` (one issued through the service), each with its own
    id, signed with the same key and stored with the same envelope: what ``count`` issuances would
    store for one person, in seconds instead of minutes (issuance is benchmarked in credentials.py)."""
    row = session.get(Credential, json.loads(b64u_decode(token.split(".")[1]))["jti"])
    assert row is not None
    header = json.loads(b64u_decode(token.split(".")[0]))
    claims = json.loads(b64u_decode(token.split(".")[1]))
    seed = seed_of(row.signing_key_id)
    tokens, rows = [], []
    for _ in range(count):
        jti = b64u_encode(secrets.token_bytes(16))
        tokens.append(sign_token(seed, {**claims, "jti": jti}, alg=header["alg"]))
        rows.append(
            {
                "jti": jti,
                "platform_id": row.platform_id,
                "pseudonym": row.pseudonym,
                "signing_key_id": row.signing_key_id,
                "envelope": row.envelope,
                "envelope_digest": row.envelope_digest,
                "issued_at": row.issued_at,
                "expires_at": row.expires_at,
            }
        )
    session.execute(insert(Credential), rows)
    session.commit()
    return tokens


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--no-control-socket",
        "escrow:create_app()",
    ]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start") from None
            time.sleep(0.3)


def wrk(
    url: str,
    *,
    threads: int,
    connections: int,
    duration_s: int,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, int]:
    """Returns (requests/s, non-2xx answers) of one wrk run."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    rps = _RPS.search(output)
    if rps is None:
        raise SystemExit(f"wrk printed no rate:\n{output}")
    non_2xx = _NON_2XX.search(output)
    return float(rps.group(1)), int(non_2xx.group(1)) if non_2xx else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("ESCROW_BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="the rate-limit store")
    parser.add_argument("--source", type=Path, help="serve the package from this tree instead")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the three runs")
    parser.add_argument("--credentials", type=int, default=6000, help="fresh credentials for each verify run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    folder = Path(tempfile.mkdtemp(prefix="escrow-bench-http-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"preparing {args.database_url} ({args.credentials * args.rounds} credentials) ...", flush=True)
    api_key, tokens = prepare(args.database_url, folder / "keys", base, args.credentials * args.rounds)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
    env.update(
        ESCROW_DATABASE_URL=args.database_url,
        ESCROW_KEYS_DIR=str(folder / "keys"),
        ESCROW_INSTANCE_PATH=str(folder / "instance"),
        ESCROW_ISSUER_URL=base,
        # Development mode only waives the https issuer; no dev IdP, nodes or witnesses are started.
        ESCROW_DEV_MODE="1",
        ESCROW_LOG_LEVEL="WARNING",
        # As in production: the platform API's limit counted in Redis, shared by the workers (issue 17),
        # set far above what this load reaches (the default, 600 a minute, would answer 429 here).
        ESCROW_RATELIMIT_STORAGE_URI=args.redis_url,
        ESCROW_PLATFORM_RATE_LIMIT="1000000 per minute",
    )
    if args.source is not None:
        env["PYTHONPATH"] = str(args.source.resolve())
    script = folder / "verify.lua"
    script.write_text(_VERIFY_LUA)
    server = start_gunicorn(env, port, args.workers)
    rates: dict[str, list[float]] = {"healthz": [], "jwks": [], "verify": []}
    ratios: dict[str, list[float]] = {"jwks": [], "verify": []}
    try:
        load = {"threads": args.threads, "connections": args.connections, "duration_s": args.duration}
        wrk(base + "/healthz", threads=args.threads, connections=args.connections, duration_s=1)  # warm-up
        for round_ in range(args.rounds):
            batch = folder / f"tokens-{round_}.txt"
            batch.write_text(
                "\n".join(tokens[round_ * args.credentials : (round_ + 1) * args.credentials]) + "\n"
            )
            floor, _ = wrk(base + "/healthz", **load)
            jwks, _ = wrk(base + "/.well-known/jwks.json", **load)
            verify_env = {
                **os.environ,
                "BENCH_TOKENS": str(batch),
                "BENCH_API_KEY": api_key,
                "BENCH_THREADS": str(args.threads),
            }
            verify, refused = wrk(base + "/", **load, script=script, env=verify_env)
            if refused:
                raise SystemExit(f"{refused} verify answers were not 2xx (too few fresh credentials?)")
            for name, value in (("healthz", floor), ("jwks", jwks), ("verify", verify)):
                rates[name].append(value)
            ratios["jwks"].append(jwks / floor)
            ratios["verify"].append(verify / floor)
            print(
                f"round {round_ + 1}: healthz {floor:.0f}/s, jwks {jwks:.0f}/s, verify {verify:.0f}/s",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"source: {args.source or 'this tree'}; gunicorn -w {args.workers} (sync) on {args.database_url}")
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} rounds; medians:")
    for name, values in rates.items():
        print(f"  {name:8} {statistics.median(values):8.0f} req/s")
    print(f"  JWKS / healthz          {statistics.median(ratios['jwks']):.2f}   (target >= 0.9)")
    print(f"  online verify / healthz {statistics.median(ratios['verify']):.2f}   (target >= 0.5)")


if __name__ == "__main__":
    main()
