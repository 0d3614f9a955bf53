"""The auditor's verifier: fetch the whole log, recompute the tree, check signed checkpoints.

Runs on the auditor's machine against a server URL and trusts nothing from the server but what its
log key signed. It keeps a small local state (the verifier key it pinned, the last checkpoint it
verified and the leaf hashes it saw), so a later run proves the log only grew: any rewrite,
reordering or truncation is reported with the first index that differs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from escrow.client.http import HttpClient
from escrow.crypto.errors import CryptoError
from escrow.crypto.merkle import (
    HASH_SIZE,
    MemoryNodeStore,
    leaf_hash,
    root_hash,
    verify_consistency,
)
from escrow.crypto.note import (
    Checkpoint,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    verify_cosignatures,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import EscrowError
from escrow.protocol.errors import ProtocolError
from escrow.protocol.notices import format_time, replay_notices
from escrow.protocol.transparency import ConsistencyProof, EntriesPage, LogEntry
from escrow.protocol.witness import WitnessPolicy

STATE_VERSION = 1
PAGE = 1000
STATE_FILE_MODE = 0o600  # the state is not secret, but it is the pin that stops a forked log

JsonFetch = Callable[[str], Any]
"""GETs a public path (with its query string) of the server and returns the parsed JSON."""


class AuditFailure(EscrowError):
    """The log failed verification; `index` is the first entry found wrong (None if not one entry)."""

    code = "audit-failed"
    title = "Transparency log verification failed"

    def __init__(self, detail: str, *, index: int | None = None) -> None:
        super().__init__(detail)
        self.index = index


@dataclass(frozen=True, slots=True)
class AuditState:
    """What the auditor remembers between runs."""

    verifier_key: str
    checkpoint: str | None = None
    leaf_hashes: bytes = b""

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "verifier_key": self.verifier_key,
                "checkpoint": self.checkpoint,
                "leaf_hashes": b64u_encode(self.leaf_hashes),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> AuditState:
        """Parses a state file. Raises AuditFailure if it is not one."""
        try:
            data = json.loads(text)
            if data["version"] != STATE_VERSION:
                raise AuditFailure("unsupported audit state version")
            hashes = b64u_decode(data["leaf_hashes"])
            if len(hashes) % HASH_SIZE:
                raise AuditFailure("audit state is damaged (leaf hashes)")
            return cls(str(data["verifier_key"]), data["checkpoint"], hashes)
        except (ValueError, KeyError, TypeError, CryptoError) as e:
            raise AuditFailure("the audit state file is damaged or not an audit state") from e


def read_state(path: Path) -> AuditState | None:
    """Returns the state saved at `path`, or None if there is none yet. Raises AuditFailure, OSError."""
    return AuditState.from_json(path.read_text()) if path.exists() else None


def write_state(path: Path, state: AuditState) -> None:
    """Saves `state` at `path` atomically (a temporary file in the same folder, mode 0600, fsynced,
    then renamed over the old one), so a crash never leaves a half-written pin. Raises OSError."""
    path = path.absolute()
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as file:
            os.fchmod(file.fileno(), STATE_FILE_MODE)
            file.write(state.to_json())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass(slots=True)
class AuditReport:
    """What a successful run verified, in words an auditor can read."""

    origin: str
    size: int
    root_hash: bytes
    lines: list[str] = field(default_factory=list)
    # The entries the checkpoint covers, as verified (their leaf hashes gave its root).
    entries: list[LogEntry] = field(default_factory=list, repr=False)


def _open_checkpoint(note: str, verifier: NoteVerifier, what: str) -> Checkpoint:
    try:
        return parse_checkpoint(open_note(note, verifier))
    except CryptoError as e:
        raise AuditFailure(f"{what}: signature or format invalid ({e})") from e


def open_checkpoint(note: str, verifier: NoteVerifier, what: str) -> Checkpoint:
    """Returns the checkpoint in a signed note after checking its signature and origin.

    Raises AuditFailure if the signature, the format or the origin is wrong.
    """
    checkpoint = _open_checkpoint(note, verifier, what)
    if checkpoint.origin != verifier.name:
        raise AuditFailure(
            f"{what}: origin {checkpoint.origin!r} does not match the key name {verifier.name!r}"
        )
    return checkpoint


def load_witness_policy(path: Path) -> WitnessPolicy:
    """Reads a witness policy file (escrow.protocol.witness). Raises AuditFailure naming the fault."""
    try:
        return WitnessPolicy.parse(path.read_text())
    except OSError as e:
        raise AuditFailure(f"cannot read the witness policy {path}: {e.strerror}") from e
    except (ProtocolError, UnicodeDecodeError) as e:
        raise AuditFailure(f"the witness policy {path} is malformed: {e}") from e


def check_witnessed(note: str, policy: WitnessPolicy, what: str) -> str:
    """Checks that the checkpoint `note` carries cosignatures meeting `policy`; returns a line saying
    which witnesses cosigned it.

    Raises AuditFailure if a cosignature by a policy witness does not verify, or too few witnesses
    cosigned: a checkpoint the witnesses did not see may be a split view shown to you alone.
    """
    try:
        cosigned = verify_cosignatures(note, policy.keys)
    except CryptoError as e:
        raise AuditFailure(f"{what}: a witness cosignature is invalid ({e})") from e
    names = sorted(cosigned)
    if not policy.is_satisfied(names):
        raise AuditFailure(
            f"{what} is not witnessed as your policy requires ({policy.describe()}): cosigned by "
            f"{len(names)} ({', '.join(names) or 'none'}); an unwitnessed checkpoint may be a split view "
            "shown to you alone, so it is not trusted"
        )
    if policy.quorum is None:
        return (
            f"{what}: the witness policy requires no cosignature (quorum none): trusted on the log key alone"
        )
    return f"{what}: witnessed by {', '.join(names)} (policy: {policy.describe()})"


def pin_log_key(
    fetch_json: JsonFetch, verifier_key: str | None, state: AuditState | None, lines: list[str]
) -> tuple[str, NoteVerifier]:
    """Returns the log key to trust: `verifier_key` (pinned out of band), else the state's, else the
    server's on first use (said in `lines`, so it can be compared out of band).

    Raises AuditFailure if it differs from the state's pin or is malformed.
    """
    key = verifier_key or (state.verifier_key if state else None)
    if key is None:
        try:
            key = str(fetch_json("/api/v1/log/key")["verifier_key"])
        except (KeyError, TypeError) as e:
            raise AuditFailure("the server did not send its log key") from e
        lines.append(f"trusting the log key on first use: {key} (compare it out of band)")
    elif state is not None and key != state.verifier_key:
        raise AuditFailure("the log key differs from the one pinned in the state file")
    try:
        return key, parse_verifier_key(key)
    except CryptoError as e:
        raise AuditFailure(f"malformed verifier key: {e}") from e


def check_extends(fetch_json: JsonFetch, previous: Checkpoint, latest: Checkpoint) -> None:
    """Checks that `latest` extends `previous` (both already verified): the log only grew.

    Fetches the RFC 9162 consistency proof between the two sizes and verifies it. Raises AuditFailure
    if the log shrank (truncation) or the proof does not verify (a rewrite or a fork).
    """
    if previous.size > latest.size:
        raise AuditFailure(
            f"the log was truncated: a checkpoint for {previous.size} entries was signed, the server now "
            f"has {latest.size}",
            index=latest.size,
        )
    try:
        proof = fetch_json(f"/api/v1/log/proof/consistency?first={previous.size}&second={latest.size}")
        verify_consistency(
            previous.size,
            latest.size,
            previous.root_hash,
            latest.root_hash,
            list(ConsistencyProof.from_dict(proof).hashes),
        )
    except (CryptoError, ProtocolError) as e:
        raise AuditFailure(
            f"the log is not an extension of the checkpoint of size {previous.size}: the server's "
            "consistency proof does not verify (the log was rewritten or forked)"
        ) from e


def _fetch_entries(client: HttpClient, size: int) -> list[LogEntry]:
    entries: list[LogEntry] = []
    while len(entries) < size:
        start = len(entries)
        try:
            page = EntriesPage.from_dict(
                client.get_json("/api/v1/log/entries", {"start": start, "end": size}), start=start
            )
        except ProtocolError as e:
            raise AuditFailure(str(e), index=start) from e
        if not page.entries:
            raise AuditFailure(
                f"entry {start} is missing: the server has fewer entries than it signed", index=start
            )
        entries.extend(page.entries[: size - start])
    return entries


def _checkpointed_sizes(client: HttpClient, size: int) -> list[int]:
    """The sizes up to `size` that the log signed a checkpoint for (one per sequencer batch)."""
    sizes: list[int] = []
    while True:
        page = client.get_json("/api/v1/log/checkpoints", {"after": sizes[-1] if sizes else 0})
        found = page.get("sizes") if isinstance(page, dict) else None
        # Sizes start at 1 (after=0): a server listing 0 or negative sizes could otherwise keep the
        # auditor paging up from -10^12 one size a page, or send it a size no tree has.
        if not isinstance(found, list) or not all(type(n) is int and n > 0 for n in found):
            raise AuditFailure("the server's list of checkpoint sizes is malformed")
        if found != sorted(set(found)) or (found and sizes and found[0] <= sizes[-1]):
            raise AuditFailure("the server's list of checkpoint sizes is not ascending")
        sizes.extend(n for n in found if n <= size)
        if not found or found[-1] >= size:
            return sizes


def _first_bad_batch(
    client: HttpClient, verifier: NoteVerifier, store: MemoryNodeStore, size: int
) -> tuple[int, int]:
    """Returns (first, bad): `bad` is the smallest signed size whose checkpoint disagrees with the
    recomputed prefix root and `first` the size of the last checkpoint before it that agrees, so an
    entry in [first, bad) is not what was signed (one entry when every size has a checkpoint)."""
    sizes = [n for n in _checkpointed_sizes(client, size) if n < size] + [size]
    lo, hi = 0, len(sizes) - 1  # invariant: checkpoint(sizes[hi]) disagrees; find the first that does
    while lo < hi:
        mid = (lo + hi) // 2
        at = sizes[mid]
        signed = _open_checkpoint(
            client.get_text(f"/api/v1/log/checkpoints/{at}"), verifier, f"checkpoint {at}"
        )
        if signed.root_hash == root_hash(store, at):
            lo = mid + 1
        else:
            hi = mid
    return (sizes[lo - 1] if lo > 0 else 0), sizes[lo]


def audit_log(
    client: HttpClient,
    *,
    state: AuditState | None,
    verifier_key: str | None = None,
    since: str | None = None,
    now: datetime | None = None,
    policy: WitnessPolicy | None = None,
) -> tuple[AuditReport, AuditState]:
    """Verifies the whole log at `client` and returns a report and the state to keep.

    `verifier_key` pins the log key (else the state's, else trust on first use); `since` is a signed
    checkpoint saved earlier (else the state's); `policy` the witnesses whose cosignatures the latest
    checkpoint must carry (None: none are checked; the commands require a policy). Raises AuditFailure
    naming the first bad index when an entry was changed, removed, reordered or truncated, or a
    signature does not verify (or too few witnesses cosigned), or a disclosed request's notice is overdue
    and unannounced (check_notices, as of `now`); RemoteError when the server cannot be reached.
    """
    lines: list[str] = []
    key, verifier = pin_log_key(client.get_json, verifier_key, state, lines)

    latest_note = client.get_text("/api/v1/log/checkpoint")
    latest = open_checkpoint(latest_note, verifier, "latest checkpoint")
    if policy is not None:
        lines.append(check_witnessed(latest_note, policy, "the latest checkpoint"))
    entries = _fetch_entries(client, latest.size)
    leaves = [leaf_hash(entry.body) for entry in entries]
    store = MemoryNodeStore()
    for h in leaves:
        store.append(h)
    if root_hash(store, latest.size) != latest.root_hash:
        first, bad = _first_bad_batch(client, verifier, store, latest.size)
        where = f"entry {first}" if bad == first + 1 else f"an entry in [{first}, {bad}) (one batch)"
        raise AuditFailure(
            f"{where} does not match the checkpoint signed for size {bad}: the log was rewritten or "
            "reordered",
            index=first,
        )
    lines.append(
        f"verified {latest.size} entries against the signed checkpoint (root {latest.root_hash.hex()})"
    )

    previous_note = since or (state.checkpoint if state else None)
    if previous_note is not None:
        previous = _open_checkpoint(previous_note, verifier, "saved checkpoint")
        if previous.size > latest.size:
            raise AuditFailure(
                f"the log was truncated: a checkpoint for {previous.size} entries was signed, the server now "
                f"has {latest.size}",
                index=latest.size,
            )
        if root_hash(store, previous.size) != previous.root_hash:
            index = _first_difference(state.leaf_hashes if state else b"", leaves, previous.size)
            where = f": entry {index} changed" if index is not None else ""
            raise AuditFailure(
                f"the log is not an extension of the saved checkpoint (size {previous.size}){where}",
                index=index,
            )
        check_extends(client.get_json, previous, latest)
        lines.append(f"consistent with the saved checkpoint of size {previous.size} (append-only)")
    lines.extend(check_notices(entries, now=now or datetime.now(UTC)))
    return (
        AuditReport(latest.origin, latest.size, latest.root_hash, lines, entries),
        AuditState(key, latest_note, b"".join(leaves)),
    )


def _first_difference(saved: bytes, leaves: list[bytes], size: int) -> int | None:
    for i in range(min(size, len(saved) // HASH_SIZE)):
        if saved[i * HASH_SIZE : (i + 1) * HASH_SIZE] != leaves[i]:
            return i
    return None


NOTICE_GRACE = timedelta(days=1)
"""How long after a notice date the log may go without its disclosure.notice_due: the service logs it
on its next sweep (`escrow disclosures sweep`, run at least daily: docs/operations.md) or read."""


def check_notices(
    entries: Sequence[LogEntry], *, now: datetime, grace: timedelta = NOTICE_GRACE
) -> list[str]:
    """Checks, from the verified log alone, that every disclosed request whose notice date (its
    logged reveal plus its logged, signed delay and extensions: escrow.protocol.notices) passed more
    than `grace` ago has its `disclosure.notice_due`, naming that date. Returns report lines.

    Raises AuditFailure naming the request (and the entry, for a wrong date) otherwise.
    """
    events = []
    for entry in entries:
        try:
            events.append((entry.index, entry.event()))
        except ProtocolError:
            continue
    announced = unknown = 0
    for notice in replay_notices(events).values():
        if notice.disclosed_at is None:
            continue
        notice_at = notice.notice_at
        if notice_at is None:
            unknown += 1  # submitted before issue 14: the log holds no signed delay
            continue
        if notice.due_index is not None:
            if notice.due_notice_at != format_time(notice_at):
                raise AuditFailure(
                    f"the disclosure.notice_due of request {notice.request} names {notice.due_notice_at}, "
                    f"but its logged reveal and signed delay make the notice date {format_time(notice_at)}",
                    index=notice.due_index,
                )
            announced += 1
        elif now >= notice_at + grace:
            raise AuditFailure(
                f"the notice of request {notice.request} fell due at {format_time(notice_at)}, but the log "
                "has no disclosure.notice_due for it: the person was not told"
            )
    lines = [f"{announced} disclosure notice(s) announced on time (disclosure.notice_due)"]
    if unknown:
        lines.append(f"{unknown} disclosed request(s) from before notice dates were logged: not checked")
    return lines
