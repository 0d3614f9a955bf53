"""Real OPRF nodes for the tests: a simulated ceremony's share files, one `escrow oprf-node serve`
process per node on a loopback port (escrow.cli.dev_nodes, as `make run` starts them), and the public
key record a migrated test database gets, as the node ceremony would have installed it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nacl.pwhash
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from escrow.cli.dev_nodes import NodeProcess, free_port, start_nodes, stop_nodes
from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.crypto.ceremony_messages import public_keys
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.holderfile import encrypt_holder_file
from escrow.crypto.ristretto import from_edwards
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.keystore import write_secret_file
from escrow.models import KEY_STATUS_ACTIVE, OprfKey
from escrow.services.dev_ceremony import simulate_ceremony
from escrow.services.oprf_keys import active_oprf_key, oprf_key_event
from escrow.services.transparency import LogSigner, append_event

# The suite registers thousands of persons: generous quotas (tests of the quota set their own).
SUITE_LIMITS = {"minute": 1_000_000, "hour": 10_000_000, "day": 100_000_000}
NODES_ENV = "ESCROW_TEST_OPRF_NODES"
CLIENT_KEY_ENV = "ESCROW_TEST_OPRF_CLIENT_KEY"


@dataclass(slots=True)
class OprfNetwork:
    """A running t-of-n set of nodes, the key they share, and the service key they pin."""

    key: ThresholdPublicKey
    nodes: list[NodeProcess]
    client_seed: bytes
    directory: Path

    @property
    def endpoints(self) -> tuple[tuple[int, str], ...]:
        return tuple((n.index, n.url) for n in self.nodes)

    @property
    def endpoints_text(self) -> str:
        return ",".join(f"{i}={u}" for i, u in self.endpoints)

    def node(self, index: int) -> NodeProcess:
        return next(n for n in self.nodes if n.index == index)

    def install(self, database_url: str) -> None:
        """Puts the network's key into a migrated database, as activating the node ceremony's key does
        (without the log entry: a shared test database's log belongs to each test's own log key)."""
        engine = create_engine(database_url)
        try:
            with engine.begin() as connection:
                now = datetime.now(UTC)
                connection.execute(
                    OprfKey.__table__.insert().values(  # type: ignore[attr-defined]
                        key_id=self.key.key_id,
                        threshold=self.key.threshold,
                        node_count=len(self.key.verification_keys),
                        public_key=bytes(from_edwards(self.key.public_key)),
                        status=KEY_STATUS_ACTIVE,
                        created_at=now,
                        activated_at=now,
                        key_record=canonical_json(self.key.to_dict()).decode(),
                    )
                )
        finally:
            engine.dispose()

    def stop(self) -> None:
        stop_nodes(self.nodes)


def log_oprf_activation(session: Session, log: LogSigner, *, now: datetime) -> None:
    """Appends (and commits) the ``oprf.key_activated`` entry of the database's OPRF key to a test's own
    log, as activating it through the node ceremony does: the officer's reveal checks node answers
    against it (issue 14). install() leaves it out because a shared database's log is each test's."""
    append_event(
        session, log, kind="oprf.key_activated", data=oprf_key_event(active_oprf_key(session)), now=now
    )
    session.commit()


def start_network(
    directory: Path,
    *,
    threshold: int = 2,
    count: int = 3,
    limits: dict[str, int] | None = None,
    client_seed: bytes | None = None,
    workers: int = 0,
) -> OprfNetwork:
    """Runs a simulated ceremony for `count` nodes and starts them (with gunicorn if `workers` > 0);
    the caller stops them."""
    ceremony = simulate_ceremony(threshold, count)
    seed = client_seed if client_seed is not None else secrets.token_bytes(32)
    passphrase_file = directory / "PASSPHRASE"
    passphrase = secrets.token_urlsafe(16)
    directory.mkdir(parents=True, exist_ok=True)
    write_secret_file(passphrase_file, passphrase.encode())
    share_files = {}
    for j, node in enumerate(ceremony.holders, start=1):
        path = directory / f"node-{j}.share"
        data = encrypt_holder_file(
            node,
            passphrase,
            opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        )
        write_secret_file(path, data)
        share_files[j] = path
    nodes = start_nodes(
        share_files,
        passphrase_file=passphrase_file,
        service_key=public_keys(seed, bytes(32)).signing_key,
        data_dir=directory / "data",
        limits=limits if limits is not None else SUITE_LIMITS,
        workers=workers,
    )
    return OprfNetwork(ceremony.key, nodes, seed, directory)


def client_key_text(network: OprfNetwork) -> str:
    return b64u_encode(network.client_seed)


def unreachable_client(network: OprfNetwork) -> ThresholdOprfClient:
    """A real threshold client whose nodes are all down: nothing listens on their loopback ports."""
    nodes = [NodeEndpoint(i, f"http://127.0.0.1:{free_port()}") for i in (1, 2, 3)]
    return ThresholdOprfClient(nodes=nodes, signing_seed=network.client_seed, timeout=0.5)
