"""Disclosure JSON API (issue 6): courts, officer keys, requests, signatures, key-holder decisions, reveal.

Three ways in: staff sessions (legal officers and admins, X-CSRFToken on writes); officer signatures
(submit, co-sign, extension proposal and co-signature, and withdrawal carry an Ed25519 signature by the
officer's registered key over the request, extension or withdrawal digest, which is the authorisation,
so no cookie is used); key-holder signatures (Escrow-Holder, as for the
ceremony relay). docs/disclosure.md describes the state machine.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from escrow.api.auth import role_required
from escrow.api.ceremony import holder_required
from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode
from escrow.errors import AuthenticationError, ValidationError
from escrow.services import disclosure as service
from escrow.services.disclosure import DisclosurePolicy, DisclosureView
from escrow.web.auth import current_staff
from escrow.web.session import get_extension, get_session

bp = Blueprint("disclosures_api", __name__, url_prefix="/api/v1")
# Authenticated by Ed25519 signatures (officer or key-holder), never by cookie: app.py exempts CSRF.
signed_bp = Blueprint("disclosures_signed_api", __name__, url_prefix="/api/v1")

OFFICER = "legal_officer"
ADMIN = "admin"


def _now() -> datetime:
    return datetime.now(UTC)


def _policy() -> DisclosurePolicy:
    return DisclosurePolicy.from_settings(get_extension().settings)


def _json_object() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValidationError(f"field {name!r} must be text")
    return value


def _staff() -> Any:
    staff = current_staff()
    if staff is None:  # pragma: no cover - role_required ran first
        raise AuthenticationError("log in as staff first")
    return staff.staff


def view_json(view: DisclosureView) -> dict[str, Any]:
    return {
        "id": view.id,
        "status": view.status,
        "body": view.body,
        "digest": view.digest_b64,
        "submitter": view.submitter,
        "cosigners": list(view.cosigners),
        "approvals": view.approvals,
        "rejections": view.rejections,
        "threshold": view.threshold,
        "log_index": view.log_index,
        "disclosed_at": view.disclosed_at.isoformat() if view.disclosed_at else None,
        "view_until": view.view_until.isoformat() if view.view_until else None,
        "notify_delay_days": view.notify_delay_days,
        "notify_at": view.notify_at.isoformat() if view.notify_at else None,
        "extensions": [
            {
                "sequence": e.sequence,
                "status": e.status,
                "body": e.body,
                "digest": e.digest_b64,
                "proposer": e.proposer,
                "cosigners": list(e.cosigners),
                "created_at": e.created_at.isoformat(),
                "effective_at": e.effective_at.isoformat() if e.effective_at else None,
            }
            for e in view.extensions
        ],
        "withdrawn_by": view.withdrawn_by,
    }


@bp.post("/officers/key")
@role_required(OFFICER, ADMIN)
def register_key() -> tuple[Response, int]:
    """Registers the logged-in legal officer's public key (an admin may name another officer)."""
    data = _json_object()
    staff = _staff()
    fingerprint = service.register_officer_key(
        get_session(),
        actor=staff,
        username=str(data.get("username") or staff.username),
        public_key_b64=_field(data, "public_key"),
        log=get_extension().log,
        now=_now(),
    )
    return jsonify({"fingerprint": fingerprint}), 201


@bp.get("/courts")
@role_required(OFFICER, ADMIN)
def courts() -> Response:
    """The court registry."""
    return jsonify([_court(c) for c in service.list_courts(get_session())])


def _court(court: service.CourtView) -> dict[str, Any]:
    return {
        "id": court.id,
        "name": court.name,
        "jurisdiction": court.jurisdiction,
        "public_key": court.public_key_b64,
    }


@bp.post("/courts")
@role_required(ADMIN)
def add_court() -> tuple[Response, int]:
    """Adds a court (admin)."""
    data = _json_object()
    key = data.get("public_key")
    court = service.add_court(
        get_session(),
        name=_field(data, "name"),
        jurisdiction=_field(data, "jurisdiction"),
        public_key_b64=key if isinstance(key, str) and key else None,
        log=get_extension().log,
        now=_now(),
    )
    return jsonify(_court(court)), 201


