"""Issue 17's kill -9 test: real gunicorn (escrow/gunicorn_conf.py, two sync workers) on a fresh
PostgreSQL database with three real OPRF nodes, under a bounded concurrent load of acknowledged writes
(credential issuance by a signed-in person, redemption by a platform, each with an Idempotency-Key and
retried with it until answered). One worker is killed with SIGKILL, then the master; gunicorn is
started again on the same database. Then every write that got a 2xx answer is present exactly once,
nothing was written twice for one key, the transparency log has no gap and no duplicate and has
integrated every queued event, and `escrow audit verify` passes against the restarted server.

PostgreSQL only (the CI runs it with `make test-pg`): gunicorn with two workers needs a database that
several processes write at once, and a Redis for the shared rate limits. Bounded: about a minute.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from escrow.bootstrap import build_components
from escrow.cli.main import cli
from escrow.config import Settings
from escrow.identity.officer import DocumentCheck, verify_document
from escrow.models import Credential, LogCommitmentOpening, LogEntry, LogQueued, LogState
from escrow.services.instance import init_instance
from escrow.services.passwords import make_password_hasher
from escrow.services.platforms import create_api_key, register_platform
from escrow.services.registration import register_person
from tests.conftest import TEST_DATABASE_URL_ENV
from tests.credentials_support import install_key
from tests.gunicorn_support import free_port
from tests.oprf_support import OprfNetwork, client_key_text

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get(TEST_DATABASE_URL_ENV),
        reason="needs PostgreSQL (ESCROW_TEST_DATABASE_URL; `make test-pg` sets it): two gunicorn workers "
        "write one database at once",
    ),
    pytest.mark.skipif(
        not os.environ.get("ESCROW_TEST_REDIS_URL"),
        reason="ESCROW_TEST_REDIS_URL is not set (make test-pg sets it): two workers share rate limits",
    ),
]

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
PASSWORD = "kill nine horse battery staple"
DOCUMENT = DocumentCheck("passport", "NLD", "KILL90001", "Kill Nine", "1980-01-01")
PLATFORM = "forum"
WRITERS = 3  # issuing threads; one more redeems what they were given
ACKS_BEFORE_WORKER_KILL = 15
ACKS_BEFORE_MASTER_KILL = 15  # more, after the killed worker was replaced
ACKS_BY_ORPHANS = 5  # answered by the workers of the killed master
ACKS_AFTER_RESTART = 10
REQUEST_TIMEOUT_S = 20
STEP_TIMEOUT_S = 30  # each phase; the whole test stays well inside 90 s
# A claim left by a killed worker would answer 409 for its lease (2 minutes), and then run again: the
# bug this test found (issue 17 finding 6 under kill -9). Claim and write now commit together.
IN_FLIGHT_GIVE_UP_S = 3.0


@dataclass
class Ledger:
    """What the clients were told: acknowledged issuances and redemptions, by Idempotency-Key, and the
    keys whose answer never came (their request died with a worker or the master)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> the 201 body
    redeemed: dict[str, str] = field(default_factory=dict)  # key -> credential id of the 200
    unanswered_issuances: list[str] = field(default_factory=list)
    unanswered_redemptions: list[str] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)
    replayed: int = 0

    def acknowledged(self) -> int:
        with self.lock:
            return len(self.issued)


class Gunicorn:
    """`gunicorn -c python:escrow.gunicorn_conf 'escrow:create_app()'` with two workers, in its own
    process group (so the test can end the orphans a killed master leaves)."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._env, self._port, self._log_path = env, port, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command
                [
                    GUNICORN,
                    "-c",
                    "python:escrow.gunicorn_conf",
                    f"--bind=127.0.0.1:{self._port}",
                    "--workers=2",
                    "escrow:create_app()",
                ],
                env=self._env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + STEP_TIMEOUT_S * 2
        while len(self.workers()) < 2 or not _healthy(self.url):
            assert self.process.poll() is None, self._log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)

    def workers(self) -> list[int]:
        assert self.process is not None
        return _children(self.process.pid)

    def kill_group(self) -> None:
        """Ends what is left of this gunicorn (master and workers), by its process group."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # every process of it has gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2):  # noqa: S310 - loopback
            return True
    except OSError:
        return False


