"""JSON API of key-holder enrolment and the key ceremony relay (docs/protocol.md §Ceremony through a relay).

Holder requests carry ``Authorization: Escrow-Holder key=<b64u Ed25519 key>, ts=<unix ms>, sig=<b64u>``:
an Ed25519 signature over (method, path, timestamp, SHA-256 of the body), checked against the key the
holder registered, within a short window and never twice (escrow.services.keyholders).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, g, jsonify, request

from escrow.api.auth import role_required
from escrow.api.openapi_parts import b64u_bytes, json_body
from escrow.errors import ValidationError
from escrow.httpkit import (
    MAX_ID,
    current_time,
    get_components,
    get_session,
    int_field,
    json_object,
    text_field,
)
from escrow.protocol.ceremony import ERASURE_KIND, MESSAGE_KINDS, PURPOSE_ESCROW, PURPOSES, SignedMessage
from escrow.protocol.signed_request import HolderAuthorization, request_target
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.services.ceremony import CeremonyState
from escrow.services.keyholders import MAX_FIELD_LENGTH, KeyHolderView

bp = Blueprint("ceremony_api", __name__, url_prefix="/api/v1")

P = ParamSpec("P")
R = TypeVar("R")


def holder_required(view: Callable[P, R]) -> Callable[P, R]:
    """Authenticates the key-holder who signed this request; its id is then in ``g.holder_id``."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.holder_id = keyholder_service.authenticate_holder(
            get_session(),
            authorization=HolderAuthorization.parse(request.headers.get("Authorization")),
            method=request.method,
            target=request_target(request.path, request.query_string.decode("latin-1")),
            body=request.get_data(cache=True),
            now=current_time(),
        )
        return view(*args, **kwargs)

    return wrapper


def holder_json(holder: KeyHolderView) -> dict[str, Any]:
    return {
        "id": holder.id,
        "name": holder.name,
        "organisation": holder.organisation,
        "status": holder.status,
        "signing_fingerprint": holder.signing_fingerprint,
        "exchange_fingerprint": holder.exchange_fingerprint,
    }


def ceremony_summary(state: CeremonyState) -> dict[str, Any]:
    recipients = state.header.recipients()
    return {
        "id": state.id,
        "kind": state.kind,
        "purpose": state.header.purpose,
        "status": state.status,
        "threshold": state.header.threshold,
        "holders": len(recipients),
        "key_id": None if state.key is None else state.key.key_id,
        "old_key_id": None if state.header.old_key is None else state.header.old_key.key_id,
        "outcome": state.outcome,
        "blamed_holder": state.blamed_holder,
    }


