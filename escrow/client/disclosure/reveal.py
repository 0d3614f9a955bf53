"""The submitting officer's reveal (issue 14): open a disclosed request's envelopes on the officer's own
machine, and prove each identity is the person behind the pseudonym in scope before showing it.

1. Fetch the reveal package, signed with the officer's key (role ``reveal``; the server logs the fetch
   first). It holds the request, the escrow key, the envelopes and every holder's partials of R + B.
2. Check the request is the one this officer submitted (its body and digest, and that its blinding
   points are this key's), every envelope against the scope item the officers signed (digest,
   platform, pseudonym) and its proof of knowledge; re-derive each b from the key and open:
   s*R = sum(lambda_i * D_i) - b*PK (escrow.crypto.seal.open_blinded, which verifies each holder's
   proof and names a bad one).
3. Evaluate the threshold OPRF on each revealed identity key, blinded here (role ``oprf-check``; the
   server logs it and forwards the blinded elements to the nodes), check every node's answer against
   the public share the transparency log recorded for it (a proven ``oprf.key_activated`` entry), and
   derive the person's keys: the seal key must give the envelope's M, the person key must be the one
   the identity seal names, and one of the person's pseudonyms on the platform must be the one in
   scope. Otherwise the identity is not shown: the seal or envelope was substituted.

Nothing here is stored; the caller prints what it returns and forgets it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from escrow.client.disclosure.officers import blinded_body, read_document
from escrow.client.disclosure.shared import LogView, fail, read_body
from escrow.client.holder import Transport, _check
from escrow.client.oprf_audit import key_from_event
from escrow.crypto.disclosure import (
    ROLE_OPRF_CHECK,
    ROLE_REVEAL,
    OfficerSecrets,
    blinding_scalar,
    oprf_check_digest,
    sign_officer,
)
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import CryptoError, InvalidProofError
from escrow.crypto.oprf import Mode, Proof, blind
from escrow.crypto.pseudonym import MAX_SLOTS, PersonKeys, person_keys
from escrow.crypto.ristretto import Element
from escrow.crypto.seal import Envelope, OpenedIdentity, PartialDecryption, SealKey, open_blinded
from escrow.crypto.threshold_oprf import NodeAnswer, finalize_threshold
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import EscrowError
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.identity import parse_record, record_identity_key, seal_context
from escrow.protocol.scope import ScopeItem, ScopeMismatchError

SUBSTITUTED = "substituted"
VERIFIED = "verified"


@dataclass(frozen=True, slots=True, repr=False)
class Revealed:
    """One pseudonym in scope: its identity (only when ``verdict`` is ``verified``) and why not."""

    label: str
    verdict: str
    identity: dict[str, Any] | None
    reason: str = ""

    def __repr__(self) -> str:
        return f"Revealed({self.label!r}, {self.verdict}, <hidden>)"


@dataclass(frozen=True, slots=True)
class _Package:
    request_id: int
    body: DisclosureBody
    digest: bytes
    key: ThresholdPublicKey
    envelopes: tuple[Envelope, ...]
    partials: tuple[tuple[PartialDecryption, ...], ...]  # per envelope, one per approving holder
    oprf_key_log_index: object


def _post(transport: Transport, path: str, payload: dict[str, Any]) -> Any:
    body = json.dumps(payload).encode()
    return _check(*transport("POST", path, body, {"Content-Type": "application/json"}))


def _read_package(data: Any, secrets: OfficerSecrets, request_id: int, signed_digest: bytes) -> _Package:
    """Parses and checks the reveal package against what this officer signed. Raises HolderClientError."""
    if not isinstance(data, dict) or data.get("id") != request_id:
        raise fail("the server's reveal package is not for this request; refusing")
    body, digest = read_body(
        data.get("body"), data.get("digest"), mismatch="the reveal package's digest does not match its body"
    )
    if not hmac.compare_digest(digest, signed_digest):
        raise fail("the reveal package is not the request you downloaded (another digest); refusing")
    if body.submitter.username != secrets.username or blinded_body(secrets, body) != body:
        raise fail("this request was not submitted with this key (its blinding points are not yours)")
    try:
        key = ThresholdPublicKey.from_dict(data["key"])
        served = data["envelopes"]
        per_holder = data["partials"]
        if not isinstance(served, list) or not isinstance(per_holder, list) or len(served) != len(body.scope):
            raise fail("the reveal package does not hold one envelope per pseudonym in scope")
        envelopes = tuple(Envelope.from_dict(e) for e in served)
        partials = tuple(
            tuple(PartialDecryption.from_dict(holder[j]) for holder in per_holder) for j in range(len(served))
        )
    except InvalidProofError as e:
        raise fail("an envelope carries no valid proof of its randomness (forged); refusing") from e
    except (CryptoError, KeyError, TypeError, IndexError) as e:
        raise fail(f"the reveal package is malformed ({e}); refusing") from e
    if key.key_id != body.key_id:
        raise fail("the reveal package names another escrow key than the request; refusing")
    for item, envelope in zip(body.scope, envelopes, strict=True):
        try:
            item.check_envelope(b64u_encode(envelope.digest()), dict(envelope.context))
        except ScopeMismatchError as e:
            raise fail(f"{e.detail}; refusing") from e
    return _Package(request_id, body, digest, key, envelopes, partials, data.get("oprf_key_log_index"))


def _open(package: _Package, secrets: OfficerSecrets) -> list[OpenedIdentity | str]:
    """Opens each envelope with this officer's blinding scalars; a string says why one did not open."""
    opened: list[OpenedIdentity | str] = []
    for envelope, partials in zip(package.envelopes, package.partials, strict=True):
        b = blinding_scalar(secrets.signing_seed, package.body.nonce, envelope.digest())
        try:
            opened.append(open_blinded(package.key, envelope, package.digest, partials, b))
        except InvalidProofError as e:
            opened.append(f"the partial decryption of key-holder {e.holder} does not verify")
        except CryptoError as e:
            opened.append(f"the envelope did not open ({e.__class__.__name__}): it was forged or altered")
    return opened


