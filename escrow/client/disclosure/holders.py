"""The key-holder's disclosure tool (issue 6): check a request on the holder's own machine, then decide.

Trusts the server for nothing it can check itself (docs/disclosure.md#the-key-holders-checks): the log
checkpoint must extend the one the holder saw before; the request body is parsed with the protocol class
(a newer version is refused by name) and its digest recomputed and its `disclosure.submitted` entry
proven in the log; every officer signature is verified with the key the log says that officer had when
they signed; the court's signature on the order is re-verified with the court key from the log
(escrow.client.disclosure.courts); every envelope is checked against the scope item the officers signed.
every envelope's proof of knowledge of its randomness is verified. Only then does the holder compute
partial decryptions of R + B (B: the submitter's blinding point in the signed body), bound to this
request's digest (escrow.crypto.seal.partial_decrypt): the server combines nothing it can open.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from escrow.client.audit import AuditState
from escrow.client.disclosure.courts import check_court, checked_order
from escrow.client.disclosure.roster import establish_roster
from escrow.client.disclosure.shared import (
    LogView,
    PublicFetch,
    answer_json,
    establish_checkpoint,
    fail,
    logged_key_matches,
    read_body,
)
from escrow.client.holder import HolderClient, HolderClientError
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import ROLE_COSIGN, ROLE_SUBMIT, public_key, sign_decision, verify_officer
from escrow.crypto.errors import CryptoError, InvalidProofError
from escrow.crypto.holderfile import HolderSecrets
from escrow.crypto.seal import Envelope, partial_decrypt
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.errors import ProtocolError
from escrow.protocol.roster import OfficerCertificate, Roster, parse_log_time
from escrow.protocol.scope import ScopeMismatchError
from escrow.protocol.witness import WitnessPolicy


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    """A request whose digest, log inclusion, officer signatures and envelopes the tool verified."""

    request_id: int
    body: DisclosureBody
    digest: bytes
    envelopes: tuple[Envelope, ...]
    summary: tuple[str, ...]
    roster: Roster | None = None  # the roster version checked (the caller pins it: roster.write_pin)


def _check_submitted(log: LogView, index: object, digest: bytes, request_id: int) -> str:
    """Proves that entry `index` of the log is this request's `disclosure.submitted` event."""
    try:
        event = log.event(index, "this request")
    except HolderClientError as e:
        raise fail(f"this request is not in the transparency log ({e.detail})") from e
    data = event["data"]
    if (
        event.get("kind") != "disclosure.submitted"
        or data.get("request") != request_id
        or not hmac.compare_digest(str(data.get("request_digest", "")), b64u_encode(digest))
    ):
        raise fail("this request is not in the transparency log (the entry is another event); refusing")
    return (
        f"log: request digest is entry {index}, proven in the signed checkpoint of size {log.checkpoint.size}"
    )


