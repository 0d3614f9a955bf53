"""What the officers' and key-holders' disclosure tools share: reading a request body, and the log.

- read_body: the request body parsed with the protocol class (escrow.protocol.disclosure), so a tool of
  an older release refuses a newer body by its version instead of misreading it, and its digest
  recomputed here: a tool signs or checks what it read, never what the server says the digest is.
- LogView / establish_checkpoint: the transparency log as of one verified checkpoint, which must extend
  the one the holder saw before; every entry the tools read is proven against it by an inclusion or a
  range proof.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from escrow.client.audit import (
    AuditFailure,
    AuditState,
    check_extends,
    check_witnessed,
    open_checkpoint,
    pin_log_key,
)
from escrow.client.holder import HolderClientError
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.merkle import leaf_hash, verify_inclusion, verify_range
from escrow.crypto.note import Checkpoint
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.errors import EscrowError
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.errors import ProtocolError
from escrow.protocol.witness import WitnessPolicy

PublicFetch = Callable[[str], bytes]
"""GETs a public path of the server (the transparency log) and returns the body bytes."""


SEED_BYTES = 32


def read_signing_seed(data: bytes, what: str = "key file") -> bytes:
    """Returns the 32-byte Ed25519 seed in a key file: the raw 32 bytes (as `keys/dev-court.seed` and
    `escrow org keygen` write them), or one line of their base64url or hex.

    Raises EncodingError naming `what` for anything else.
    """
    if len(data) == SEED_BYTES:
        return bytes(data)
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise EncodingError(f"the {what} is not a 32-byte Ed25519 seed") from None
    if len(text) == 2 * SEED_BYTES and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    try:
        return b64u_decode(text, length=SEED_BYTES)
    except CryptoError as e:
        raise EncodingError(f"the {what} is not a 32-byte Ed25519 seed") from e


def fail(message: str) -> HolderClientError:
    """Returns the error every disclosure check raises, with `message` for the holder or officer."""
    return HolderClientError(message)


def answer_json(data: bytes, what: str) -> Any:
    """Returns the decoded JSON of a server answer. Raises HolderClientError if it is not JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise fail(f"{what}: the server did not answer JSON") from e


def read_body(raw: object, digest_b64: object, *, mismatch: str) -> tuple[DisclosureBody, bytes]:
    """Returns the request body in `raw` and its digest, recomputed here.

    Raises HolderClientError naming what cannot be read (a version or scope kind this tool does not
    understand, a missing or unknown member, a wrong type), a body not in its canonical form, or, with
    the message `mismatch`, a digest other than `digest_b64` (what the server says the digest is).
    """
    try:
        body = DisclosureBody.from_dict(raw)
    except ProtocolError as e:
        raise fail(f"the request body cannot be read: {e.detail}; refusing") from e
    # Parsing must lose nothing: what the tool shows and signs is exactly what the officers signed.
    if not hmac.compare_digest(body.canonical_bytes(), canonical_json(raw)):
        raise fail("the request body is not in its canonical form; refusing")
    digest = body.digest()
    if not hmac.compare_digest(b64u_encode(digest), str(digest_b64 or "")):
        raise fail(mismatch)
    return body, digest


def logged_key_matches(data: dict[str, Any], served: bytes) -> bool:
    """Whether a logged key registration names exactly `served`: the full key, or (entries written
    before keys were logged in full) its 128-bit fingerprint."""
    if data.get("public_key") is not None:
        return hmac.compare_digest(str(data["public_key"]), b64u_encode(served))
    return hmac.compare_digest(str(data.get("fingerprint", "")), fingerprint(served))