@bp.get("/disclosures/policy")
def policy() -> Response:
    """Public: the monthly cap on disclosure requests and how much of it this month used."""
    status = service.policy_status(get_session(), _policy(), now=_now())
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
    """Every disclosure request, newest first."""
    views = service.list_requests(get_session(), log=get_extension().log, now=_now())
    return jsonify([view_json(v) for v in views])


def _form_int(name: str, default: int | None = None) -> int:
    raw = request.form.get(name, "")
    if raw == "" and default is not None:
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationError(f"{name} must be a whole number")
    return int(raw)


def _form_datetime(name: str) -> datetime:
    try:
        value = datetime.fromisoformat(request.form.get(name, "").replace("Z", "+00:00"))
    except ValueError as e:
        raise ValidationError(f"{name} must be an ISO 8601 date and time") from e
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
        officer=_staff(),
        court_id=_form_int("court_id"),
        case_number=request.form.get("case_number", ""),
        order=upload.read(service.MAX_ORDER_BYTES + 1) if upload else None,
        court_signature_b64=request.form.get("court_signature") or None,
        legal_basis=request.form.get("legal_basis", ""),
        scope=_form_scope(),
        expires_at=_form_datetime("expires_at"),
        notify_delay_days=_form_int("notify_delay_days", 30),
        is_emergency=request.form.get("emergency", "") in ("1", "true", "on"),
        now=_now(),
    )
    return jsonify(view_json(view)), 201


@bp.get("/disclosures/<int:request_id>")
@role_required(OFFICER, ADMIN)
def get_request(request_id: int) -> Response:
    """One request: its canonical body, digest, signatures and progress (never an identity)."""
    view = service.get_request(get_session(), request_id=request_id, log=get_extension().log, now=_now())
    return jsonify(view_json(view))