def _oprf_outputs(
    transport: Transport,
    log: LogView,
    secrets: OfficerSecrets,
    package: _Package,
    identity_keys: Sequence[bytes],
) -> tuple[bytes, ...]:
    """Has the nodes evaluate the identity keys, blinded here, and checks every answer against the log."""
    blinds = [blind(x, mode=Mode.VOPRF) for x in identity_keys]
    blinded = [bytes(element) for _, element in blinds]
    signature = sign_officer(
        secrets.signing_seed, ROLE_OPRF_CHECK, oprf_check_digest(package.digest, blinded)
    )
    answer = _post(
        transport,
        f"/api/v1/disclosures/{package.request_id}/oprf-check",
        {"blinded": [b64u_encode(b) for b in blinded], "signature": b64u_encode(signature)},
    )
    if not isinstance(answer, dict) or not isinstance(answer.get("answers"), list):
        raise fail("the server's OPRF answer is malformed; refusing")
    event = log.event(answer.get("log_index"), "the OPRF key")
    if event.get("kind") != "oprf.key_activated" or event["data"].get("key_id") != answer.get("key_id"):
        raise fail("the OPRF key the server names is not one the transparency log activated; refusing")
    try:
        logged = key_from_event(event["data"])
        answers = [
            NodeAnswer(
                int(a["node"]),
                tuple(Element.decode(b64u_decode(e, length=32)) for e in a["evaluated"]),
                Proof.from_bytes(b64u_decode(a["proof"], length=64)),
            )
            for a in answer["answers"]
        ]
        return finalize_threshold(
            identity_keys,
            [b for b, _ in blinds],
            [e for _, e in blinds],
            logged.public_shares,
            answers,
            logged.threshold,
        )
    except InvalidProofError as e:
        raise fail(f"an OPRF node's answer does not verify against its logged key ({e}); refusing") from e
    except (CryptoError, EscrowError, KeyError, TypeError, ValueError) as e:
        raise fail(f"the OPRF answer is malformed ({e}); refusing") from e


def _verdict(item: ScopeItem, opened: OpenedIdentity, keys: PersonKeys) -> str:
    """Returns why the opened identity is not the person behind `item`'s pseudonym, or '' if it is."""
    if SealKey(keys.secret.seal_key_material()).point != opened.seal_point:
        return "the envelope's seal key is not the revealed person's: the envelope was substituted"
    if dict(opened.context) != seal_context(keys.person_key):
        return "the identity seal names another account than the revealed person's: the seal was swapped"
    platform, pseudonym = item.members().get("platform"), item.members().get("pseudonym")
    if not isinstance(platform, str) or not any(
        hmac.compare_digest(keys.secret.pseudonym(platform, slot=slot), str(pseudonym))
        for slot in range(MAX_SLOTS)
    ):
        return "the revealed person's pseudonyms on this platform do not include the one in scope"
    return ""


def open_request(
    transport: Transport, log: LogView, secrets: OfficerSecrets, document: Any
) -> tuple[list[Revealed], list[str]]:
    """Opens the disclosed request in `document` (its request.json) with this officer's key.

    Returns one Revealed per pseudonym in scope (an identity only where every check passed) and lines
    for the officer. Raises HolderClientError for anything that stops the whole reveal.
    """
    request_id, body, digest = read_document(document)
    signature = sign_officer(secrets.signing_seed, ROLE_REVEAL, digest)
    data = _post(transport, f"/api/v1/disclosures/{request_id}/reveal", {"signature": b64u_encode(signature)})
    package = _read_package(data, secrets, request_id, digest)
    opened = _open(package, secrets)
    records: dict[int, dict[str, Any]] = {}
    for j, candidate in enumerate(opened):
        if isinstance(candidate, OpenedIdentity):
            try:
                records[j] = parse_record(candidate.identity)
            except EscrowError:
                opened[j] = "the envelope holds no identity record"
    positions = sorted(records)
    outputs = (
        _oprf_outputs(transport, log, secrets, package, [record_identity_key(records[j]) for j in positions])
        if positions
        else ()
    )
    derived = dict(zip(positions, (person_keys(y) for y in outputs), strict=True))
    result: list[Revealed] = []
    for j, item in enumerate(body.scope):
        entry = opened[j]
        if isinstance(entry, str):
            result.append(Revealed(item.label, SUBSTITUTED, None, entry))
            continue
        reason = _verdict(item, entry, derived[j])
        if reason:
            result.append(Revealed(item.label, SUBSTITUTED, None, reason))
        else:
            result.append(Revealed(item.label, VERIFIED, records[j]))
    lines = [
        f"request {request_id}: {len(body.scope)} pseudonym(s) in scope, partials of "
        f"{len(package.partials[0]) if package.partials else 0} key-holder(s), opened on this machine",
        "each identity below was checked by the OPRF nodes (answers verified against the logged key) to be "
        "the person behind its pseudonym",
    ]
    return result, lines


__all__ = ["SUBSTITUTED", "VERIFIED", "Revealed", "open_request"]