@bp.post("/keyholders/enrol")
def enrol() -> tuple[Response, int]:
    """Registers a new key-holder's public keys against its one-time invitation code."""
    data = json_object(require_json_media_type=False)
    holder = keyholder_service.enrol_keyholder(
        get_session(),
        code=text_field(data, "invitation", allow_empty=True),
        signing_key_b64=text_field(data, "signing_key", allow_empty=True),
        exchange_key_b64=text_field(data, "exchange_key", allow_empty=True),
        signature_b64=text_field(data, "signature", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(holder_json(holder)), 201


@bp.get("/keyholders/me")
@holder_required
def me() -> Response:
    """The signed-in key-holder and the ceremonies it takes part in."""
    session = get_session()
    holder = keyholder_service.get_keyholder(session, g.holder_id)
    ceremonies = ceremony_service.holder_ceremonies(session, g.holder_id)
    return jsonify({"holder": holder_json(holder), "ceremonies": [ceremony_summary(c) for c in ceremonies]})


@bp.get("/ceremonies")
def ceremonies() -> Response:
    """Every ceremony, newest first (public)."""
    return jsonify([ceremony_summary(c) for c in ceremony_service.list_ceremonies(get_session())])


@bp.get("/ceremonies/<int:ceremony_id>")
def transcript(ceremony_id: int) -> Response:
    """A ceremony's public transcript (sealed shares included: only their recipients can open them)."""
    return jsonify(ceremony_service.ceremony_state(get_session(), ceremony_id).transcript())


@bp.post("/ceremonies/<int:ceremony_id>/messages")
@holder_required
def post_message(ceremony_id: int) -> Response:
    """Relays one signed ceremony message from the authenticated key-holder."""
    status = ceremony_service.post_message(
        get_session(),
        ceremony_id=ceremony_id,
        holder_id=g.holder_id,
        message=SignedMessage.from_dict(json_object(require_json_media_type=False)),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify({"ceremony": ceremony_id, "status": status})


@bp.post("/ceremonies/<int:ceremony_id>/erasure")
@holder_required
def record_erasure(ceremony_id: int) -> tuple[Response, int]:
    """Logs a leaving key-holder's signed statement that it erased its old share (issue 16)."""
    index = ceremony_service.record_share_erasure(
        get_session(),
        ceremony_id=ceremony_id,
        holder_id=g.holder_id,
        message=SignedMessage.from_dict(json_object(require_json_media_type=False)),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify({"ceremony": ceremony_id, "log_index": index}), 201


admin_bp = Blueprint("ceremony_admin_api", __name__, url_prefix="/api/v1/admin")


def _int_list(data: dict[str, Any], name: str) -> list[int]:
    value = data.get(name)
    # Within the id column's range: a larger number names no row (and SQLite or PostgreSQL would fail on it).
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_ID for v in value
    ):
        raise ValidationError(f"field {name!r} must be a list of key-holder ids")
    return value


def _purpose(data: dict[str, Any]) -> str:
    return text_field(data, "purpose") if "purpose" in data else PURPOSE_ESCROW


@admin_bp.post("/keyholders")
@role_required("admin")
def invite() -> tuple[Response, int]:
    """Invites a key-holder; the answer carries the one-time invitation code (shown once)."""
    data = json_object(require_json_media_type=False)
    invitation = keyholder_service.invite_keyholder(
        get_session(),
        name=text_field(data, "name", allow_empty=True),
        organisation=text_field(data, "organisation", allow_empty=True),
        contact=text_field(data, "contact", allow_empty=True),
        log=get_components().log,
        now=current_time(),
    )
    body = {
        "id": invitation.holder_id,
        "invitation": invitation.code,
        "expires_at": invitation.expires_at.isoformat(),
    }
    return jsonify(body), 201


@admin_bp.post("/ceremonies")
@role_required("admin")
def open_ceremony() -> tuple[Response, int]:
    """Opens a ceremony for a new key: {threshold, holders: [ids], purpose?: "escrow" | "oprf"}."""
    data = json_object(require_json_media_type=False)
    ceremony_id = ceremony_service.open_ceremony(
        get_session(),
        threshold=int_field(data, "threshold"),
        holder_ids=_int_list(data, "holders"),
        log=get_components().log,
        now=current_time(),
        purpose=_purpose(data),
    )
    return jsonify({"id": ceremony_id}), 201


@admin_bp.post("/reshares")
@role_required("admin")
def open_reshare() -> tuple[Response, int]:
    """Opens a reshare of the active key: {threshold, dealers: [current holder ids], holders: [new ids]}."""
    data = json_object(require_json_media_type=False)
    ceremony_id = ceremony_service.open_reshare(
        get_session(),
        threshold=int_field(data, "threshold"),
        dealer_ids=_int_list(data, "dealers"),
        holder_ids=_int_list(data, "holders"),
        log=get_components().log,
        now=current_time(),
        purpose=_purpose(data),
    )
    return jsonify({"id": ceremony_id}), 201


@admin_bp.post("/ceremonies/<int:ceremony_id>/cancel")
@role_required("admin")
def cancel(ceremony_id: int) -> Response:
    """Cancels an open ceremony: {reason}."""
    data = json_object(require_json_media_type=False)
    ceremony_service.cancel_ceremony(
        get_session(),
        ceremony_id=ceremony_id,
        reason=str(data.get("reason", "")),
        log=get_components().log,
        now=current_time(),
    )
    return jsonify({"id": ceremony_id, "status": "cancelled"})


def _json_schema(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _field(description: str) -> dict[str, Any]:
    """A key-holder field the service trims and refuses when blank or too long (keyholders._clean)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_FIELD_LENGTH,
        "pattern": "\\S",
        "description": f"{description}: 1 to {MAX_FIELD_LENGTH} characters once trimmed",
    }


_PROBLEM = {"$ref": "#/components/responses/Problem"}
_HOLDER: list[dict[str, list[str]]] = [{"holderSignature": []}]
_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_CEREMONY_ID = {
    "name": "ceremony_id",
    "in": "path",
    "required": True,
    "description": "the ceremony's id",
    "schema": {"type": "integer", "minimum": 1},
}

_INT = {"type": "integer"}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_KEY_HOLDER = {
    "type": "object",
    "required": ["id", "name", "organisation", "status", "signing_fingerprint", "exchange_fingerprint"],
    "properties": {
        "id": _INT,
        "name": _TEXT,
        "organisation": _TEXT,
        "status": {"enum": ["invited", "enrolled"]},
        "signing_fingerprint": {**_NULLABLE_TEXT, "description": "null until the holder enrols"},
        "exchange_fingerprint": {**_NULLABLE_TEXT, "description": "null until the holder enrols"},
    },
}
_CEREMONY_SUMMARY = {
    "type": "object",
    "required": [
        "id",
        "kind",
        "purpose",
        "status",
        "threshold",
        "holders",
        "key_id",
        "old_key_id",
        "outcome",
        "blamed_holder",
    ],
    "properties": {
        "id": _INT,
        "kind": {"enum": ["create", "reshare"], "description": "a new key, or a reshare of the active one"},
        "purpose": {"enum": ["escrow", "oprf"]},
        "status": _TEXT,
        "threshold": _INT,
        "holders": {**_INT, "description": "how many key-holders receive shares"},
        "key_id": {**_NULLABLE_TEXT, "description": "the key made, once the ceremony succeeded"},
        "old_key_id": {**_NULLABLE_TEXT, "description": "the key being reshared (a reshare only)"},
        "outcome": _NULLABLE_TEXT,
        "blamed_holder": {"type": ["integer", "null"], "description": "the holder a failure is blamed on"},
    },
}
_SIGNED_MESSAGE = {
    "type": "object",
    "required": ["body", "signature"],
    "properties": {
        "body": {"type": "object", "description": "the message (docs/protocol.md), holder and kind in it"},
        "signature": {**_TEXT, "description": "base64url Ed25519 signature over the canonical body"},
    },
}
_TRANSCRIPT = {
    "type": "object",
    "required": [
        "format",
        "version",
        "status",
        "header",
        "messages",
        "drill_envelope",
        "key",
        "outcome",
        "blamed_holder",
        "organisations",
    ],
    "properties": {
        "format": {"const": "escrow-ceremony-transcript"},
        "version": {"const": 1},
        "status": _TEXT,
        "header": {
            "type": "object",
            "required": ["ceremony", "kind", "context", "threshold", "participants", "old_key"],
            "properties": {
                "ceremony": _INT,
                "kind": _TEXT,
                "context": _TEXT,
                "threshold": _INT,
                "participants": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["holder", "name", "signing_key", "exchange_key"],
                        "properties": {
                            "holder": _INT,
                            "name": _TEXT,
                            "signing_key": _TEXT,
                            "exchange_key": _TEXT,
                            "dealer_index": {"type": ["integer", "null"]},
                            "recipient_index": {"type": ["integer", "null"]},
                        },
                    },
                },
                "old_key": {"type": ["object", "null"], "description": "the reshared key (a reshare)"},
                "purpose": {"enum": ["oprf"], "description": "absent for an escrow key"},
            },
        },
        "messages": {"type": "array", "items": _SIGNED_MESSAGE},
        "drill_envelope": {"type": ["object", "null"], "description": "the decryption drill's envelope"},
        "key": {
            "type": ["object", "null"],
            "description": "the threshold public key made (null until success)",
        },
        "outcome": _NULLABLE_TEXT,
        "blamed_holder": {"type": ["integer", "null"]},
        "organisations": {
            "type": "object",
            "description": "per holder id, its organisation (each success message signs what it saw)",
            "additionalProperties": _TEXT,
        },
    },
}
_SIGNATURE = b64u_bytes(64, "base64url Ed25519 signature (64 bytes)")
_HOLDER_IDS = {
    "type": "array",
    "items": {**_INT, "minimum": 1, "maximum": MAX_ID},
    "description": "key-holder ids",
}
_ENROLMENT = {
    "type": "object",
    "required": ["invitation", "signing_key", "exchange_key", "signature"],
    "properties": {
        "invitation": {**_TEXT, "description": "the one-time invitation code"},
        "signing_key": b64u_bytes(32, "base64url Ed25519 signing key (32 bytes)"),
        "exchange_key": b64u_bytes(32, "base64url X25519 exchange key (32 bytes)"),
        "signature": {**_SIGNATURE, "description": "the signing key's signature over the enrolment body"},
    },
}
_MESSAGE_HEAD = {
    "ceremony": {**_INT, "description": "this ceremony's id"},
    "context": {**_TEXT, "description": "this ceremony's context string (from its header)"},
    "holder": {**_INT, "description": "the sending key-holder's id (the one who signed the request)"},
}
_CEREMONY_MESSAGE = {
    "type": "object",
    "required": ["body", "signature"],
    "properties": {
        "body": {
            "type": "object",
            "required": ["ceremony", "context", "holder", "kind"],
            "properties": {**_MESSAGE_HEAD, "kind": {"enum": list(MESSAGE_KINDS)}},
            "description": "the message (docs/protocol.md); the other members depend on its kind",
        },
        "signature": {**_SIGNATURE, "description": "the sender's Ed25519 signature over the canonical body"},
    },
}
_ERASURE_MESSAGE = {
    "type": "object",
    "required": ["body", "signature"],
    "properties": {
        "body": {
            "type": "object",
            "required": ["ceremony", "context", "holder", "kind", "key_id", "old_index", "statement"],
            "additionalProperties": False,
            "properties": {
                **_MESSAGE_HEAD,
                "kind": {"const": ERASURE_KIND},
                "key_id": {**_TEXT, "description": "the reshared key"},
                "old_index": {**_INT, "minimum": 1, "description": "the sender's share index in that key"},
                "statement": {**_TEXT, "description": "the erasure statement, word for word"},
            },
            "description": "exactly the statement the holder tool makes (protocol.ceremony.erasure_body)",
        },
        "signature": {**_SIGNATURE, "description": "the sender's Ed25519 signature over the canonical body"},
    },
}
_INVITATION = {
    "type": "object",
    "required": ["name", "organisation", "contact"],
    "properties": {
        "name": _field("the key-holder's name"),
        "organisation": _field("its organisation"),
        "contact": _field("how to reach it"),
    },
}
_THRESHOLD = {
    "type": "integer",
    "minimum": 2,
    "description": "t of the t-of-n key: at least 2, more than half of the holders and at most all of them",
}
_NEW_CEREMONY = {
    "type": "object",
    "required": ["threshold", "holders"],
    "properties": {
        "threshold": _THRESHOLD,
        "holders": {
            **_HOLDER_IDS,
            "minItems": 2,
            "uniqueItems": True,
            "description": "the enrolled key-holders who receive shares, in index order",
        },
        "purpose": {"enum": list(PURPOSES), "description": "the key's purpose (default escrow)"},
    },
}
_NEW_RESHARE = {
    "type": "object",
    "required": ["threshold", "dealers", "holders"],
    "properties": {
        "threshold": _THRESHOLD,
        "dealers": {
            **_HOLDER_IDS,
            "uniqueItems": True,
            "description": "current holders of the active key who deal (at least its threshold)",
        },
        "holders": {
            **_HOLDER_IDS,
            "minItems": 2,
            "uniqueItems": True,
            "description": "the enrolled key-holders who receive new shares, in index order",
        },
        "purpose": {"enum": [PURPOSE_ESCROW], "description": "only the escrow key can be reshared"},
    },
}
_CANCELLATION = {
    "type": "object",
    "properties": {
        "reason": {**_TEXT, "description": "why (trimmed, at most 500 characters kept; default: an admin's)"}
    },
}
_CEREMONY_ID_ONLY = {"type": "object", "required": ["id"], "properties": {"id": {**_INT, "minimum": 1}}}

OPENAPI_SECURITY_SCHEMES: dict[str, Any] = {
    "holderSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "`Escrow-Holder key=<b64u Ed25519 key>, ts=<unix ms>, sig=<b64u>`: Ed25519 over (method, path, "
            "timestamp, SHA-256 of the body); 5-minute window, timestamps strictly increasing "
            "(docs/protocol.md)"
        ),
    }
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/keyholders/enrol": {
        "post": {
            "summary": "Register a key-holder's public keys with a one-time invitation code",
            "tags": ["ceremony"],
            "requestBody": json_body(
                "invitation, signing_key, exchange_key, signature (base64url)", _ENROLMENT
            ),
            "responses": {
                "201": _json_schema("The enrolled key-holder", _KEY_HOLDER),
                "401": _PROBLEM,
                "409": _PROBLEM,
                "422": _PROBLEM,
            },
        }
    },
    "/api/v1/keyholders/me": {
        "get": {
            "summary": "The signed-in key-holder and its ceremonies",
            "tags": ["ceremony"],
            "security": _HOLDER,
            "responses": {
                "200": _json_schema(
                    "Key-holder and ceremonies",
                    {
                        "type": "object",
                        "required": ["holder", "ceremonies"],
                        "properties": {
                            "holder": _KEY_HOLDER,
                            "ceremonies": {"type": "array", "items": _CEREMONY_SUMMARY},
                        },
                    },
                ),
                "401": _PROBLEM,
            },
        }
    },
    "/api/v1/ceremonies": {
        "get": {
            "summary": "Every ceremony, newest first",
            "tags": ["ceremony"],
            "responses": {
                "200": _json_schema("Ceremony summaries", {"type": "array", "items": _CEREMONY_SUMMARY})
            },
        }
    },
    "/api/v1/ceremonies/{ceremony_id}": {
        "get": {
            "summary": "A ceremony's public transcript (what `escrow ceremony verify` checks)",
            "tags": ["ceremony"],
            "parameters": [_CEREMONY_ID],
            "responses": {"200": _json_schema("Transcript", _TRANSCRIPT), "404": _PROBLEM},
        }
    },
    "/api/v1/ceremonies/{ceremony_id}/messages": {
        "post": {
            "summary": "Relay one signed ceremony message (round1, round2, confirm, drill)",
            "tags": ["ceremony"],
            "security": _HOLDER,
            "parameters": [_CEREMONY_ID],
            "requestBody": json_body("{body, signature}", _CEREMONY_MESSAGE),
            "responses": {
                "200": _json_schema(
                    "The ceremony status after the message",
                    {
                        "type": "object",
                        "required": ["ceremony", "status"],
                        "properties": {"ceremony": _INT, "status": _TEXT},
                    },
                ),
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "409": _PROBLEM,
                "422": _PROBLEM,
            },
        }
    },
    "/api/v1/ceremonies/{ceremony_id}/erasure": {
        "post": {
            "summary": "Log a leaving key-holder's signed statement that it erased its old share",
            "tags": ["ceremony"],
            "security": _HOLDER,
            "parameters": [_CEREMONY_ID],
            "requestBody": json_body("{body, signature}", _ERASURE_MESSAGE),
            "responses": {
                "201": _json_schema(
                    "The log index of the keyholder.share_erased event",
                    {
                        "type": "object",
                        "required": ["ceremony", "log_index"],
                        "properties": {"ceremony": _INT, "log_index": {**_INT, "minimum": 0}},
                    },
                ),
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "409": _PROBLEM,
                "422": _PROBLEM,
            },
        }
    },
    "/api/v1/admin/keyholders": {
        "post": {
            "summary": "Invite a key-holder (admin); the answer carries the one-time code",
            "tags": ["ceremony"],
            "security": _STAFF,
            "requestBody": json_body("name, organisation, contact", _INVITATION),
            "responses": {
                "201": _json_schema(
                    "Invitation",
                    {
                        "type": "object",
                        "required": ["id", "invitation", "expires_at"],
                        "properties": {
                            "id": _INT,
                            "invitation": {**_TEXT, "description": "the one-time code, shown once"},
                            "expires_at": {"type": "string", "format": "date-time"},
                        },
                    },
                ),
                "401": _PROBLEM,
                "403": _PROBLEM,
                "422": _PROBLEM,
            },
        }
    },
    "/api/v1/admin/ceremonies": {
        "post": {
            "summary": "Open a ceremony for a new escrow key or OPRF key (admin)",
            "tags": ["ceremony"],
            "security": _STAFF,
            "requestBody": json_body(
                "threshold, holders (ids in order), purpose (optional: escrow, the default, or oprf)",
                _NEW_CEREMONY,
            ),
            "responses": {
                "201": _json_schema("Ceremony id", _CEREMONY_ID_ONLY),
                "401": _PROBLEM,
                "403": _PROBLEM,
                "409": _PROBLEM,
                "422": _PROBLEM,
            },
        }
    },
    "/api/v1/admin/reshares": {
        "post": {
            "summary": "Open a reshare of the active key to a new key-holder set (admin)",
            "tags": ["ceremony"],
            "security": _STAFF,
            "requestBody": json_body(
                "threshold, dealers (current holder ids), holders (new ids), purpose (optional: only escrow "
                "is supported; oprf is refused with 422)",
                _NEW_RESHARE,
            ),
            "responses": {
                "201": _json_schema("Ceremony id", _CEREMONY_ID_ONLY),
                "401": _PROBLEM,
                "403": _PROBLEM,
                "409": _PROBLEM,
                "422": _PROBLEM,
            },
        }
    },
    "/api/v1/admin/ceremonies/{ceremony_id}/cancel": {
        "post": {
            "summary": "Cancel an open ceremony (admin)",
            "tags": ["ceremony"],
            "security": _STAFF,
            "parameters": [_CEREMONY_ID],
            "requestBody": json_body("reason", _CANCELLATION),
            "responses": {
                "200": _json_schema(
                    "Cancelled",
                    {
                        "type": "object",
                        "required": ["id", "status"],
                        "properties": {"id": _INT, "status": {"const": "cancelled"}},
                    },
                ),
                "401": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "409": _PROBLEM,
            },
        }
    },
}
