"""The composition root: builds once what every entry point shares, with no web framework.

``create_app`` (escrow.app) and the server commands (escrow.cli.server) both start here, so the CLI
reaches the database, the keys and the log exactly as a request does, without building a Flask app.

    components = build_components(Settings.from_env())
    with components.session_factory() as session:
        ...
    components.close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import argon2
import nacl.signing
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.client.witness import WitnessEndpoint, WitnessPool
from escrow.config import Settings
from escrow.crypto.note import parse_cosigner_vkey
from escrow.db import make_engine, make_session_factory
from escrow.identity.registry import IdentityProviders, build_identity_providers
from escrow.keystore import Keyring, load_keyring
from escrow.services.passwords import make_password_hasher
from escrow.services.read_cache import ReadCache
from escrow.services.transparency import LogSigner, sequence_pending
from escrow.services.witnessing import witnessed_latest_checkpoint

log = logging.getLogger("escrow.bootstrap")
WITNESS_INTERVAL_S = 1.0


def utc_now() -> datetime:
    """The production clock: the current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Components:
    """What the service is made of, built once per process and passed down to every use case."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    keyring: Keyring
    log: LogSigner
    # The threshold OPRF client (escrow.client.oprf): asks the nodes; services name the key to use.
    oprf: ThresholdOprfClient
    password_hasher: argon2.PasswordHasher
    # The witnesses asked to cosign each new checkpoint (escrow.client.witness, issue 15).
    witnesses: WitnessPool = field(default_factory=lambda: WitnessPool((), timeout=1.0))
    # Every identity provider a person may sign in with (escrow.identity.registry).
    identity_providers: IdentityProviders = field(default_factory=IdentityProviders)
    # Read the time here, never deep inside: services take `now` as an argument (STYLE.md section 5).
    clock: Callable[[], datetime] = field(default=utc_now)
    # This process's copies of the JWKS, API-key lookups and the active signing key (issue 17).
    read_cache: ReadCache = field(default_factory=ReadCache)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def start_witnessing(self, interval: float = WITNESS_INTERVAL_S) -> threading.Thread | None:
        """Starts a thread that, every `interval` seconds, has a new checkpoint cosigned by the witnesses
        not yet asked about it (a checkpoint is also witnessed when first served). None if no witness
        is configured. create_app starts it outside the tests; close() stops it."""
        if not self.witnesses.witnesses:
            return None

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    with self.session_factory() as session:
                        witnessed_latest_checkpoint(session, self.log, self.witnesses, now=self.clock())
                except Exception:  # a database or witness fault must not end the loop; it is logged
                    log.exception("witnessing: the round failed; retrying in %g s", interval)

        thread = threading.Thread(target=loop, name="escrow-witnessing", daemon=True)
        thread.start()
        return thread

    def sequence_now(self, *, wait: bool = True) -> int:
        """Integrates every committed queued log event now (one checkpoint per batch); returns how many."""
        return sequence_pending(
            self.session_factory, self.log, clock=self.clock, batch_max=self.settings.log_batch_max, wait=wait
        )

    @property
    def sequences_in_requests(self) -> bool:
        """SQLite: each request integrates what it queued right after its commit (create_app), and no
        thread does. SQLite's WAL refuses a read transaction's first write once another connection
        committed since it began (SQLITE_BUSY_SNAPSHOT, no busy wait), so a background writer would make
        requests' read-then-write transactions fail at random (docs/transparency.md#sequencing)."""
        return self.engine.dialect.name == "sqlite"

    def start_sequencing(self) -> threading.Thread | None:
        """Starts the thread that integrates queued log events every `log_batch_ms` (issue 15): one
        checkpoint per batch of at most `log_batch_max` events. Every server process runs one; the log
        head's row lock lets one at a time work and the others skip the round. close() stops it.
        None on SQLite (sequences_in_requests)."""
        if self.sequences_in_requests:
            return None
        interval = self.settings.log_batch_ms / 1000

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    sequence_pending(
                        self.session_factory,
                        self.log,
                        clock=self.clock,
                        batch_max=self.settings.log_batch_max,
                    )
                except Exception:  # a database fault must not end the loop; it is logged
                    log.exception("sequencing: the round failed; retrying in %g s", interval)

        thread = threading.Thread(target=loop, name="escrow-sequencer", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Releases the database connections and the OPRF client's threads (commands call it at exit)."""
        self._stopping.set()
        self.engine.dispose()
        self.oprf.close()
        self.witnesses.close()


def build_components(settings: Settings) -> Components:
    """Returns the service's components for ``settings``.

    Creates missing instance secrets in the keys directory (escrow.keystore). Raises ConfigError (or
    its KeyFileError) if settings or key files are malformed.
    """
    keyring = load_keyring(settings)
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    return Components(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        keyring=keyring,
        log=LogSigner(settings.log_origin, nacl.signing.SigningKey(keyring.log_signing_seed)),
        password_hasher=make_password_hasher(settings),
        identity_providers=build_identity_providers(settings, session_factory),
        oprf=ThresholdOprfClient(
            nodes=[NodeEndpoint(index, url) for index, url in settings.oprf_nodes],
            signing_seed=keyring.oprf_client_seed,
            timeout=settings.oprf_timeout_s,
        ),
        witnesses=WitnessPool(
            [WitnessEndpoint(parse_cosigner_vkey(vkey), url) for vkey, url in settings.witnesses],
            timeout=settings.witness_timeout_s,
        ),
    )
