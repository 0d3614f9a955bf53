"""Disclosure API for legal officers: their keys, drafts, signatures, extensions, withdrawal, the reveal.

Drafts and the reveal use the officer's staff session; submit, co-sign, extension proposal and
co-signature, and withdrawal carry an Ed25519 signature by the officer's registered key over the
request, extension or withdrawal digest, which is the authorisation, so no cookie is used.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request

from escrow.api.auth import role_required
from escrow.api.disclosures.shared import ADMIN, OFFICER, bp, disclosure_policy, signed_bp, signed_in_staff
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode
from escrow.errors import ValidationError
from escrow.httpkit import (
    current_time,
    get_components,
    get_session,
    json_object,
    order_attachment,
    text_field,
)
from escrow.services import disclosure as service
from escrow.services.disclosure import view_json


@bp.post("/officers/key")
@role_required(OFFICER, ADMIN)
def register_key() -> tuple[Response, int]:
    """Registers the logged-in legal officer's public key (an admin may name another officer)."""
    data = json_object(require_json_media_type=False)
    staff = signed_in_staff()
    fingerprint = service.register_officer_key(
        get_session(),
        actor=staff,
        username=str(data.get("username") or staff.username),
        public_key_b64=text_field(data, "public_key", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify({"fingerprint": fingerprint}), 201


@bp.get("/disclosures/policy")
def policy() -> Response:
    """Public: the monthly cap on disclosure requests and how much of it this month used."""
    status = service.policy_status(get_session(), disclosure_policy(), now=current_time())
    return jsonify(
        {
            "monthly_cap": status.monthly_cap,
            "submitted_this_month": status.submitted_this_month,
            "is_blocked": status.is_blocked,
        }
    )


@bp.get("/disclosures")
@role_required(OFFICER, ADMIN)
def list_requests() -> Response:
    """The disclosure requests the caller may read (services/disclosure/policy.py), newest first."""
    views = service.list_requests(
        get_session(),
        staff=signed_in_staff(),
        policy=disclosure_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify([view_json(v) for v in views])


def _form_int(name: str, default: int | None = None) -> int:
    raw = request.form.get(name, "")
    if raw == "" and default is not None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ValidationError(f"{name} must be a whole number")
    return int(raw)


def _form_datetime(name: str) -> datetime:
    try:
        value = datetime.fromisoformat(request.form.get(name, "").replace("Z", "+00:00"))
        # In UTC, as the request body carries it: 9999-12-31T23:00-05:00 is past year 9999 there.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError as e:
        raise ValidationError(f"{name} must be an ISO 8601 date and time") from e
    except OverflowError as e:
        raise ValidationError(f"{name} is out of range") from e


def _form_scope() -> list[object]:
    try:
        scope = json.loads(request.form.get("scope", ""))
    except ValueError as e:
        raise ValidationError("scope must be a JSON list of {platform, pseudonym, envelope_digest}") from e
    if not isinstance(scope, list):
        raise ValidationError("scope must be a JSON list of {platform, pseudonym, envelope_digest}")
    return scope


@bp.post("/disclosures")
@role_required(OFFICER)
def create() -> tuple[Response, int]:
    """Creates a draft request from a multipart form with the order PDF; returns its body and digest."""
    upload = request.files.get("order")
    view = service.create_draft(
        get_session(),
        officer=signed_in_staff(),
        court_id=_form_int("court_id"),
        case_number=request.form.get("case_number", ""),
        order=upload.read(service.MAX_ORDER_BYTES + 1) if upload else None,
        court_signature_b64=request.form.get("court_signature") or None,
        legal_basis=request.form.get("legal_basis", ""),
        scope=_form_scope(),
        expires_at=_form_datetime("expires_at"),
        notify_delay_days=_form_int("notify_delay_days", 30),
        is_emergency=request.form.get("emergency", "") in ("1", "true", "on"),
        now=current_time(),
    )
    return jsonify(view_json(view)), 201


@bp.get("/disclosures/<int:request_id>")
@role_required(OFFICER, ADMIN)
def get_request(request_id: int) -> Response:
    """One request the caller may read: its canonical body, digest, signatures and progress (never an
    identity); 404 for any other."""
    view = service.get_request(
        get_session(),
        request_id=request_id,
        staff=signed_in_staff(),
        policy=disclosure_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view))


@bp.get("/disclosures/<int:request_id>/order")
@role_required(OFFICER, ADMIN)
def order(request_id: int) -> Response:
    """The stored court order of a request the caller may read (policy.is_readable), as an attachment;
    404 for any other."""
    content = service.order_document(
        get_session(), request_id=request_id, staff=signed_in_staff(), policy=disclosure_policy()
    )
    return order_attachment(content, request_id)


@signed_bp.post("/disclosures/<int:request_id>/reveal")
def reveal(request_id: int) -> Response:
    """The reveal package of a disclosed request, for the submitting officer's tool only (their signature
    over the request digest, role `reveal`): the envelopes and the holders' partials of R + B, which
    open nothing without the officer's blinding scalars (issue 14). Logged before it is sent."""
    data = json_object(require_json_media_type=False)
    package = service.reveal_package(
        get_session(),
        request_id=request_id,
        signature_b64=text_field(data, "signature", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    response = jsonify(package.to_dict())
    response.headers["Cache-Control"] = "no-store"
    return response


@signed_bp.post("/disclosures/<int:request_id>/oprf-check")
def oprf_check(request_id: int) -> Response:
    """Evaluates the OPRF on the blinded identity keys the submitting officer's tool revealed (their
    signature over the check digest, role `oprf-check`), so the tool can prove each is the person behind
    the pseudonym in scope. Logged before the nodes are asked; a few per pseudonym at most."""
    data = json_object(require_json_media_type=False)
    answer = service.check_revealed_identities(
        get_session(),
        request_id=request_id,
        blinded=data.get("blinded"),
        signature_b64=text_field(data, "signature", allow_empty=True),
        oprf=get_components().oprf,
        log=get_components().log,
        now=current_time(),
    )
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


@signed_bp.post("/disclosures/<int:request_id>/submit")
def submit(request_id: int) -> Response:
    """Submits a draft: the submitter's blinding points and Ed25519 signature over the digest of the body
    with them in (issue 14)."""
    data = json_object(require_json_media_type=False)
    view = service.submit_request(
        get_session(),
        request_id=request_id,
        signature_b64=text_field(data, "signature", allow_empty=True),
        blinding=data.get("blinding"),
        policy=disclosure_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view))


@signed_bp.post("/disclosures/<int:request_id>/cosign")
def cosign(request_id: int) -> Response:
    """Co-signs a request: another legal officer's Ed25519 signature over the request digest."""
    data = json_object(require_json_media_type=False)
    view = service.cosign_request(
        get_session(),
        request_id=request_id,
        username=text_field(data, "username", allow_empty=True),
        signature_b64=text_field(data, "signature", allow_empty=True),
        policy=disclosure_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view))


def _optional_order(data: dict[str, Any]) -> bytes | None:
    value = data.get("order")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > (service.MAX_EXTENSION_ORDER_BYTES * 4) // 3 + 4:
        raise ValidationError("order must be the base64url of a PDF of at most 3 MiB")
    try:
        return b64u_decode(value)
    except CryptoError as e:
        raise ValidationError("order must be the base64url of a PDF") from e


@signed_bp.post("/disclosures/<int:request_id>/extensions")
def propose_extension(request_id: int) -> tuple[Response, int]:
    """Proposes a longer notification delay: one of the request's officers signs the extension digest."""
    data = json_object(require_json_media_type=False)
    view = service.propose_extension(
        get_session(),
        request_id=request_id,
        username=text_field(data, "username", allow_empty=True),
        sequence=data.get("sequence"),
        old_delay_days=data.get("old_delay_days"),
        new_delay_days=data.get("new_delay_days"),
        reason=text_field(data, "reason", allow_empty=True),
        order_reference=text_field(data, "order_reference", allow_empty=True),
        order=_optional_order(data),
        signature_b64=text_field(data, "signature", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view)), 201


@signed_bp.post("/disclosures/<int:request_id>/extensions/<int:sequence>/cosign")
def cosign_extension(request_id: int, sequence: int) -> Response:
    """Co-signs an extension: another legal officer's signature over the extension digest."""
    data = json_object(require_json_media_type=False)
    view = service.cosign_extension(
        get_session(),
        request_id=request_id,
        sequence=sequence,
        username=text_field(data, "username", allow_empty=True),
        signature_b64=text_field(data, "signature", allow_empty=True),
        policy=disclosure_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view))


@signed_bp.post("/disclosures/<int:request_id>/withdraw")
def withdraw(request_id: int) -> Response:
    """Withdraws a request not yet disclosed: one of its officers signs the withdrawal digest."""
    data = json_object(require_json_media_type=False)
    view = service.withdraw_request(
        get_session(),
        request_id=request_id,
        username=text_field(data, "username", allow_empty=True),
        reason=text_field(data, "reason", allow_empty=True),
        signature_b64=text_field(data, "signature", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(view_json(view))