@dataclass(frozen=True, slots=True)
class LogView:
    """The transparency log as of one signed checkpoint the tool verified (establish_checkpoint).

    Every entry it returns is proven against that checkpoint: one entry by an inclusion proof, a run of
    entries by a range proof (so none can be left out of the run).
    """

    fetch: PublicFetch
    checkpoint: Checkpoint

    def event(self, index: object, what: str) -> dict[str, Any]:
        """Returns entry `index`, decoded. Raises HolderClientError if it is not proven in the log."""
        size = self.checkpoint.size
        if type(index) is not int or not 0 <= index < size:
            raise fail(f"{what}: no log entry (index {index!r}, log size {size}); refusing")
        try:
            page = answer_json(
                self.fetch(f"/api/v1/log/entries?start={index}&end={index + 1}"), "log entries"
            )
            leaf = b64u_decode(page["entries"][0]["body"])
            proof = answer_json(self.fetch(f"/api/v1/log/proof/inclusion?index={index}&size={size}"), "proof")
            verify_inclusion(
                leaf_hash(leaf),
                index,
                size,
                [b64u_decode(h) for h in proof["proof"]],
                self.checkpoint.root_hash,
            )
            event = json.loads(leaf)
        except (
            CryptoError,
            EscrowError,
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            UnicodeDecodeError,
        ) as e:
            raise fail(f"{what}: entry {index} is not proven in the transparency log ({e}); refusing") from e
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise fail(f"{what}: entry {index} is not a log event; refusing")
        return event

    def events(self, start: int, end: int, what: str) -> list[dict[str, Any]]:
        """Returns entries [start, end), every one of them, proven by range proofs page by page.

        Raises HolderClientError if the server leaves one out, adds one, or changes one.
        """
        result: list[dict[str, Any]] = []
        size = self.checkpoint.size
        position = start
        while position < end:
            try:
                page = answer_json(
                    self.fetch(f"/api/v1/log/entries?start={position}&end={end}"), "log entries"
                )
                rows = page["entries"]
                if not rows or [r["index"] for r in rows] != list(range(position, position + len(rows))):
                    raise fail("entries missing or out of order")
                leaves = [b64u_decode(r["body"]) for r in rows]
                stop = position + len(leaves)
                proof = answer_json(
                    self.fetch(f"/api/v1/log/proof/range?start={position}&end={stop}&size={size}"), "proof"
                )
                verify_range(
                    position,
                    [leaf_hash(leaf) for leaf in leaves],
                    size,
                    [b64u_decode(h) for h in proof["proof"]],
                    self.checkpoint.root_hash,
                )
                result += [json.loads(leaf) for leaf in leaves]
            except (CryptoError, EscrowError, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
                raise fail(
                    f"{what}: log entries {position} to {end - 1} are not proven in the log ({e}); refusing"
                ) from e
            position = stop
        return result


def establish_checkpoint(
    fetch: PublicFetch,
    *,
    log_key: str | None = None,
    state: AuditState | None = None,
    policy: WitnessPolicy | None = None,
) -> tuple[LogView, AuditState, list[str]]:
    """Fetches the latest checkpoint, verifies its signature with the pinned log key and, if `state`
    holds a checkpoint this holder verified before, a consistency proof from it (the log only grew).

    The log key is `log_key` (pinned out of band), else the state's, else the server's on first use;
    `policy` names the witnesses whose cosignatures the checkpoint must carry (the command requires one).
    Returns the log as of the new checkpoint, the state to save and lines for the holder. Raises
    HolderClientError if the log was rewritten, forked or truncated, or a signature does not verify.
    """

    def fetch_json(path: str) -> Any:
        return answer_json(fetch(path), path)

    lines: list[str] = []
    try:
        key, verifier = pin_log_key(fetch_json, log_key, state, lines)
        note = fetch("/api/v1/log/checkpoint").decode()
        latest = open_checkpoint(note, verifier, "the latest checkpoint")
        if policy is not None:
            lines.append("log: " + check_witnessed(note, policy, "the latest checkpoint"))
        if state is not None and state.checkpoint is not None:
            previous = open_checkpoint(state.checkpoint, verifier, "the checkpoint you saw before")
            check_extends(fetch_json, previous, latest)
            lines.append(
                f"log: checkpoint of size {latest.size} is consistent with the one you saw before "
                f"(size {previous.size}): the log only grew"
            )
        else:
            lines.append(
                f"log: first run, trusting the checkpoint of size {latest.size} on first use "
                "(later runs check that the log only grows from it)"
            )
    except AuditFailure as e:
        raise fail(f"the transparency log cannot be trusted: {e.detail}; refusing") from e
    except UnicodeDecodeError as e:
        raise fail("the server's checkpoint is not text; refusing") from e
    return LogView(fetch, latest), AuditState(key, note), lines
