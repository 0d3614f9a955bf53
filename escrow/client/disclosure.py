"""The disclosure side of the key-holder tool and the legal officer's tool (issue 6).

Runs on the holder's or officer's own machine and trusts the server for nothing it can check itself
(docs/disclosure.md#the-key-holders-checks): the log checkpoint must extend the one the holder saw
before; the request digest is recomputed from the canonical body and its `disclosure.submitted` entry
proven in the log; every officer signature is verified with the key the log says that officer had when
they signed; the court's signature on the order is re-verified with the court key from the log; every
envelope is checked against the digest the officers signed. Only then does the holder compute partial
decryptions, bound to this request's digest (escrow.crypto.seal.partial_decrypt).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from escrow.client.audit import AuditFailure, AuditState, check_extends, open_checkpoint, pin_log_key
from escrow.client.holder import HolderClient, HolderClientError, Transport, _check
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_SUBMIT,
    ROLE_WITHDRAW,
    OfficerSecrets,
    court_verdict,
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
from escrow.crypto.merkle import leaf_hash, verify_inclusion, verify_range
from escrow.crypto.note import Checkpoint
from escrow.crypto.seal import Envelope, partial_decrypt
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256
from escrow.errors import EscrowError

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
            raise _fail(f"{what}: no log entry (index {index!r}, log size {size}); refusing")
        try:
            page = _json(self.fetch(f"/api/v1/log/entries?start={index}&end={index + 1}"), "log entries")
            leaf = b64u_decode(page["entries"][0]["body"])
            proof = _json(self.fetch(f"/api/v1/log/proof/inclusion?index={index}&size={size}"), "proof")
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
            raise _fail(f"{what}: entry {index} is not proven in the transparency log ({e}); refusing") from e
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise _fail(f"{what}: entry {index} is not a log event; refusing")
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
                page = _json(self.fetch(f"/api/v1/log/entries?start={position}&end={end}"), "log entries")
                rows = page["entries"]
                if not rows or [r["index"] for r in rows] != list(range(position, position + len(rows))):
                    raise _fail("entries missing or out of order")
                leaves = [b64u_decode(r["body"]) for r in rows]
                stop = position + len(leaves)
                proof = _json(
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
                raise _fail(
                    f"{what}: log entries {position} to {end - 1} are not proven in the log ({e}); refusing"
                ) from e
            position = stop
        return result


def establish_checkpoint(
    fetch: PublicFetch, *, log_key: str | None = None, state: AuditState | None = None
) -> tuple[LogView, AuditState, list[str]]:
    """Fetches the latest checkpoint, verifies its signature with the pinned log key and, if `state`
    holds a checkpoint this holder verified before, a consistency proof from it (the log only grew).

    The log key is `log_key` (pinned out of band), else the state's, else the server's on first use.
    Returns the log as of the new checkpoint, the state to save and lines for the holder. Raises
    HolderClientError if the log was rewritten, forked or truncated, or a signature does not verify.
    """

    def fetch_json(path: str) -> Any:
        return _json(fetch(path), path)

    lines: list[str] = []
    try:
        key, verifier = pin_log_key(fetch_json, log_key, state, lines)
        note = fetch("/api/v1/log/checkpoint").decode()
        latest = open_checkpoint(note, verifier, "the latest checkpoint")
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
        raise _fail(f"the transparency log cannot be trusted: {e.detail}; refusing") from e
    except UnicodeDecodeError as e:
        raise _fail("the server's checkpoint is not text; refusing") from e
    return LogView(fetch, latest), AuditState(key, note), lines


def _check_submitted(log: LogView, index: object, digest: bytes, request_id: int) -> str:
    """Proves that entry `index` of the log is this request's `disclosure.submitted` event."""
    try:
        event = log.event(index, "this request")
    except HolderClientError as e:
        raise _fail(f"this request is not in the transparency log ({e.detail})") from e
    data = event["data"]
    if (
        event.get("kind") != "disclosure.submitted"
        or data.get("request") != request_id
        or not hmac.compare_digest(str(data.get("request_digest", "")), b64u_encode(digest))
    ):
        raise _fail("this request is not in the transparency log (the entry is another event); refusing")
    return (
        f"log: request digest is entry {index}, proven in the signed checkpoint of size {log.checkpoint.size}"
    )


