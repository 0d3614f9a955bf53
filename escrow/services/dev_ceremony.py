"""DEVELOPMENT ONLY: the dealerless ceremony with every key-holder in one process, and the dev-mode key.

`simulate_ceremony` runs the same protocol as the relay (every dealer deals, shares travel in sealed
boxes to each holder's X25519 key, every holder checks every share against the commitments and
finalises, then a drill proves every share works), but one process sees every share on the way, so
the key it makes protects nothing. It exists for `make run`, demos and tests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.ceremony_messages import generate_holder_keys, open_share, public_keys, seal_share
from escrow.crypto.dkg import CeremonyParameters, ThresholdPublicKey, deal, finalise_ceremony
from escrow.crypto.holderfile import HolderSecrets, ShareRecord, encrypt_holder_file
from escrow.crypto.seal import combine_and_open, partial_decrypt, seal
from escrow.crypto.transcript import sha256
from escrow.errors import InvalidStateError
from escrow.keystore import ensure_keys_dir, write_secret_file
from escrow.models import KEY_STATUS_ACTIVE, Ceremony, CeremonyParticipant, KeyHolder, OprfKey
from escrow.services.ceremony import DEV_CONTEXT_PREFIX
from escrow.services.escrow_keys import active_escrow_key, install_escrow_key
from escrow.services.oprf_keys import install_oprf_key
from escrow.services.transparency import LogSigner

WARNING = (
    "DEVELOPMENT ONLY: this simulated ceremony ran every key-holder in one process, which saw every "
    "share. The key it made protects nothing. Never use it for real identities."
)
DEV_HOLDERS_DIR = "dev-holders"
PASSPHRASE_FILE = "PASSPHRASE"  # noqa: S105 - a file name
DEV_THRESHOLD = 3
DEV_HOLDERS = 5


@dataclass(frozen=True, slots=True)
class SimulatedCeremony:
    """The key a simulation made and each holder's secrets (shares included: development only)."""

    key: ThresholdPublicKey
    holders: tuple[HolderSecrets, ...]


def simulate_ceremony(threshold: int, holders: int) -> SimulatedCeremony:
    """Runs the dealerless ceremony for `holders` key-holders in this process; returns key and secrets.

    Raises InvalidParameterError for a bad threshold or holder count.
    """
    params = CeremonyParameters.fresh(
        threshold, holders, b"escrow simulated ceremony " + secrets.token_bytes(16)
    )
    identities = {j: generate_holder_keys() for j in params.participants}
    exchange = {j: public_keys(*identities[j]).exchange_key for j in params.participants}
    dealings = {i: deal(params, i) for i in params.participants}
    broadcasts = {i: d.broadcast for i, d in dealings.items()}
    sealed = {(i, j): seal_share(exchange[j], s) for i, d in dealings.items() for j, s in d.shares.items()}
    records = {}
    for j in params.participants:
        received = {i: open_share(identities[j][1], sealed[(i, j)]) for i in params.participants}
        share, key = finalise_ceremony(params, j, broadcasts, received)
        records[j] = ShareRecord(key, share)
    key = records[params.participants[0]].key
    # The drill, as in the real ceremony: every share decrypts, with proof, and any t of them open.
    payload = secrets.token_bytes(32)
    envelope = seal(key, payload, {"drill": "simulated"})
    digest = sha256(b"escrow/v1/simulated-drill")
    partials = [partial_decrypt(records[j].share, envelope, digest) for j in params.participants]
    if combine_and_open(key, envelope, digest, partials).identity != payload:  # pragma: no cover
        raise InvalidStateError("the simulated drill failed")
    return SimulatedCeremony(
        key,
        tuple(
            HolderSecrets(f"dev holder {j}", identities[j][0], identities[j][1], (records[j],))
            for j in params.participants
        ),
    )


def write_holder_files(
    ceremony: SimulatedCeremony, out_dir: Path, passphrase: str, *, opslimit: int, memlimit: int
) -> list[Path]:
    """Writes holder-<j>.escrow (mode 0600, never overwriting) for each holder; returns the paths.

    Raises FileExistsError if a holder file is already there.
    """
    ensure_keys_dir(out_dir)
    paths = []
    for j, holder in enumerate(ceremony.holders, start=1):
        path = out_dir / f"holder-{j}.escrow"
        write_secret_file(path, encrypt_holder_file(holder, passphrase, opslimit=opslimit, memlimit=memlimit))
        paths.append(path)
    return paths


def record_holders(session: Session, ceremony: SimulatedCeremony, *, now: datetime) -> None:
    """Records the simulated holders as enrolled key-holders of the key, with their share indices, so
    that they can sign in to the holder API and approve disclosures with their files (issue 8: demo)."""
    record = Ceremony(
        kind="create",
        status="active",
        threshold=ceremony.key.threshold,
        context=DEV_CONTEXT_PREFIX + secrets.token_hex(16),
        key_id=ceremony.key.key_id,
        created_at=now,
        finished_at=now,
    )
    session.add(record)
    session.flush()
    for holder in ceremony.holders:
        keys = public_keys(holder.signing_seed, holder.exchange_secret)
        row = KeyHolder(
            name=holder.name,
            organisation=f"Development trustee {holder.shares[0].share.index} (simulated)",
            contact="dev@localhost",
            status="enrolled",
            invite_digest=None,
            invited_at=now,
            invite_expires_at=now,
            enrolled_at=now,
            signing_key=keys.signing_key,
            exchange_key=keys.exchange_key,
        )
        session.add(row)
        session.flush()
        index = holder.shares[0].share.index
        session.add(
            CeremonyParticipant(
                ceremony_id=record.id, holder_id=row.id, dealer_index=index, recipient_index=index
            )
        )


