"""The disclosure side of the key-holder tool and the legal officer's tool (issue 6).

Runs on the holder's or officer's own machine and trusts the server for nothing it can check itself:
the request digest is recomputed from the canonical body, the request's `disclosure.submitted` entry is
proven in the transparency log against a signed checkpoint, every officer signature is verified, and
every envelope is checked against the digest the officers signed. Only then does the holder compute
partial decryptions, bound to this request's digest (escrow.crypto.seal.partial_decrypt).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from escrow.client.holder import HolderClient, HolderClientError, Transport, _check
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_SUBMIT,
    ROLE_WITHDRAW,
    OfficerSecrets,
    extension_body,
    extension_digest,
    request_digest,
    sign_decision,
    sign_officer,
    verify_officer,
    withdrawal_body,
    withdrawal_digest,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.holderfile import HolderSecrets
from escrow.crypto.merkle import leaf_hash, verify_inclusion
from escrow.crypto.note import open_note, parse_checkpoint, parse_verifier_key
from escrow.crypto.seal import Envelope, partial_decrypt
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256

PublicFetch = Callable[[str], bytes]
"""GETs a public path of the server (the transparency log) and returns the body bytes."""


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A request whose digest, log inclusion, officer signatures and envelopes the tool verified."""

    request_id: int
    body: dict[str, Any]
    digest: bytes
    envelopes: tuple[Envelope, ...]
    summary: tuple[str, ...]


def _fail(message: str) -> HolderClientError:
    return HolderClientError(message)


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise _fail(f"{what}: the server did not answer JSON") from e