def _logged_key(data: dict[str, Any], served: bytes) -> bool:
    """Whether a logged key registration names exactly `served`: the full key, or (entries written
    before keys were logged in full) its 128-bit fingerprint."""
    if data.get("public_key") is not None:
        return hmac.compare_digest(str(data["public_key"]), b64u_encode(served))
    return hmac.compare_digest(str(data.get("fingerprint", "")), fingerprint(served))


def _check_officer(
    log: LogView, officer: dict[str, Any], *, request_id: int, submitted_index: int, digest: bytes
) -> str:
    """Checks one officer's signature with the key the log says they had when they signed.

    The key in force is the one in the last `officer.key_registered` entry for that officer before the
    entry recording their signature (`disclosure.submitted` or their `disclosure.cosigned`): the server
    names both entries, the tool proves both and proves, by a range proof, that no other registration
    for that officer lies between them. Returns a line for the holder; raises HolderClientError.
    """
    name = str(officer.get("username"))
    role = officer.get("role")
    try:
        key = b64u_decode(str(officer["public_key"]), length=32)
        key_index, signed_index = officer["key_log_index"], officer["signed_log_index"]
    except (CryptoError, KeyError, TypeError) as e:
        raise _fail(f"officer {name!r}: the server sent no usable key or log entries; refusing") from e
    what = f"officer {name!r}"
    if role == ROLE_SUBMIT:
        if signed_index != submitted_index:
            raise _fail(f"{what}: the submission is not the request's log entry; refusing")
    elif role == ROLE_COSIGN:
        signed = log.event(signed_index, f"{what}'s co-signature")
        data = signed["data"]
        if (
            signed.get("kind") != "disclosure.cosigned"
            or data.get("request") != request_id
            or data.get("officer") != name
        ):
            raise _fail(f"{what}: entry {signed_index} is not their co-signature of this request; refusing")
    else:
        raise _fail(f"{what}: unknown signature role; refusing")
    registered = log.event(key_index, f"{what}'s key")
    data = registered["data"]
    if registered.get("kind") != "officer.key_registered" or data.get("officer") != name:
        raise _fail(f"{what}: entry {key_index} is not a key registration of this officer; refusing")
    if not _logged_key(data, key):
        raise _fail(
            f"{what}: the server serves key {fingerprint(key)}, but the transparency log records key "
            f"{data.get('fingerprint')} for this officer (entry {key_index}): a substituted officer key; "
            "refusing"
        )
    if type(signed_index) is not int or not key_index < signed_index:
        raise _fail(f"{what}: the key was registered after the signature; refusing")
    is_removed = False
    for later in log.events(key_index + 1, signed_index, f"{what}'s key history"):
        kind = later.get("kind") if isinstance(later, dict) else None
        later_data = later.get("data") if isinstance(later, dict) else None
        if not isinstance(later_data, dict):
            continue
        if kind == "officer.key_registered" and later_data.get("officer") == name:
            raise _fail(
                f"{what}: the log records a newer key for this officer before the signature than the one "
                "the server serves (a replaced key); refusing"
            )
        if kind in ("staff.removed", "staff.added") and later_data.get("username") == name:
            is_removed = kind == "staff.removed"
    if is_removed:
        raise _fail(f"{what}: the log records that this officer was removed before signing; refusing")
    try:
        verify_officer(key, str(role), digest, b64u_decode(str(officer["signature"]), length=64))
    except (CryptoError, KeyError, TypeError) as e:
        raise _fail(
            f"the signature of officer {name!r} does not verify with their logged key; refusing"
        ) from e
    return (
        f"{role}: {name} ({data.get('organisation')}), key {fingerprint(key)} "
        f"(registered in log entry {key_index}, the latest for them before entry {signed_index})"
    )