def _check_officer(
    log: LogView,
    officer: dict[str, Any],
    *,
    request_id: int,
    submitted_index: int,
    digest: bytes,
    roster: Roster,
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
        raise fail(f"officer {name!r}: the server sent no usable key or log entries; refusing") from e
    what = f"officer {name!r}"
    if role == ROLE_SUBMIT:
        if signed_index != submitted_index:
            raise fail(f"{what}: the submission is not the request's log entry; refusing")
        signed = log.event(signed_index, f"{what}'s submission")
    elif role == ROLE_COSIGN:
        signed = log.event(signed_index, f"{what}'s co-signature")
        data = signed["data"]
        if (
            signed.get("kind") != "disclosure.cosigned"
            or data.get("request") != request_id
            or data.get("officer") != name
        ):
            raise fail(f"{what}: entry {signed_index} is not their co-signature of this request; refusing")
    else:
        raise fail(f"{what}: unknown signature role; refusing")
    registered = log.event(key_index, f"{what}'s key")
    data = registered["data"]
    if registered.get("kind") != "officer.key_registered" or data.get("officer") != name:
        raise fail(f"{what}: entry {key_index} is not a key registration of this officer; refusing")
    if not logged_key_matches(data, key):
        raise fail(
            f"{what}: the server serves key {fingerprint(key)}, but the transparency log records key "
            f"{data.get('fingerprint')} for this officer (entry {key_index}): a substituted officer key; "
            "refusing"
        )
    if type(signed_index) is not int or not key_index < signed_index:
        raise fail(f"{what}: the key was registered after the signature; refusing")
    is_removed = False
    for later in log.events(key_index + 1, signed_index, f"{what}'s key history"):
        kind = later.get("kind") if isinstance(later, dict) else None
        later_data = later.get("data") if isinstance(later, dict) else None
        if not isinstance(later_data, dict):
            continue
        if kind == "officer.key_registered" and later_data.get("officer") == name:
            raise fail(
                f"{what}: the log records a newer key for this officer before the signature than the one "
                "the server serves (a replaced key); refusing"
            )
        if kind in ("staff.removed", "staff.added") and later_data.get("username") == name:
            is_removed = kind == "staff.removed"
    if is_removed:
        raise fail(f"{what}: the log records that this officer was removed before signing; refusing")
    try:
        verify_officer(key, str(role), digest, b64u_decode(str(officer["signature"]), length=64))
    except (CryptoError, KeyError, TypeError) as e:
        raise fail(
            f"the signature of officer {name!r} does not verify with their logged key; refusing"
        ) from e
    organisation = _check_certificate(roster, officer, name, str(role), key, signed.get("time"), data)
    return (
        f"{role}: {name} ({organisation}), key {fingerprint(key)} "
        f"(registered in log entry {key_index}, the latest for them before entry {signed_index}; "
        f"certified by {organisation}, on roster version {roster.version})"
    )


def _check_certificate(
    roster: Roster,
    officer: dict[str, Any],
    name: str,
    role: str,
    key: bytes,
    signed_at: object,
    registered: dict[str, Any],
) -> str:
    """Checks the officer's key against the roster the holders signed (issue 16): a certificate by the
    key the roster lists for their organisation, for this username and key, valid when they signed,
    of an organisation the roster lets submit (or co-sign). Returns the organisation's name."""
    what = f"officer {name!r}"
    record = officer.get("certificate")
    if not isinstance(record, dict):
        raise fail(
            f"{what}: no certificate by an organisation on the roster for key {fingerprint(key)} (a key "
            "the service registered alone); refusing"
        )
    try:
        certificate = OfficerCertificate.from_dict(record.get("certificate"))
        signed_time = parse_log_time(signed_at)
        organisation = certificate.check(roster, record.get("signature"), at=signed_time)
    except ProtocolError as e:
        raise fail(f"{what}: {e.detail}; refusing") from e
    if certificate.username != name or certificate.officer_key != b64u_encode(key):
        raise fail(f"{what}: the certificate is for another officer or key; refusing")
    if certificate.organisation != registered.get("organisation"):
        raise fail(f"{what}: the certificate's organisation is not the one the log records; refusing")
    if not (organisation.may_submit if role == ROLE_SUBMIT else organisation.may_cosign):
        raise fail(
            f"{what}: the roster does not let officers of {organisation.name!r} "
            f"{'submit' if role == ROLE_SUBMIT else 'co-sign'}; refusing"
        )
    return organisation.name


def check_package(package: Any, log: LogView, roster: Roster | None) -> CheckedRequest:
    """Checks everything a holder must before approving, against the checkpoint of `log` and the
    roster the holders signed (`roster`, established by escrow.client.disclosure.roster; None: there is
    none, and nothing is approved).

    Returns the checked request. Raises HolderClientError naming the first check that failed (a body
    version or scope kind this tool does not understand is named, never misread).
    """
    if not isinstance(package, dict) or not isinstance(package.get("body"), dict):
        raise fail("unexpected answer from the server")
    request_id = package.get("id")
    if type(request_id) is not int:
        raise fail("unexpected answer from the server (request id)")
    body, digest = read_body(
        package["body"],
        package.get("digest"),
        mismatch="the server's request digest does not match the request body; refusing",
    )
    submitted_index = package.get("log_index")
    if roster is None:
        raise fail("there is no roster the key-holders signed; refusing")
    lines = [
        f"request {request_id}  digest {b64u_encode(digest)}",
        f"court: {body.court.name} ({body.court.jurisdiction})",
        f"case: {body.case_number}",
        f"legal basis: {body.legal_basis}",
        _check_submitted(log, submitted_index, digest, request_id),
        check_court(package, body, roster),
        f"emergency flag: {'yes (changes nothing about the quorum)' if body.is_emergency else 'no'}",
        f"expires: {body.expires_at_text}",
    ]
    assert type(submitted_index) is int  # noqa: S101 - proven by _check_submitted
    roles: dict[str, list[str]] = {ROLE_SUBMIT: [], ROLE_COSIGN: []}
    officers = package.get("officers", [])
    if not isinstance(officers, list):
        raise fail("unexpected answer from the server (officers)")
    for officer in officers:
        if not isinstance(officer, dict) or officer.get("role") not in roles:
            raise fail("unexpected answer from the server (officer)")
        lines.append(
            _check_officer(
                log,
                officer,
                request_id=request_id,
                submitted_index=submitted_index,
                digest=digest,
                roster=roster,
            )
        )
        roles[officer["role"]].append(officer["username"])
    if roles[ROLE_SUBMIT] != [body.submitter.username] or not roles[ROLE_COSIGN]:
        raise fail("the request is not signed by its submitter and a co-signer; refusing")
    if body.submitter.username in roles[ROLE_COSIGN]:
        raise fail("the submitter co-signed their own request; refusing")
    envelopes = _check_envelopes(body, package.get("envelopes", []))
    lines += [f"scope: {item.label}  envelope {item.envelope_digest}" for item in body.scope]
    return CheckedRequest(request_id, body, digest, envelopes, tuple(lines))


def _check_envelopes(body: DisclosureBody, served: object) -> tuple[Envelope, ...]:
    """Returns the served envelopes, one per scope item, each checked against what the item names and
    its proof of knowledge verified (Envelope.from_dict): a point nobody chose for this envelope is
    never decrypted. The request must carry the submitter's blinding points."""
    if not isinstance(served, list) or len(served) != len(body.scope):
        raise fail("the server did not send one envelope per pseudonym in scope; refusing")
    if not body.is_blinded:
        raise fail("the request carries no blinding points, so the server could read the reveal; refusing")
    envelopes = []
    for item, entry in zip(body.scope, served, strict=True):
        try:
            envelope = Envelope.from_dict(entry["envelope"])
        except InvalidProofError as e:
            raise fail(
                f"the envelope for {item.label} carries no valid proof of its randomness (a point taken "
                "from elsewhere, or a forged envelope); refusing"
            ) from e
        except (CryptoError, KeyError, TypeError) as e:
            raise fail(f"the envelope for {item.label} is malformed; refusing") from e
        try:
            item.check_envelope(b64u_encode(envelope.digest()), dict(envelope.context))
        except ScopeMismatchError as e:
            raise fail(f"{e.detail}; refusing") from e
        if envelope.key_id != body.key_id:
            raise fail(
                f"the envelope for {item.label} is sealed to another escrow key than the request's; refusing"
            )
        envelopes.append(envelope)
    return tuple(envelopes)


def fetch_checked(
    client: HolderClient,
    fetch: PublicFetch,
    request_id: int,
    *,
    log_key: str | None = None,
    state: AuditState | None = None,
    policy: WitnessPolicy | None = None,
    pinned_roster: Roster | None = None,
) -> tuple[CheckedRequest, AuditState]:
    """Establishes a checkpoint (establish_checkpoint) and the roster in force from this holder's pin
    (establish_roster), fetches request `request_id` as this holder and checks it against both
    (check_package).

    Returns the checked request (with the roster to pin) and the state to save; its summary starts with
    the log and roster lines.
    """
    log, new_state, lines = establish_checkpoint(fetch, log_key=log_key, state=state, policy=policy)
    roster, roster_lines = establish_roster(
        lambda path: answer_json(fetch(path), path), holder_key(client), pinned_roster
    )
    checked = check_package(client.request("GET", f"/api/v1/holder/disclosures/{request_id}"), log, roster)
    return (
        CheckedRequest(
            checked.request_id,
            checked.body,
            checked.digest,
            checked.envelopes,
            (*lines, *roster_lines, *checked.summary),
            roster,
        ),
        new_state,
    )


def fetch_order(client: HolderClient, request_id: int) -> tuple[DisclosureBody, bytes]:
    """Fetches request `request_id` as this holder and returns its body and the order document, once
    the body's digest is the server's and the document hashes to the SHA-256 in it (so the holder reads
    the order the officers signed). Raises HolderClientError."""
    package = client.request("GET", f"/api/v1/holder/disclosures/{request_id}")
    if not isinstance(package, dict):
        raise fail("unexpected answer from the server")
    body, _ = read_body(
        package.get("body"),
        package.get("digest"),
        mismatch="the server's request digest does not match the request body; refusing",
    )
    return body, checked_order(package, body)


def holder_key(client: HolderClient) -> bytes:
    """The Ed25519 public key this holder's tool signs with."""
    return public_key(client.signing_seed)


def approve(client: HolderClient, secrets: HolderSecrets, checked: CheckedRequest) -> dict[str, Any]:
    """Computes this holder's partial decryptions bound to the request digest, signs and submits them.

    Returns the request as the server reports it. Raises HolderFileError (no share of the key) or
    HolderClientError (refused by the server).
    """
    share = secrets.share_for(checked.body.key_id).share
    partials = [
        partial_decrypt(share, envelope, checked.digest, blind=blind).to_dict()
        for envelope, blind in zip(checked.envelopes, checked.body.blinding, strict=True)
    ]
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
