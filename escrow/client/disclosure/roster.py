"""The roster on the key-holder's machine (issue 16): review and sign a version, and establish the one in
force by checking the holders' signatures and the chain here, never on the server's word.

Trust starts from the holder's own signature: the first time, the tool accepts the roster in force only
if it carries this holder's valid signature (and, walking from version 1, every version is in force by
the rule of protocol.roster.check_successor). It then pins that version in a file next to the holder
file; later runs accept a newer version only through a chain of versions, each signed by t holders of
the one before. So a roster written into the server's database by its administrator, or by anyone
holding fewer than t holder keys, is refused here, and so is an older version served again (rollback).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from escrow.client.disclosure.shared import fail
from escrow.client.holder import HolderClient
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import public_key, sign_roster
from escrow.crypto.errors import CryptoError, HolderFileError
from escrow.crypto.holderfile import HolderSecrets
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.protocol.errors import ProtocolError
from escrow.protocol.roster import Roster, check_successor, signers

RosterFetch = Callable[[str], Any]
"""GETs a public path of the server and returns its decoded JSON."""

PIN_SUFFIX = ".roster.json"


def _parse(document: Any, what: str) -> tuple[Roster, list[tuple[str, str]]]:
    try:
        roster = Roster.from_dict(document["roster"])
        pairs = [(str(s["signing_key"]), str(s["signature"])) for s in document["signatures"]]
        if not hmac.compare_digest(str(document["digest"]), b64u_encode(roster.digest())):
            raise ProtocolError("the digest does not match the roster")
    except ProtocolError as e:
        raise fail(f"{what} cannot be read: {e.detail}; refusing") from e
    except (KeyError, TypeError) as e:
        raise fail(f"{what}: unexpected answer from the server; refusing") from e
    return roster, pairs


def _version(fetch: RosterFetch, version: int) -> tuple[Roster, list[tuple[str, str]]]:
    return _parse(fetch(f"/api/v1/roster/versions/{version}"), f"roster version {version}")


def read_pin(path: Path) -> Roster | None:
    """Returns the roster pinned in `path`, or None if there is no such file. Raises HolderClientError."""
    if not path.exists():
        return None
    try:
        return Roster.from_json(path.read_bytes())
    except ProtocolError as e:
        raise fail(f"the pinned roster {path} is damaged: {e.detail}") from e


def write_pin(path: Path, roster: Roster) -> None:
    """Pins `roster` in `path` (its canonical JSON)."""
    path.write_bytes(roster.canonical_bytes() + b"\n")


def establish_roster(fetch: RosterFetch, own_key: bytes, pinned: Roster | None) -> tuple[Roster, list[str]]:
    """Returns the roster in force, checked here, and lines for the holder.

    Without a pin, the chain is walked from version 1 and the version in force must carry this
    holder's own valid signature; with one, the version in force must be the pinned one or follow it
    by a chain of quorum-signed versions. Raises HolderClientError (a roster not in force, a broken
    chain, a rollback, or one this holder never signed).
    """
    current, pairs = _parse(fetch("/api/v1/roster"), "the roster in force")
    mine = b64u_encode(own_key)
    if pinned is None:
        if mine not in signers(current, pairs, current.holders):
            raise fail(
                f"roster version {current.version} does not carry your signature, and you have pinned none: "
                "review and sign it first (escrow keyholder roster review / sign); refusing"
            )
        start: Roster | None = None
        first = 1
    else:
        if current.version < pinned.version:
            raise fail(
                f"the server serves roster version {current.version}, older than version {pinned.version} "
                "you pinned (a rollback); refusing"
            )
        start, first = pinned, pinned.version + 1
        if current.version == pinned.version and not hmac.compare_digest(current.digest(), pinned.digest()):
            raise fail(f"roster version {current.version} differs from the one you pinned (a fork); refusing")
    try:
        previous = start
        for version in range(first, current.version + 1):
            is_current = version == current.version
            roster, version_pairs = (current, pairs) if is_current else _version(fetch, version)
            check_successor(previous, roster, version_pairs)
            previous = roster
    except ProtocolError as e:
        raise fail(f"the roster is not in force: {e.detail}; refusing") from e
    origin = "from version 1" if pinned is None else f"from your pinned version {pinned.version}"
    return current, [
        f"roster: version {current.version} (digest {b64u_encode(current.digest())}) is in force: its chain "
        f"{origin} checked here, each version signed by a quorum of the key-holders before it"
    ]


def roster_review_lines(roster: Roster, previous: Roster | None) -> list[str]:
    """What a holder reads before signing a roster version: everything in it, and what changed."""
    lines = [
        f"roster version {roster.version}  digest {b64u_encode(roster.digest())}",
        f"previous: {roster.previous or 'none (the first version)'}",
        f"escrow key {roster.key_id}: threshold {roster.threshold} of {len(roster.holders)} key-holders",
    ]
    for h in roster.holders:
        lines.append(f"  holder {h.name} ({h.organisation}) key {fingerprint(b64u_decode(h.signing_key))}")
    for court in roster.courts:
        key = "no key (does not sign orders)"
        if court.public_key:
            key = "signs its orders with key " + fingerprint(b64u_decode(court.public_key))
        lines.append(f"  court {court.name} ({court.jurisdiction}): {key}")
    for org in roster.organisations:
        may = " and ".join(w for w, ok in (("submit", org.may_submit), ("co-sign", org.may_cosign)) if ok)
        key = fingerprint(b64u_decode(org.public_key))
        lines.append(f"  organisation {org.name}: certifies officers with key {key}; may {may or 'nothing'}")
    if previous is not None:
        old, new = (
            set(json.dumps(e, sort_keys=True) for e in _entries(previous)),
            set(json.dumps(e, sort_keys=True) for e in _entries(roster)),
        )
        lines += [f"  REMOVED {e}" for e in sorted(old - new)] + [f"  ADDED {e}" for e in sorted(new - old)]
    return lines


def _entries(roster: Roster) -> list[dict[str, Any]]:
    return [
        *({"holder": h.to_dict()} for h in roster.holders),
        *({"court": c.to_dict()} for c in roster.courts),
        *({"organisation": o.to_dict()} for o in roster.organisations),
        {"threshold": roster.threshold},
    ]


def fetch_version(fetch: RosterFetch, version: int) -> Roster:
    """Returns roster `version` as the server serves it (parsed strictly; not yet known to be in force)."""
    return _version(fetch, version)[0]


def sign_version(
    client: HolderClient, secrets: HolderSecrets, roster: Roster, pinned: Roster | None
) -> dict[str, Any]:
    """Signs roster `roster` with this holder's key and sends the signature. Returns the roster document.

    Refuses (HolderClientError) a roster that does not list this holder, whose threshold is not the
    one of this holder's share of the escrow key, or that does not follow the pinned version.
    """
    mine = b64u_encode(public_key(secrets.signing_seed))
    if mine not in {h.signing_key for h in roster.holders}:
        raise fail(f"roster version {roster.version} does not list you as a key-holder; refusing to sign")
    try:
        share = secrets.share_for(roster.key_id)
    except HolderFileError:
        share = None
    if share is not None and share.key.threshold != roster.threshold:
        raise fail(
            f"roster version {roster.version} says threshold {roster.threshold}, but your share of key "
            f"{roster.key_id} is of threshold {share.key.threshold}; refusing to sign"
        )
    is_next = pinned is not None and roster.version == pinned.version + 1
    if is_next and pinned is not None and roster.previous != b64u_encode(pinned.digest()):
        raise fail(f"roster version {roster.version} does not follow the version you pinned; refusing")
    try:
        signature = sign_roster(secrets.signing_seed, roster.digest())
    except CryptoError as e:  # pragma: no cover - a digest is 32 bytes
        raise fail(str(e)) from e
    return dict(
        client.request(
            "POST", f"/api/v1/holder/roster/{roster.version}/sign", {"signature": b64u_encode(signature)}
        )
    )