@dataclass(frozen=True, slots=True)
class DevKeyReport:
    """What ensure_dev_escrow_key did: the key id, where the files are, and the one-time passphrase."""

    key_id: str
    directory: Path
    passphrase: str


def ensure_dev_escrow_key(
    session: Session, settings: Settings, *, log: LogSigner, now: datetime
) -> DevKeyReport | None:
    """In development mode with no active escrow key, simulates a 3-of-5 ceremony into
    <keys>/dev-holders/, stores its passphrase in PASSPHRASE (0600) and activates the key.

    Returns None (and does nothing) outside development mode or when a key is already active.
    Raises FileExistsError if old dev holder files are in the way.
    """
    if not settings.dev_mode:
        return None
    try:
        active_escrow_key(session)
        return None
    except InvalidStateError:
        pass
    directory = settings.keys_dir / DEV_HOLDERS_DIR
    passphrase = secrets.token_urlsafe(18)
    ceremony = simulate_ceremony(DEV_THRESHOLD, DEV_HOLDERS)
    write_holder_files(
        ceremony,
        directory,
        passphrase,
        opslimit=settings.holderfile_opslimit,
        memlimit=settings.holderfile_memlimit,
    )
    write_secret_file(directory / PASSPHRASE_FILE, (passphrase + "\n").encode())
    install_escrow_key(session, ceremony.key, log=log, now=now)
    record_holders(session, ceremony, now=now)
    session.commit()
    return DevKeyReport(ceremony.key.key_id, directory, passphrase)


DEV_NODES_DIR = "dev-oprf-nodes"
DEV_NODE_THRESHOLD = 2
DEV_NODES = 3
NODE_WARNING = (
    "DEVELOPMENT ONLY: the OPRF key of the development nodes was made by a simulated ceremony in one "
    "process, and all three share files sit in this server's keys directory. Whoever holds that "
    "directory can derive every person key and pseudonym. Never use it for real identities."
)


def write_node_files(
    ceremony: SimulatedCeremony, out_dir: Path, passphrase: str, *, opslimit: int, memlimit: int
) -> dict[int, Path]:
    """Writes node-<j>.share (mode 0600, never overwriting): one holder file per OPRF node, what
    `escrow oprf-node serve --share-file` reads. Returns index -> path.

    Raises FileExistsError if a share file is already there.
    """
    ensure_keys_dir(out_dir)
    files = {}
    for j, node in enumerate(ceremony.holders, start=1):
        name = f"development OPRF node {j}"
        named = HolderSecrets(name, node.signing_seed, node.exchange_secret, node.shares)
        path = out_dir / f"node-{j}.share"
        write_secret_file(path, encrypt_holder_file(named, passphrase, opslimit=opslimit, memlimit=memlimit))
        files[j] = path
    return files


@dataclass(frozen=True, slots=True)
class DevNodeFiles:
    """The development OPRF nodes' share files (index -> path), their passphrase file and the key id."""

    key_id: str
    share_files: dict[int, Path]
    passphrase_file: Path
    created: bool


def ensure_dev_oprf_key(
    session: Session, settings: Settings, *, log: LogSigner, now: datetime
) -> DevNodeFiles:
    """Development mode only: returns the development nodes' files, first simulating a 2-of-3 OPRF key
    ceremony into <keys>/dev-oprf-nodes/ and activating its key if there is none (issue 13).

    Raises InvalidStateError outside development mode, or if an OPRF key is active but its dev share
    files are gone (a real key: run real nodes instead).
    """
    if not settings.dev_mode:
        raise InvalidStateError("development OPRF nodes exist only in development mode (ESCROW_DEV_MODE=1)")
    directory = settings.keys_dir / DEV_NODES_DIR
    passphrase_file = directory / PASSPHRASE_FILE
    existing = session.execute(
        select(OprfKey).where(OprfKey.status == KEY_STATUS_ACTIVE)
    ).scalar_one_or_none()
    if existing is not None:
        files = {j: directory / f"node-{j}.share" for j in range(1, existing.node_count + 1)}
        if not passphrase_file.exists() or not all(p.exists() for p in files.values()):
            raise InvalidStateError(
                f"OPRF key {existing.key_id} is active but its development share files "
                f"are not in {directory}: "
                "configure its real nodes with ESCROW_OPRF_NODES"
            )
        return DevNodeFiles(existing.key_id, files, passphrase_file, created=False)
    ceremony = simulate_ceremony(DEV_NODE_THRESHOLD, DEV_NODES)
    passphrase = secrets.token_urlsafe(18)
    files = write_node_files(
        ceremony,
        directory,
        passphrase,
        opslimit=settings.holderfile_opslimit,
        memlimit=settings.holderfile_memlimit,
    )
    write_secret_file(passphrase_file, passphrase.encode())
    install_oprf_key(session, ceremony.key, log=log, now=now)
    session.commit()
    return DevNodeFiles(ceremony.key.key_id, files, passphrase_file, created=True)