def _wait_until(condition: Any, what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _seed(env: dict[str, str]) -> tuple[str, str]:
    """The instance's keys and secrets, an escrow key, the platform with an API key and one
    officer-verified person with a password, all logged with the server's own log key. Returns
    (the API key, the log's verifier key)."""
    settings = Settings.from_env(env)
    init_instance(settings)
    components = build_components(settings)
    now = datetime.now(UTC)
    try:
        with components.session_factory() as session:
            install_key(session, log=components.log, now=now)
            register_platform(
                session,
                platform_id=PLATFORM,
                name="Forum",
                contact="abuse@example.org",
                redirect_uris=["https://example.org/cb"],
                log=components.log,
                now=now,
            )
            api_key = create_api_key(session, platform_id=PLATFORM, log=components.log, now=now).api_key
            register_person(
                session,
                identity=verify_document(DOCUMENT, today=date(2026, 12, 2)),
                oprf=components.oprf,
                log=components.log,
                now=now,
                password=PASSWORD,
                hasher=make_password_hasher(settings),
            )
        return api_key, components.log.verifier_key
    finally:
        components.close()


def _sign_in(base: str) -> dict[str, str]:
    """Signs the person in with a password over HTTP; returns the headers of their API calls."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/account/login", timeout=REQUEST_TIMEOUT_S).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None, page[:500]
    form = {
        "csrf_token": token.group(1),
        "issuing_country": DOCUMENT.issuing_country,
        "document_number": DOCUMENT.document_number,
        "password": PASSWORD,
    }
    opener.open(f"{base}/account/login", data=urllib.parse.urlencode(form).encode()).read()
    session = json.loads(opener.open(f"{base}/api/v1/session", timeout=REQUEST_TIMEOUT_S).read())
    return {
        "Content-Type": "application/json",
        "X-CSRFToken": session["csrf_token"],
        "Cookie": "; ".join(f"{c.name}={c.value}" for c in jar),
    }


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int | str, Any, bool]:
    """Returns (status or the connection error's class, the JSON body, whether it was replayed)."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:  # noqa: S310
            replayed = answer.headers.get("Idempotent-Replayed") == "true"
            return answer.status, json.loads(answer.read()), replayed
    except urllib.error.HTTPError as e:
        return e.code, e.read(), False
    except (OSError, ValueError) as e:  # refused, reset, timed out, a truncated answer
        return type(e).__name__, None, False


def _until_answered(
    url: str, body: dict[str, Any], headers: dict[str, str], ledger: Ledger, ok: int, stop: threading.Event
) -> Any:
    """Sends one write with a fresh Idempotency-Key and retries it with the same key until a 2xx
    answer; returns (the key, its body), or (the key, None) when the answer is lost for good (a claim
    a killed worker left answers 409: the test then fails)."""
    key = str(uuid.uuid4())
    headers = {**headers, "Idempotency-Key": f'"{key}"'}
    in_flight_since: float | None = None
    hard_stop = time.monotonic() + STEP_TIMEOUT_S * 2
    while time.monotonic() < hard_stop:
        status, answer, replayed = _post(url, body, headers)
        with ledger.lock:
            ledger.statuses[status] += 1
            ledger.replayed += replayed
        if status == ok:
            return key, answer
        if status == 409:  # the claim of an attempt that was running, or whose worker was killed
            in_flight_since = in_flight_since or time.monotonic()
            if time.monotonic() - in_flight_since > IN_FLIGHT_GIVE_UP_S:
                return key, None
        elif isinstance(status, int) and status != 503:
            raise AssertionError(f"{url} answered {status}: {answer!r}")
        time.sleep(0.1)
    return key, None


def _issue_loop(
    base: str, headers: dict[str, str], ledger: Ledger, stop: threading.Event, queue: list[str]
) -> None:
    while not stop.is_set():
        key, answer = _until_answered(
            base + "/api/v1/me/credentials", {"platform_id": PLATFORM}, headers, ledger, 201, stop
        )
        with ledger.lock:
            if answer is None:
                ledger.unanswered_issuances.append(key)
            else:
                assert key not in ledger.issued
                ledger.issued[key] = answer
                queue.append(answer["credential"])


def _redeem_loop(base: str, api_key: str, ledger: Ledger, stop: threading.Event, queue: list[str]) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    while not stop.is_set():
        with ledger.lock:
            token = queue.pop(0) if queue else None
        if token is None:
            time.sleep(0.05)
            continue
        key, answer = _until_answered(
            base + "/api/v1/credentials/verify", {"credential": token}, headers, ledger, 200, stop
        )
        with ledger.lock:
            if answer is None:
                ledger.unanswered_redemptions.append(key)
            else:
                ledger.redeemed[key] = answer["credential_id"]


@pytest.fixture
def gunicorn_env(
    fresh_database_url: str, oprf_network: OprfNetwork, tmp_path: Path
) -> tuple[dict[str, str], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCROW_")}
    env.update(
        ESCROW_DATABASE_URL=fresh_database_url,
        ESCROW_KEYS_DIR=str(tmp_path / "keys"),
        ESCROW_INSTANCE_PATH=str(tmp_path / "instance"),
        ESCROW_ISSUER_URL=f"http://127.0.0.1:{port}",
        # Development mode for plain-http cookies on loopback; no dev IdP, the suite's real OPRF nodes.
        ESCROW_DEV_MODE="1",
        ESCROW_DEV_IDP="0",
        ESCROW_OPRF_NODES=oprf_network.endpoints_text,
        ESCROW_OPRF_CLIENT_KEY=client_key_text(oprf_network),
        ESCROW_RATELIMIT_STORAGE_URI=os.environ["ESCROW_TEST_REDIS_URL"],
        ESCROW_LOGIN_RATE_LIMIT="1000 per minute",
        ESCROW_PLATFORM_RATE_LIMIT="100000 per minute",
        ESCROW_LOG_LEVEL="WARNING",
    )
    return env, port


def test_kill_9_of_a_worker_and_the_master_under_load_loses_no_acknowledged_write_and_the_log_verifies(
    gunicorn_env: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    started = time.monotonic()
    env, port = gunicorn_env
    api_key, verifier_key = _seed(env)
    server = Gunicorn(env, port, tmp_path / "gunicorn.log")
    restarted = Gunicorn(env, port, tmp_path / "gunicorn.log")
    ledger, stop, queue = Ledger(), threading.Event(), []
    threads: list[threading.Thread] = []
    try:
        # Given gunicorn with two workers, a signed-in person issuing and a platform redeeming
        server.start()
        headers = _sign_in(server.url)
        threads = [
            threading.Thread(target=_issue_loop, args=(server.url, headers, ledger, stop, queue), daemon=True)
            for _ in range(WRITERS)
        ]
        threads.append(
            threading.Thread(
                target=_redeem_loop, args=(server.url, api_key, ledger, stop, queue), daemon=True
            )
        )
        for thread in threads:
            thread.start()
        _wait_until(lambda: ledger.acknowledged() >= ACKS_BEFORE_WORKER_KILL, "no load before the kill")

        # When one worker is killed with SIGKILL mid-load (the master starts another)
        first_workers = server.workers()
        victim = first_workers[0]
        os.kill(victim, signal.SIGKILL)
        _wait_until(lambda: victim not in server.workers() and len(server.workers()) == 2, "no new worker")
        acked = ledger.acknowledged()
        _wait_until(lambda: ledger.acknowledged() >= acked + ACKS_BEFORE_MASTER_KILL, "no load after it")

        # And then the master is killed with SIGKILL. Its workers keep serving while requests keep
        # coming (gunicorn's sync worker looks at its parent only when no connection waits), so their
        # answers count too; then they are killed as a service manager ends the rest of the unit's
        # control group (systemd's KillMode=control-group), with SIGKILL, mid-load
        orphans = server.workers()
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        acked = ledger.acknowledged()
        _wait_until(lambda: ledger.acknowledged() >= acked + ACKS_BY_ORPHANS, "the orphans served nothing")
        server.kill_group()
        _wait_until(lambda: not any(_alive(pid) for pid in orphans), "the orphaned workers stayed")

        # And gunicorn is started again on the same database, while the clients keep retrying
        restarted.start()
        acked = ledger.acknowledged()
        _wait_until(lambda: ledger.acknowledged() >= acked + ACKS_AFTER_RESTART, "no load after restart")
        stop.set()
        for thread in threads:
            thread.join(timeout=STEP_TIMEOUT_S)
        assert not any(thread.is_alive() for thread in threads)

        # Then the restarted server's sequencers integrate every queued event (and so does one run of
        # `escrow log sequence --once`, which finds nothing left or takes the rest)
        sequenced = subprocess.run(  # noqa: S603 - our own command
            [str(Path(sys.executable).with_name("escrow")), "log", "sequence", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
        assert sequenced.returncode == 0, sequenced.stderr
        engine = create_engine(env["ESCROW_DATABASE_URL"])
        try:
            with engine.connect() as connection:
                queued = connection.scalars(select(LogQueued.id)).all()
                indexes = connection.scalars(select(LogEntry.idx).order_by(LogEntry.idx)).all()
                head = connection.scalar(select(LogState.size))
                credentials = Counter(connection.scalars(select(Credential.jti)).all())
                redeemed = set(
                    connection.scalars(select(Credential.jti).where(Credential.redeemed_at.is_not(None)))
                )
                logged = Counter(
                    connection.scalars(
                        select(LogCommitmentOpening.value)
                        .join(LogEntry, LogEntry.idx == LogCommitmentOpening.entry_idx)
                        .where(
                            LogEntry.kind == "credential.issued", LogCommitmentOpening.name == "credential_id"
                        )
                    ).all()
                )
        finally:
            engine.dispose()
        assert queued == [], "queued events were not integrated after the restart"
        assert indexes == list(range(len(indexes))), "the log has a gap or a duplicate"
        assert head == len(indexes)

        # And every acknowledged issuance is present exactly once, and logged exactly once
        acknowledged = [answer["credential_id"] for answer in ledger.issued.values()]
        assert len(acknowledged) == len(set(acknowledged)), "two keys were given one credential"
        assert set(acknowledged) <= set(credentials), "an acknowledged credential was lost"
        assert all(n == 1 for n in logged.values()), "a credential was logged twice"
        assert set(logged) == set(credentials), "a credential without its log entry, or the reverse"
        # And every write was answered in the end (a request cut off by a kill either committed, and
        # its retry got the stored answer, or left nothing, and its retry ran it), so the database holds
        # exactly the acknowledged credentials: none lost, none made twice for one key
        assert ledger.unanswered_issuances == [], "a killed worker left a claim without its answer"
        assert ledger.unanswered_redemptions == [], "a killed worker left a claim without its answer"
        extra = set(credentials) - set(acknowledged)
        assert extra == set(), "a credential was committed that no answer named"
        # And every acknowledged redemption is recorded
        assert set(ledger.redeemed.values()) <= redeemed, "an acknowledged redemption was lost"
        assert len(set(ledger.redeemed.values())) == len(ledger.redeemed)

        # And the CLI auditor verifies the whole log against the restarted server
        state = tmp_path / "audit-state.json"
        audit = CliRunner().invoke(
            cli, ["audit", "verify", "--server", restarted.url, "--key", verifier_key, "--state", str(state)]
        )
        assert audit.exit_code == 0, audit.output
        assert f"verified at size {len(indexes)}" in audit.output, audit.output
        # And the kills were felt: some requests lost their connection and were retried
        assert sum(n for status, n in ledger.statuses.items() if isinstance(status, str)) > 0
        print(
            f"kill -9 test: {len(acknowledged)} issuances and {len(ledger.redeemed)} redemptions "
            f"acknowledged, {ledger.replayed} answers replayed to a retry, "
            f"log size {len(indexes)}, statuses {dict(ledger.statuses)}, "
            f"{time.monotonic() - started:.1f} s"
        )
        assert time.monotonic() - started < 90
    finally:
        stop.set()
        server.kill_group()
        restarted.kill_group()


def test_issue_17_finding_6_a_worker_killed_mid_issuance_leaves_no_claim_and_the_retry_is_issued_at_once(
    gunicorn_env: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    env, port = gunicorn_env
    _seed(env)
    server = Gunicorn(env, port, tmp_path / "gunicorn.log")
    engine = create_engine(env["ESCROW_DATABASE_URL"])
    try:
        server.start()
        headers = _sign_in(server.url)
        issue = server.url + "/api/v1/me/credentials"
        assert _post(issue, {"platform_id": PLATFORM}, headers)[0] == 201  # the signing key exists
        # Given an issuance with an Idempotency-Key held up inside its transaction (the signing key's
        # row is locked by another connection, as a concurrent issuance would)
        keyed = {**headers, "Idempotency-Key": f'"{uuid.uuid4()}"'}
        with engine.connect() as blocker:
            blocker.execute(text("SELECT kid FROM signing_keys FOR UPDATE"))
            cut_off: list[Any] = []
            attempt = threading.Thread(
                target=lambda: cut_off.append(_post(issue, {"platform_id": PLATFORM}, keyed)), daemon=True
            )
            attempt.start()
            _wait_until(lambda: _waiting_on_a_lock(engine), "the issuance did not wait for the lock")

            # When its worker is killed with SIGKILL (both are: one of them holds it), then the lock goes
            for pid in server.workers():
                os.kill(pid, signal.SIGKILL)
            attempt.join(timeout=STEP_TIMEOUT_S)
            assert cut_off, "the cut-off request never ended"
            assert isinstance(cut_off[0][0], str), cut_off  # the client lost its connection
            blocker.rollback()
        _wait_until(lambda: len(server.workers()) == 2 and _healthy(server.url), "no new workers")

        # Then the retry with the same key is issued at once (not 409 for a 2-minute lease, after which
        # it would have run again, next to whatever the cut-off request had committed)
        status, answer, replayed = _post(issue, {"platform_id": PLATFORM}, keyed)
        assert status == 201, answer
        assert not replayed
        # And the database holds the two credentials that were answered, and the key's answer
        with engine.connect() as connection:
            assert set(connection.scalars(select(Credential.jti))) == {
                _only_credential_other_than(connection, answer["credential_id"]),
                answer["credential_id"],
            }
            assert connection.scalar(text("SELECT count(*) FROM idempotency_keys WHERE status = 201")) == 1
        assert _post(issue, {"platform_id": PLATFORM}, keyed)[1] == answer  # replayed from now on
    finally:
        engine.dispose()
        server.kill_group()


def _waiting_on_a_lock(engine: Any) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def _only_credential_other_than(connection: Any, jti: str) -> str:
    (other,) = connection.scalars(select(Credential.jti).where(Credential.jti != jti)).all()
    return str(other)