@bp.get("/disclosures/<int:request_id>/identity")
@role_required(OFFICER)
def identity(request_id: int) -> Response:
    """The revealed identities: only to the submitting and co-signing officers, within the window."""
    revealed = service.view_identities(
        get_session(), request_id=request_id, officer=_staff(), log=get_extension().log, now=_now()
    )
    response = jsonify(
        [{"platform": r.platform, "pseudonym": r.pseudonym, "identity": r.identity} for r in revealed]
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@signed_bp.post("/disclosures/<int:request_id>/submit")
def submit(request_id: int) -> Response:
    """Submits a draft: the submitter's Ed25519 signature over the request digest."""
    view = service.submit_request(
        get_session(),
        request_id=request_id,
        signature_b64=_field(_json_object(), "signature"),
        policy=_policy(),
        log=get_extension().log,
        now=_now(),
    )
    return jsonify(view_json(view))


@signed_bp.post("/disclosures/<int:request_id>/cosign")
def cosign(request_id: int) -> Response:
    """Co-signs a request: another legal officer's Ed25519 signature over the request digest."""
    data = _json_object()
    view = service.cosign_request(
        get_session(),
        request_id=request_id,
        username=_field(data, "username"),
        signature_b64=_field(data, "signature"),
        policy=_policy(),
        log=get_extension().log,
        now=_now(),
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
    data = _json_object()
    view = service.propose_extension(
        get_session(),
        request_id=request_id,
        username=_field(data, "username"),
        sequence=data.get("sequence"),
        old_delay_days=data.get("old_delay_days"),
        new_delay_days=data.get("new_delay_days"),
        reason=_field(data, "reason"),
        order_reference=_field(data, "order_reference"),
        order=_optional_order(data),
        signature_b64=_field(data, "signature"),
        log=get_extension().log,
        now=_now(),
    )
    return jsonify(view_json(view)), 201


@signed_bp.post("/disclosures/<int:request_id>/extensions/<int:sequence>/cosign")
def cosign_extension(request_id: int, sequence: int) -> Response:
    """Co-signs an extension: another legal officer's signature over the extension digest."""
    data = _json_object()
    view = service.cosign_extension(
        get_session(),
        request_id=request_id,
        sequence=sequence,
        username=_field(data, "username"),
        signature_b64=_field(data, "signature"),
        policy=_policy(),
        log=get_extension().log,
        now=_now(),
    )
    return jsonify(view_json(view))


@signed_bp.post("/disclosures/<int:request_id>/withdraw")
def withdraw(request_id: int) -> Response:
    """Withdraws a request not yet disclosed: one of its officers signs the withdrawal digest."""
    data = _json_object()
    view = service.withdraw_request(
        get_session(),
        request_id=request_id,
        username=_field(data, "username"),
        reason=_field(data, "reason"),
        signature_b64=_field(data, "signature"),
        log=get_extension().log,
        now=_now(),
    )
    return jsonify(view_json(view))


@signed_bp.get("/holder/disclosures")
@holder_required
def holder_list() -> Response:
    """The co-signed requests awaiting the signed-in key-holder's decision."""
    views = service.holder_requests(get_session(), holder_id=g.holder_id, log=get_extension().log, now=_now())
    return jsonify([view_json(v) for v in views])


@signed_bp.get("/holder/disclosures/<int:request_id>")
@holder_required
def holder_get(request_id: int) -> Response:
    """A request with its officers' signatures and keys, envelopes and log index, for the holder's checks."""
    package = service.holder_package(get_session(), request_id=request_id, holder_id=g.holder_id)
    return jsonify(
        {
            "id": package.request_id,
            "status": package.status,
            "body": package.body,
            "digest": package.digest_b64,
            "log_index": package.log_index,
            "officers": package.officers,
            "envelopes": package.envelopes,
            "holder_index": package.holder_index,
            "decided": package.decided,
            "court": package.court,
            "order_document": package.order_document_b64,
        }
    )


def _decide(request_id: int, decision: str) -> Response:
    data = _json_object()
    view = service.decide_request(
        get_session(),
        request_id=request_id,
        holder_id=g.holder_id,
        decision=decision,
        partials=data.get("partials"),
        reason=str(data.get("reason", "")),
        signature_b64=_field(data, "signature"),
        policy=_policy(),
        log=get_extension().log,
        now=_now(),
    )
    return jsonify(view_json(view))


@signed_bp.post("/holder/disclosures/<int:request_id>/approve")
@holder_required
def holder_approve(request_id: int) -> Response:
    """A key-holder's signed approval with one verified partial decryption per envelope."""
    return _decide(request_id, "approve")


@signed_bp.post("/holder/disclosures/<int:request_id>/reject")
@holder_required
def holder_reject(request_id: int) -> Response:
    """A key-holder's signed rejection with a reason."""
    return _decide(request_id, "reject")


def _schema(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


_PROBLEM = {"$ref": "#/components/responses/Problem"}
_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_HOLDER: list[dict[str, list[str]]] = [{"holderSignature": []}]
_ID = {"name": "request_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_ERRORS = {"401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM, "409": _PROBLEM, "422": _PROBLEM}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/officers/key": {
        "post": {
            "summary": "Register a legal officer's Ed25519 public key (own key, or any officer's as admin)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": _schema("public_key (base64url), optional username (admins)"),
            "responses": {"201": _schema("The key's fingerprint"), **_ERRORS},
        }
    },
    "/api/v1/courts": {
        "get": {
            "summary": "The court registry",
            "tags": ["disclosure"],
            "security": _STAFF,
            "responses": {
                "200": _schema("Courts", {"type": "array", "items": {"type": "object"}}),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Register a court (admin): name, jurisdiction, optional Ed25519 public key",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": _schema("name, jurisdiction, public_key (base64url, optional)"),
            "responses": {"201": _schema("The court"), **_ERRORS},
        },
    },
    "/api/v1/disclosures/policy": {
        "get": {
            "summary": "Public: the monthly cap on disclosure requests and its use this month",
            "tags": ["disclosure"],
            "responses": {"200": _schema("monthly_cap, submitted_this_month, is_blocked")},
        }
    },
    "/api/v1/disclosures": {
        "get": {
            "summary": "Every disclosure request (legal officers, admins)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "responses": {
                "200": _schema("Requests", {"type": "array", "items": {"type": "object"}}),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Draft a request (multipart: order PDF, court_id, case_number, legal_basis, "
            "scope JSON, expires_at, notify_delay_days, emergency, court_signature)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": {
                "content": {"multipart/form-data": {"schema": {"type": "object"}}},
                "description": "The request fields and the order document",
            },
            "responses": {"201": _schema("The draft with its canonical body and digest"), **_ERRORS},
        },
    },
    "/api/v1/disclosures/{request_id}": {
        "get": {
            "summary": "One request: canonical body, digest, signatures, progress",
            "tags": ["disclosure"],
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": _schema("The request"), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/identity": {
        "get": {
            "summary": "The revealed identities (submitting and co-signing officers, in the window; logged)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {
                "200": _schema("Identities", {"type": "array", "items": {"type": "object"}}),
                **_ERRORS,
            },
        }
    },
    "/api/v1/disclosures/{request_id}/submit": {
        "post": {
            "summary": "Submit a draft: the submitter's Ed25519 signature over the request digest",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": _schema("signature (base64url)"),
            "responses": {"200": _schema("The request"), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/cosign": {
        "post": {
            "summary": "Co-sign: another legal officer's Ed25519 signature over the request digest",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": _schema("username, signature (base64url)"),
            "responses": {"200": _schema("The request"), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/extensions": {
        "post": {
            "summary": "Propose a longer notification delay: an officer of the request signs the extension "
            "digest (role extend); nothing changes until it is co-signed",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": _schema(
                "username, sequence, old_delay_days, new_delay_days, reason, order_reference, "
                "order (base64url PDF, optional), signature (base64url)",
                {
                    "type": "object",
                    "required": [
                        "username",
                        "sequence",
                        "old_delay_days",
                        "new_delay_days",
                        "reason",
                        "order_reference",
                        "signature",
                    ],
                    "properties": {
                        "username": {"type": "string"},
                        "sequence": {"type": "integer", "minimum": 1},
                        "old_delay_days": {"type": "integer", "minimum": 0},
                        "new_delay_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                        "reason": {"type": "string"},
                        "order_reference": {"type": "string"},
                        "order": {"type": "string"},
                        "signature": {"type": "string"},
                    },
                },
            ),
            "responses": {"201": _schema("The request with its extensions"), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/extensions/{sequence}/cosign": {
        "post": {
            "summary": "Co-sign an extension (role extend-cosign): never the proposer, by default from "
            "another organisation; with enough co-signatures the new delay takes effect",
            "tags": ["disclosure"],
            "parameters": [
                _ID,
                {
                    "name": "sequence",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                },
            ],
            "requestBody": _schema("username, signature (base64url)"),
            "responses": {"200": _schema("The request with its extensions"), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/withdraw": {
        "post": {
            "summary": "Withdraw a request not yet disclosed or closed: an officer of the request signs "
            "the withdrawal digest (role withdraw); partial decryptions are deleted",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": _schema("username, reason, signature (base64url)"),
            "responses": {"200": _schema("The withdrawn request"), **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures": {
        "get": {
            "summary": "Co-signed requests awaiting the signed-in key-holder",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "responses": {
                "200": _schema("Requests", {"type": "array", "items": {"type": "object"}}),
                **_ERRORS,
            },
        }
    },
    "/api/v1/holder/disclosures/{request_id}": {
        "get": {
            "summary": "A request with officers' signatures and keys (and the log entries of both), "
            "envelopes, log index, the order document and the court's signature and key (and its log entry)",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_ID],
            "responses": {"200": _schema("The request package"), **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures/{request_id}/approve": {
        "post": {
            "summary": "Approve: partial decryptions (one per envelope) and the holder's signature",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_ID],
            "requestBody": _schema("partials (list), signature (base64url)"),
            "responses": {"200": _schema("The request"), **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures/{request_id}/reject": {
        "post": {
            "summary": "Reject with a reason and the holder's signature",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_ID],
            "requestBody": _schema("reason, signature (base64url)"),
            "responses": {"200": _schema("The request"), **_ERRORS},
        }
    },
}