def check_in_log(
    fetch: PublicFetch, *, index: object, digest: bytes, request_id: int, log_key: str | None
) -> str:
    """Proves that entry `index` of the log is this request's `disclosure.submitted` event.

    Uses `log_key` (the verifier key pinned out of band) or else the one the server publishes.
    Returns a line for the holder. Raises HolderClientError if the request is not in the log.
    """
    if type(index) is not int or index < 0:
        raise _fail("this request is not in the transparency log (no log entry); refusing")
    try:
        verifier = parse_verifier_key(
            log_key or str(_json(fetch("/api/v1/log/key"), "log key")["verifier_key"])
        )
        checkpoint = parse_checkpoint(open_note(fetch("/api/v1/log/checkpoint").decode(), verifier))
        page = _json(fetch(f"/api/v1/log/entries?start={index}&end={index + 1}"), "log entries")
        leaf = b64u_decode(page["entries"][0]["body"])
        event = json.loads(leaf)
        proof_page = _json(
            fetch(f"/api/v1/log/proof/inclusion?index={index}&size={checkpoint.size}"), "proof"
        )
        proof = [b64u_decode(h) for h in proof_page["proof"]]
        verify_inclusion(leaf_hash(leaf), index, checkpoint.size, proof, checkpoint.root_hash)
    except HolderClientError as e:
        raise _fail(f"this request is not proven in the transparency log ({e}); refusing") from e
    except (CryptoError, KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise _fail(f"this request is not proven in the transparency log ({e}); refusing") from e
    data = event.get("data", {}) if isinstance(event, dict) else {}
    if (
        event.get("kind") != "disclosure.submitted"
        or data.get("request") != request_id
        or not hmac.compare_digest(str(data.get("request_digest", "")), b64u_encode(digest))
    ):
        raise _fail("this request is not in the transparency log (the entry is another event); refusing")
    return f"log: request digest is entry {index}, proven in the signed checkpoint of size {checkpoint.size}"


def check_package(package: Any, fetch: PublicFetch, *, log_key: str | None = None) -> CheckedRequest:
    """Checks everything a holder must before approving. Returns the checked request.

    Raises HolderClientError naming the first check that failed.
    """
    if not isinstance(package, dict) or not isinstance(package.get("body"), dict):
        raise _fail("unexpected answer from the server")
    body: dict[str, Any] = package["body"]
    request_id = package.get("id")
    if type(request_id) is not int:
        raise _fail("unexpected answer from the server (request id)")
    try:
        digest = request_digest(body)
    except CryptoError as e:
        raise _fail("the request body is not canonical JSON; refusing") from e
    if not hmac.compare_digest(b64u_encode(digest), str(package.get("digest", ""))):
        raise _fail("the server's request digest does not match the request body; refusing")
    lines = [
        f"request {request_id}  digest {b64u_encode(digest)}",
        f"court: {body['court']['name']} ({body['court']['jurisdiction']})",
        f"case: {body['case_number']}",
        f"legal basis: {body['legal_basis']}",
        f"court signature on the order: {body['court_signature']}",
        f"emergency flag: {'yes (changes nothing about the quorum)' if body['emergency'] else 'no'}",
        f"expires: {body['expires_at']}",
        check_in_log(
            fetch, index=package.get("log_index"), digest=digest, request_id=request_id, log_key=log_key
        ),
    ]
    roles: dict[str, list[str]] = {ROLE_SUBMIT: [], ROLE_COSIGN: []}
    for officer in package.get("officers", []):
        try:
            key = b64u_decode(officer["public_key"], length=32)
            verify_officer(key, officer["role"], digest, b64u_decode(officer["signature"], length=64))
        except (CryptoError, KeyError, TypeError) as e:
            raise _fail(
                f"the signature of officer {officer.get('username')!r} does not verify; refusing"
            ) from e
        roles[officer["role"]].append(officer["username"])
        lines.append(
            f"{officer['role']}: {officer['username']} ({officer['organisation']}), key {fingerprint(key)}"
        )
    if roles[ROLE_SUBMIT] != [body["submitter"]["username"]] or not roles[ROLE_COSIGN]:
        raise _fail("the request is not signed by its submitter and a co-signer; refusing")
    if body["submitter"]["username"] in roles[ROLE_COSIGN]:
        raise _fail("the submitter co-signed their own request; refusing")
    scope = body["scope"]
    served = package.get("envelopes", [])
    if not isinstance(served, list) or len(served) != len(scope):
        raise _fail("the server did not send one envelope per pseudonym in scope; refusing")
    envelopes = []
    for item, entry in zip(scope, served, strict=True):
        try:
            envelope = Envelope.from_dict(entry["envelope"])
        except (CryptoError, KeyError, TypeError) as e:
            raise _fail(f"the envelope for {item['pseudonym']} is malformed; refusing") from e
        context = dict(envelope.context)
        if (
            not hmac.compare_digest(b64u_encode(envelope.digest()), item["envelope_digest"])
            or context.get("platform") != item["platform"]
            or context.get("pseudonym") != item["pseudonym"]
            or envelope.key_id != body["key_id"]
        ):
            raise _fail(
                f"the envelope for {item['platform']}/{item['pseudonym']} does not match the digest "
                "the officers signed (tampered or substituted); refusing"
            )
        envelopes.append(envelope)
        lines.append(f"scope: {item['platform']} / {item['pseudonym']}  envelope {item['envelope_digest']}")
    return CheckedRequest(request_id, body, digest, tuple(envelopes), tuple(lines))


def fetch_checked(
    client: HolderClient, fetch: PublicFetch, request_id: int, *, log_key: str | None = None
) -> CheckedRequest:
    """Fetches request `request_id` as this holder and checks it (check_package)."""
    return check_package(
        client.request("GET", f"/api/v1/holder/disclosures/{request_id}"), fetch, log_key=log_key
    )


def approve(client: HolderClient, secrets: HolderSecrets, checked: CheckedRequest) -> dict[str, Any]:
    """Computes this holder's partial decryptions bound to the request digest, signs and submits them.

    Returns the request as the server reports it. Raises HolderFileError (no share of the key) or
    HolderClientError (refused by the server).
    """
    share = secrets.share_for(checked.body["key_id"]).share
    partials = [partial_decrypt(share, envelope, checked.digest).to_dict() for envelope in checked.envelopes]
    signature = sign_decision(secrets.signing_seed, checked.digest, "approve", canonical_json(partials))
    result = client.request(
        "POST",
        f"/api/v1/holder/disclosures/{checked.request_id}/approve",
        {"partials": partials, "signature": b64u_encode(signature)},
    )
    return dict(result)


def reject(
    client: HolderClient, secrets: HolderSecrets, checked: CheckedRequest, reason: str
) -> dict[str, Any]:
    """Signs and submits this holder's rejection of the request. Returns the request."""
    signature = sign_decision(secrets.signing_seed, checked.digest, "reject", reason.strip().encode())
    result = client.request(
        "POST",
        f"/api/v1/holder/disclosures/{checked.request_id}/reject",
        {"reason": reason.strip(), "signature": b64u_encode(signature)},
    )
    return dict(result)


def officer_summary(document: Any) -> tuple[int, bytes, list[str]]:
    """Checks a request document (GET /api/v1/disclosures/<id>) and returns (id, digest, summary lines).

    The digest is recomputed from the body: the officer signs what they read, not what the server says.
    Raises HolderClientError if the document is malformed or its digest does not match its body.
    """
    try:
        request_id, body = int(document["id"]), document["body"]
        digest = request_digest(body)
    except (KeyError, TypeError, ValueError, CryptoError) as e:
        raise _fail("not a disclosure request document") from e
    if not hmac.compare_digest(b64u_encode(digest), str(document.get("digest", ""))):
        raise _fail("the document's digest does not match its body; refusing to sign")
    lines = [
        f"request {request_id}  digest {b64u_encode(digest)}",
        f"court: {body['court']['name']} ({body['court']['jurisdiction']}), case {body['case_number']}",
        f"order document SHA-256: {body['order_sha256']}  court signature: {body['court_signature']}",
        f"legal basis: {body['legal_basis']}",
        f"submitter: {body['submitter']['username']} ({body['submitter']['organisation']})",
        f"expires: {body['expires_at']}  user told after {body['notify_delay_days']} day(s)",
    ]
    lines += [
        f"scope: {s['platform']} / {s['pseudonym']}  envelope {s['envelope_digest']}" for s in body["scope"]
    ]
    return request_id, digest, lines


def officer_sign(
    transport: Transport, secrets: OfficerSecrets, request_id: int, digest: bytes, role: str
) -> dict[str, Any]:
    """Signs the request digest as `role` (submit or cosign) and sends the signature. Returns the request."""
    signature = b64u_encode(sign_officer(secrets.signing_seed, role, digest))
    payload: dict[str, str] = {"signature": signature}
    if role == ROLE_COSIGN:
        payload["username"] = secrets.username
    body = json.dumps(payload).encode()
    path = f"/api/v1/disclosures/{request_id}/{role}"
    return dict(_check(*transport("POST", path, body, {"Content-Type": "application/json"})))


def _post(transport: Transport, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    return dict(_check(*transport("POST", path, body, {"Content-Type": "application/json"})))


@dataclass(frozen=True, slots=True)
class PreparedExtension:
    """An extension built from a checked request document, ready for the officer to read and sign."""

    request_id: int
    body: dict[str, Any]
    digest: bytes
    order: bytes | None
    summary: tuple[str, ...]


def prepare_extension(
    document: Any,
    proposer: str,
    *,
    new_delay_days: int,
    reason: str,
    order_reference: str,
    order: bytes | None = None,
) -> PreparedExtension:
    """Builds the next extension of the request in `document` (checked with officer_summary).

    The sequence number and current delay come from the document, so a stale document is refused by
    the server (409). Raises HolderClientError.
    """
    request_id, digest, _ = officer_summary(document)
    extensions = document.get("extensions") or []
    current = document.get("notify_delay_days", document["body"]["notify_delay_days"])
    if not isinstance(extensions, list) or type(current) is not int:
        raise _fail("not a disclosure request document (extensions)")
    body = extension_body(
        request_id=request_id,
        request_digest=digest,
        sequence=len(extensions) + 1,
        old_delay_days=current,
        new_delay_days=new_delay_days,
        reason=reason.strip(),
        order_reference=order_reference.strip(),
        order_sha256=sha256(order).hex() if order else None,
        proposer=proposer,
    )
    ext_digest = extension_digest(body)
    lines = (
        f"request {request_id}  digest {b64u_encode(digest)}",
        f"court: {document['body']['court']['name']}, case {document['body']['case_number']}",
        f"extension {body['sequence']}: notification delay {current} -> {new_delay_days} day(s)",
        f"court decision: {body['order_reference']}"
        + (f"  order SHA-256: {body['order_sha256']}" if order else ""),
        f"reason: {body['reason']}",
        f"extension digest {b64u_encode(ext_digest)}",
    )
    return PreparedExtension(request_id, body, ext_digest, order, lines)


def officer_propose_extension(
    transport: Transport, secrets: OfficerSecrets, prepared: PreparedExtension
) -> dict[str, Any]:
    """Signs a prepared extension's digest as `extend` and sends it. Returns the request."""
    if prepared.body["proposer"] != secrets.username:
        raise _fail("the extension names another proposer than the owner of this key")
    payload: dict[str, Any] = {
        key: prepared.body[key]
        for key in ("sequence", "old_delay_days", "new_delay_days", "reason", "order_reference")
    }
    payload["username"] = secrets.username
    payload["signature"] = b64u_encode(sign_officer(secrets.signing_seed, ROLE_EXTEND, prepared.digest))
    if prepared.order:
        payload["order"] = b64u_encode(prepared.order)
    return _post(transport, f"/api/v1/disclosures/{prepared.request_id}/extensions", payload)


def extension_summary(document: Any, sequence: int) -> tuple[int, bytes, list[str]]:
    """Checks extension `sequence` of the request in `document`: the request digest is recomputed from
    its body, and the extension body must name this request and digest and hash to the digest shown.
    Returns (request id, extension digest, summary lines). Raises HolderClientError.
    """
    request_id, digest, lines = officer_summary(document)
    found = [
        e for e in document.get("extensions") or [] if isinstance(e, dict) and e.get("sequence") == sequence
    ]
    if not found or not isinstance(found[0].get("body"), dict):
        raise _fail(f"the document has no extension {sequence}; download it again")
    body = found[0]["body"]
    try:
        ext_digest = extension_digest(body)
    except CryptoError as e:
        raise _fail("the extension body is malformed; refusing to sign") from e
    if (
        body.get("request") != request_id
        or not hmac.compare_digest(str(body.get("request_digest", "")), b64u_encode(digest))
        or body.get("sequence") != sequence
    ):
        raise _fail("the extension does not name this request and its digest; refusing to sign")
    if not hmac.compare_digest(b64u_encode(ext_digest), str(found[0].get("digest", ""))):
        raise _fail("the extension digest does not match its body; refusing to sign")
    lines += [
        f"extension {sequence} by {body['proposer']} ({found[0].get('status')}): notification delay "
        f"{body['old_delay_days']} -> {body['new_delay_days']} day(s)",
        f"court decision: {body['order_reference']}"
        + (f"  order SHA-256: {body['order_sha256']}" if body.get("order_sha256") else ""),
        f"reason: {body['reason']}",
        f"extension digest {b64u_encode(ext_digest)}",
    ]
    return request_id, ext_digest, lines


def officer_cosign_extension(
    transport: Transport, secrets: OfficerSecrets, request_id: int, sequence: int, ext_digest: bytes
) -> dict[str, Any]:
    """Signs an extension digest as `extend-cosign` and sends it. Returns the request."""
    signature = b64u_encode(sign_officer(secrets.signing_seed, ROLE_EXTEND_COSIGN, ext_digest))
    return _post(
        transport,
        f"/api/v1/disclosures/{request_id}/extensions/{sequence}/cosign",
        {"username": secrets.username, "signature": signature},
    )


def officer_withdraw(
    transport: Transport, secrets: OfficerSecrets, request_id: int, digest: bytes, reason: str
) -> dict[str, Any]:
    """Signs the withdrawal of the request with `digest` as `withdraw` and sends it. Returns the request."""
    body = withdrawal_body(
        request_id=request_id, request_digest=digest, officer=secrets.username, reason=reason.strip()
    )
    signature = b64u_encode(sign_officer(secrets.signing_seed, ROLE_WITHDRAW, withdrawal_digest(body)))
    return _post(
        transport,
        f"/api/v1/disclosures/{request_id}/withdraw",
        {"username": secrets.username, "reason": body["reason"], "signature": signature},
    )
