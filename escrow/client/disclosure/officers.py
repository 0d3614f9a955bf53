"""The legal officer's disclosure tool (issue 6): read a request document, then sign on one's own machine.

Runs on the officer's computer with the officer's key file (escrow.crypto.disclosure). Every signature is
over a digest this tool recomputed from what it read (the request body parsed with the protocol class, a
newer version refused by name): submit and co-sign sign the request digest; a notification-delay
extension and its co-signature sign the extension digest; a withdrawal signs the withdrawal digest.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escrow.client.disclosure.shared import fail, read_body, read_signing_seed
from escrow.client.holder import Transport, _check
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_SUBMIT,
    ROLE_WITHDRAW,
    OfficerSecrets,
    blinding_point,
    extension_body,
    extension_digest,
    sign_officer,
    withdrawal_body,
    withdrawal_digest,
)
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode, b64u_encode, sha256
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.roster import OfficerCertificate


def read_document(document: Any) -> tuple[int, DisclosureBody, bytes]:
    """Returns the id, parsed body and recomputed digest of a request document. Raises HolderClientError."""
    try:
        request_id, raw = int(document["id"]), document["body"]
    except (KeyError, TypeError, ValueError) as e:
        raise fail("not a disclosure request document") from e
    body, digest = read_body(
        raw,
        document.get("digest"),
        mismatch="the document's digest does not match its body; refusing to sign",
    )
    return request_id, body, digest


def officer_summary(document: Any) -> tuple[int, bytes, list[str]]:
    """Checks a request document (GET /api/v1/disclosures/<id>) and returns (id, digest, summary lines).

    The body is parsed with the protocol class (a newer version is refused by name) and the digest is
    recomputed from it: the officer signs what they read, not what the server says.
    Raises HolderClientError if the document is malformed or its digest does not match its body.
    """
    request_id, body, digest = read_document(document)
    lines = [
        f"request {request_id}  digest {b64u_encode(digest)}",
        f"court: {body.court.name} ({body.court.jurisdiction}), case {body.case_number}",
        f"order document SHA-256: {body.order_sha256}  court signature: {body.court_verdict}",
        f"legal basis: {body.legal_basis}",
        f"submitter: {body.submitter.username} ({body.submitter.organisation})",
        f"expires: {body.expires_at_text}  user told after {body.notify_delay_days} day(s)",
    ]
    lines += [f"scope: {item.label}  envelope {item.envelope_digest}" for item in body.scope]
    if body.is_blinded:
        lines.append(f"blinding: {len(body.blinding)} point(s) from the submitter's key")
    return request_id, digest, lines


def officer_sign(
    transport: Transport, secrets: OfficerSecrets, request_id: int, digest: bytes, role: str
) -> dict[str, Any]:
    """Signs the request digest as `role` (cosign) and sends the signature. Returns the request."""
    if role != ROLE_COSIGN:
        raise fail("a submission carries blinding points: use officer_submit")
    signature = b64u_encode(sign_officer(secrets.signing_seed, role, digest))
    payload: dict[str, str] = {"signature": signature, "username": secrets.username}
    return _post(transport, f"/api/v1/disclosures/{request_id}/{role}", payload)


def blinded_body(secrets: OfficerSecrets, body: DisclosureBody) -> DisclosureBody:
    """Returns `body` with this officer's blinding point for each envelope in scope (issue 14): the key-
    holders decrypt R + B, and only this key re-derives the b that removes B (reveal.open_request)."""
    return body.with_blinding(
        [
            blinding_point(secrets.signing_seed, body.nonce, b64u_decode(item.envelope_digest, length=32))
            for item in body.scope
        ]
    )


def officer_submit(transport: Transport, secrets: OfficerSecrets, document: Any) -> dict[str, Any]:
    """Adds this officer's blinding points to the draft in `document`, signs the digest of the result
    (role submit) and sends both. Returns the request."""
    request_id, body, _ = read_document(document)
    if body.submitter.username != secrets.username:
        raise fail(f"this draft is {body.submitter.username}'s to submit, not {secrets.username}'s")
    blinded = blinded_body(secrets, body)
    payload = {
        "signature": b64u_encode(sign_officer(secrets.signing_seed, ROLE_SUBMIT, blinded.digest())),
        "blinding": blinded.to_dict()["blinding"],
    }
    return _post(transport, f"/api/v1/disclosures/{request_id}/submit", payload)


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
    request_id, request_body, digest = read_document(document)
    extensions = document.get("extensions") or []
    current = document.get("notify_delay_days", request_body.notify_delay_days)
    if not isinstance(extensions, list) or type(current) is not int:
        raise fail("not a disclosure request document (extensions)")
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
        f"court: {request_body.court.name}, case {request_body.case_number}",
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
        raise fail("the extension names another proposer than the owner of this key")
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
        raise fail(f"the document has no extension {sequence}; download it again")
    body = found[0]["body"]
    try:
        ext_digest = extension_digest(body)
    except CryptoError as e:
        raise fail("the extension body is malformed; refusing to sign") from e
    if (
        body.get("request") != request_id
        or not hmac.compare_digest(str(body.get("request_digest", "")), b64u_encode(digest))
        or body.get("sequence") != sequence
    ):
        raise fail("the extension does not name this request and its digest; refusing to sign")
    if not hmac.compare_digest(b64u_encode(ext_digest), str(found[0].get("digest", ""))):
        raise fail("the extension digest does not match its body; refusing to sign")
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


def certify_officer(
    org_key_file: bytes,
    *,
    username: str,
    organisation: str,
    officer_key_b64: str,
    not_before: datetime,
    not_after: datetime,
) -> dict[str, Any]:
    """Returns an officer certificate signed with the organisation's key (`escrow org certify`), as the
    service records it: {certificate, signature}. Run where the organisation keeps its key, never on
    the server. Raises ProtocolError (a malformed key or validity), EncodingError (a bad key file)."""
    certificate = OfficerCertificate(
        username=username,
        organisation=organisation,
        officer_key=officer_key_b64,
        not_before=not_before,
        not_after=not_after,
    )
    return certificate.signed(read_signing_seed(org_key_file, "organisation key file"))