def _check_court(log: LogView, package: dict[str, Any], body: dict[str, Any]) -> str:
    """Re-verifies the court's signature on the order with the court key from the log.

    Downloads-with-the-package the order document (must hash to the SHA-256 the officers signed) and
    the detached signature, takes the court's key from its `court.registered` entry, and computes the
    verdict with escrow.crypto.disclosure.court_verdict, the function the server used. Returns a line
    for the holder; raises HolderClientError if the order was swapped or the verdicts disagree.
    """
    claimed = body["court_signature"]
    court = package.get("court")
    try:
        document = b64u_decode(str(package["order_document"]))
        if not isinstance(court, dict):
            raise TypeError("no court")
        signature = b64u_decode(str(court["signature"]), length=64) if court.get("signature") else None
    except (CryptoError, KeyError, TypeError) as e:
        raise _fail("the server did not send the order document and court signature; refusing") from e
    if not hmac.compare_digest(sha256(document).hex(), str(body["order_sha256"])):
        raise _fail(
            "the order document the server sent does not hash to the SHA-256 the officers signed "
            "(a swapped order); refusing"
        )
    court_key: bytes | None = None
    source = "no signature to check"
    if signature is not None:
        index = court.get("log_index")
        registered = log.event(index, "the court's key")
        data = registered["data"]
        if (
            registered.get("kind") != "court.registered"
            or data.get("court") != body["court"]["id"]
            or data.get("name") != body["court"]["name"]
            or data.get("jurisdiction") != body["court"]["jurisdiction"]
        ):
            raise _fail(f"log entry {index} is not the registration of this request's court; refusing")
        if data.get("public_key"):
            court_key = b64u_decode(str(data["public_key"]), length=32)
        elif data.get("fingerprint") and court.get("public_key"):
            served = b64u_decode(str(court["public_key"]), length=32)
            court_key = served if _logged_key(data, served) else None
        source = f"checked here with the court key of log entry {index}"
    verdict = court_verdict(court_key, document, signature)
    if verdict != claimed:
        raise _fail(
            f"COURT SIGNATURE VERDICT MISMATCH: the officer-signed request says {claimed!r}, but this tool "
            f"finds {verdict!r} ({source}); refusing"
        )
    return f"court signature on the order: {verdict} ({source}; order SHA-256 {body['order_sha256']})"


def check_package(package: Any, log: LogView) -> CheckedRequest:
    """Checks everything a holder must before approving, against the checkpoint of `log`.

    Returns the checked request. Raises HolderClientError naming the first check that failed.
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
    submitted_index = package.get("log_index")
    lines = [
        f"request {request_id}  digest {b64u_encode(digest)}",
        f"court: {body['court']['name']} ({body['court']['jurisdiction']})",
        f"case: {body['case_number']}",
        f"legal basis: {body['legal_basis']}",
        _check_submitted(log, submitted_index, digest, request_id),
        _check_court(log, package, body),
        f"emergency flag: {'yes (changes nothing about the quorum)' if body['emergency'] else 'no'}",
        f"expires: {body['expires_at']}",
    ]
    assert type(submitted_index) is int  # noqa: S101 - proven by _check_submitted
    roles: dict[str, list[str]] = {ROLE_SUBMIT: [], ROLE_COSIGN: []}
    officers = package.get("officers", [])
    if not isinstance(officers, list):
        raise _fail("unexpected answer from the server (officers)")
    for officer in officers:
        if not isinstance(officer, dict) or officer.get("role") not in roles:
            raise _fail("unexpected answer from the server (officer)")
        lines.append(
            _check_officer(
                log, officer, request_id=request_id, submitted_index=submitted_index, digest=digest
            )
        )
        roles[officer["role"]].append(officer["username"])
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
    client: HolderClient,
    fetch: PublicFetch,
    request_id: int,
    *,
    log_key: str | None = None,
    state: AuditState | None = None,
) -> tuple[CheckedRequest, AuditState]:
    """Establishes a checkpoint (establish_checkpoint), fetches request `request_id` as this holder and
    checks it against that checkpoint (check_package).

    Returns the checked request and the state to save; its summary starts with the log lines.
    """
    log, new_state, lines = establish_checkpoint(fetch, log_key=log_key, state=state)
    checked = check_package(client.request("GET", f"/api/v1/holder/disclosures/{request_id}"), log)
    return (
        CheckedRequest(
            checked.request_id, checked.body, checked.digest, checked.envelopes, (*lines, *checked.summary)
        ),
        new_state,
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
