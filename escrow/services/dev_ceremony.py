"""DEVELOPMENT ONLY: the dealerless ceremony with every key-holder in one process, and the dev-mode key.

`record_simulated_ceremony` (the development escrow key, what `make run` does on first start) runs a
real ceremony through the relay's use cases, with one process signing every holder's messages: the
transcript is complete and verifiable (`escrow ceremony verify --server URL` passes) and the key is
pinned to it in the log (issue 14). `simulate_ceremony` runs the same DKG with nothing recorded (the
OPRF nodes' development key, `escrow admin ceremony simulate`). Either way one process sees every
share on the way, so the key protects nothing. They exist for `make run`, demos and tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.ceremony_messages import (
    b64,
    generate_holder_keys,
    open_share,
    public_keys,
    seal_share,
    sign_message,
)
from escrow.crypto.dkg import CeremonyParameters, Dealing, ThresholdPublicKey, deal, finalise_ceremony
from escrow.crypto.holderfile import HolderSecrets, ShareRecord, encrypt_holder_file
from escrow.crypto.seal import combine_and_open, partial_decrypt, seal
from escrow.crypto.transcript import sha256
from escrow.errors import InvalidStateError
from escrow.keystore import ensure_keys_dir, write_secret_file
from escrow.models import KEY_STATUS_ACTIVE, KeyHolder, OprfKey
from escrow.protocol.ceremony import (
    CONFIRM,
    DRILL,
    ROUND1,
    ROUND2,
    SignedMessage,
    ceremony_transcript_hash,
    drill_envelope,
    message_body,
)
from escrow.services.ceremony import (
    DEV_CONTEXT_PREFIX,
    STATUS_ACTIVE,
    ceremony_state,
    open_ceremony,
    post_message,
)
from escrow.services.escrow_keys import active_escrow_key
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


def record_simulated_ceremony(
    session: Session,
    *,
    threshold: int,
    holders: Sequence[HolderSecrets],
    log: LogSigner,
    now: datetime,
    context: str | None = None,
    dealings: Mapping[int, Dealing] | None = None,
) -> SimulatedCeremony:
    """Enrols `holders` (their names and keys; shares are ignored) as key-holders and runs a full
    escrow-key ceremony among them through the relay's own use cases (escrow.services.ceremony): every
    round 1, round 2, success signature over the transcript hash and drill proof is a signed message
    the service checks and stores, so `escrow ceremony verify` passes on the transcript and the key is
    pinned to it in the log (issue 14). One process signs for every holder: development only.

    `context` defaults to a fresh DEV_CONTEXT_PREFIX one (such a key cannot be reshared); `dealings`
    (from simulated_dealings with the same context) lets tests reuse one key. Returns the key and each
    holder's secrets with its share; commits. Raises ValidationError, InvalidStateError (from the
    ceremony use cases) if the ceremony cannot run.
    """
    context = context or DEV_CONTEXT_PREFIX + secrets.token_hex(16)
    rows: list[KeyHolder] = []
    for holder in holders:
        keys = public_keys(holder.signing_seed, holder.exchange_secret)
        row = KeyHolder(
            name=holder.name,
            organisation=f"Development trustee {len(rows) + 1} (simulated)",
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
        rows.append(row)
    session.flush()
    ceremony_id = open_ceremony(
        session, threshold=threshold, holder_ids=[r.id for r in rows], log=log, now=now, context=context
    )
    header = ceremony_state(session, ceremony_id).header
    recipients = header.recipients()
    seeds = {recipients[j].holder: h.signing_seed for j, h in zip(sorted(recipients), holders, strict=True)}

    def post(j: int, kind: str, **fields: Any) -> str:
        body = message_body(header, recipients[j], kind, **fields)
        message = SignedMessage(body, sign_message(seeds[recipients[j].holder], body))
        return post_message(
            session,
            ceremony_id=ceremony_id,
            holder_id=recipients[j].holder,
            message=message,
            log=log,
            now=now,
        )

    params = header.parameters()
    dealt = dealings or simulated_dealings(threshold, len(holders), context)
    for i, dealing in sorted(dealt.items()):
        shares = {str(j): b64(seal_share(recipients[j].exchange_key, s)) for j, s in dealing.shares.items()}
        post(i, ROUND1, dealer=i, broadcast=dealing.broadcast.to_dict(), shares=shares)
    broadcasts = {i: d.broadcast for i, d in dealt.items()}
    records = {}
    for j in sorted(recipients):
        share, key = finalise_ceremony(params, j, broadcasts, {i: d.shares[j] for i, d in dealt.items()})
        records[j] = ShareRecord(key, share)
        post(j, ROUND2, complaints=[], key=key.to_dict())
    state = ceremony_state(session, ceremony_id)
    transcript = ceremony_transcript_hash(header, state.messages)
    access = state.access().to_dict()
    for j in sorted(recipients):
        post(j, CONFIRM, transcript_hash=transcript.hex(), key_id=key.key_id, access=access)
    envelope = drill_envelope(header, key, transcript)
    status = ""
    for j in sorted(recipients):
        partial = partial_decrypt(records[j].share, envelope, header.drill_request_digest())
        status = post(j, DRILL, partial=partial.to_dict())
    if status != STATUS_ACTIVE:  # pragma: no cover - every message above is an honest holder's
        raise InvalidStateError(f"the simulated ceremony ended {status}")
    return SimulatedCeremony(
        key,
        tuple(
            HolderSecrets(h.name, h.signing_seed, h.exchange_secret, (records[j],))
            for j, h in zip(sorted(recipients), holders, strict=True)
        ),
    )


def simulated_dealings(threshold: int, holders: int, context: str) -> dict[int, Dealing]:
    """Returns every dealer's dealing for an escrow-key ceremony with `context` (what a ceremony
    header's parameters bind the proofs to). Development and tests only."""
    params = CeremonyParameters(
        threshold, tuple(range(1, holders + 1)), b"escrow ceremony " + context.encode()
    )
    return {i: deal(params, i) for i in params.participants}


def new_holder_secrets(count: int) -> tuple[HolderSecrets, ...]:
    """Returns fresh signing and exchange keys for `count` simulated key-holders (no shares yet)."""
    return tuple(HolderSecrets(f"dev holder {j}", *generate_holder_keys(), ()) for j in range(1, count + 1))


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
    for j in range(1, DEV_HOLDERS + 1):
        if (directory / f"holder-{j}.escrow").exists():  # refuse before anything is recorded
            raise FileExistsError(f"{directory / f'holder-{j}.escrow'} is in the way")
    passphrase = secrets.token_urlsafe(18)
    ceremony = record_simulated_ceremony(
        session, threshold=DEV_THRESHOLD, holders=new_holder_secrets(DEV_HOLDERS), log=log, now=now
    )
    write_holder_files(
        ceremony,
        directory,
        passphrase,
        opslimit=settings.holderfile_opslimit,
        memlimit=settings.holderfile_memlimit,
    )
    write_secret_file(directory / PASSPHRASE_FILE, (passphrase + "\n").encode())
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
