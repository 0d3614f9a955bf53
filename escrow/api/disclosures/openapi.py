"""The OpenAPI paths of the disclosure API (merged into /openapi.json by escrow.api.openapi)."""

from __future__ import annotations

from typing import Any

from escrow.api.openapi_parts import b64u_bytes, json_body
from escrow.services.disclosure import MAX_EXTENSION_ORDER_BYTES, MAX_ORDER_BYTES
from escrow.services.disclosure._shared import MAX_LEGAL_BASIS, MAX_NOTIFY_DELAY_DAYS, MAX_TEXT
from escrow.services.disclosure.drafting import MAX_SCOPE
from escrow.services.disclosure.states import ExtensionState, RequestState


def _schema(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _text(limit: int, description: str = "") -> dict[str, Any]:
    """Text the service trims and refuses when blank or longer than `limit` (services' shared.text)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": limit,
        "pattern": "\\S",
        "description": f"{description + ': ' if description else ''}1 to {limit} characters once trimmed",
    }


def _object(required: list[str], properties: dict[str, Any], *, exact: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if exact:
        schema["additionalProperties"] = False
    return schema


_SIGNATURE = b64u_bytes(64, "base64url Ed25519 signature (64 bytes)")
_KEY = b64u_bytes(32, "base64url Ed25519 public key (32 bytes)")
_POINT = b64u_bytes(32, "base64url ristretto255 element (32 bytes)")
_USERNAME = {"type": "string", "minLength": 1, "description": "the signing officer's username"}
_REQUEST_OFFICER = _text(64, "the username of the request's submitter or a co-signer")
_UTC_SECOND = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"}


# The request bodies, as the views (escrow/api/disclosures/*.py) and the services they call check them.
_SCOPE_ITEM = _object(
    ["platform", "pseudonym", "envelope_digest"],
    {
        "platform": _text(64, "the platform's id"),
        "pseudonym": _text(64, "the pseudonym the platform knows"),
        "envelope_digest": _text(64, "the envelope digest the platform holds for it (base64url SHA-256)"),
    },
)
_DRAFT_FORM = {
    "type": "object",
    "required": ["order", "court_id", "case_number", "legal_basis", "scope", "expires_at"],
    "properties": {
        "order": {
            "type": "string",
            "contentMediaType": "application/pdf",
            "description": f"the court order: a PDF (%PDF-...) of at most {MAX_ORDER_BYTES // 2**20} MiB",
        },
        "court_id": {"type": "string", "pattern": "^[0-9]{1,9}$", "description": "a registered court's id"},
        "case_number": _text(MAX_TEXT),
        "legal_basis": _text(MAX_LEGAL_BASIS),
        "scope": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SCOPE,
                "items": _SCOPE_ITEM,
            },
            "description": f"JSON list of 1 to {MAX_SCOPE} {{platform, pseudonym, envelope_digest}}, no "
            "envelope twice; each digest must match a stored envelope of that pseudonym",
        },
        "expires_at": {
            "type": "string",
            "minLength": 1,
            "description": "ISO 8601 date and time in the future (UTC when it names no offset)",
        },
        "notify_delay_days": {
            "type": "string",
            "pattern": "^[0-9]{0,9}$",
            "description": f"days after the reveal before the person is told: 0 to {MAX_NOTIFY_DELAY_DAYS} "
            "(empty or absent: 30)",
        },
        "emergency": {"type": "string", "description": "1, true or on: an emergency request; else not"},
        "court_signature": {
            "type": "string",
            "pattern": "^([A-Za-z0-9_-]{86})?$",
            "description": "the court's detached Ed25519 signature over the order (base64url, 64 bytes); "
            "required when the court registered a key",
        },
    },
}
_REGISTER_KEY = _object(
    ["public_key"],
    {
        "public_key": _KEY,
        "username": {"type": "string", "description": "an admin registers this officer's key (default: own)"},
    },
)
_NEW_COURT = _object(
    ["name", "jurisdiction"],
    {
        "name": _text(MAX_TEXT),
        "jurisdiction": _text(MAX_TEXT),
        "public_key": {
            "type": ["string", "null"],
            "pattern": "^([A-Za-z0-9_-]{43})?$",
            "description": "base64url Ed25519 key the court signs its orders with (null or empty: none)",
        },
    },
)
_SIGNATURE_ONLY = _object(["signature"], {"signature": _SIGNATURE})
_OPRF_CHECK = _object(
    ["blinded", "signature"],
    {
        "blinded": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SCOPE,
            "items": _POINT,
            "description": "the blinded identity keys, 1 to the number of pseudonyms in scope",
        },
        "signature": _SIGNATURE,
    },
)
_SUBMIT = _object(
    ["blinding", "signature"],
    {
        "blinding": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SCOPE,
            "items": _POINT,
            "description": "one blinding point per pseudonym in scope, in scope order",
        },
        "signature": _SIGNATURE,
    },
)
_COSIGN = _object(["username", "signature"], {"username": _USERNAME, "signature": _SIGNATURE})
_EXTENSION = _object(
    ["username", "sequence", "old_delay_days", "new_delay_days", "reason", "order_reference", "signature"],
    {
        "username": _REQUEST_OFFICER,
        "sequence": {"type": "integer", "minimum": 1, "description": "the next extension's number"},
        "old_delay_days": {"type": "integer", "minimum": 0, "description": "the delay in force (days)"},
        "new_delay_days": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_NOTIFY_DELAY_DAYS,
            "description": "longer than the delay in force",
        },
        "reason": _text(MAX_LEGAL_BASIS),
        "order_reference": _text(MAX_TEXT),
        "order": {
            "type": ["string", "null"],
            "pattern": "^[A-Za-z0-9_-]*$",
            "maxLength": (MAX_EXTENSION_ORDER_BYTES * 4) // 3 + 4,
            "description": f"the court's decision: base64url of a PDF of at most "
            f"{MAX_EXTENSION_ORDER_BYTES // 2**20} MiB (optional; null or empty: none)",
        },
        "signature": _SIGNATURE,
    },
)
_EXTENSION_COSIGN = _object(
    ["username", "signature"], {"username": _text(64, "the co-signing officer"), "signature": _SIGNATURE}
)
_WITHDRAW = _object(
    ["username", "reason", "signature"],
    {"username": _REQUEST_OFFICER, "reason": _text(MAX_LEGAL_BASIS), "signature": _SIGNATURE},
)
_PARTIAL = _object(
    ["holder", "d", "proof"],
    {
        "holder": {
            "type": "integer",
            "minimum": 1,
            "maximum": 2**16,
            "description": "the holder's share index",
        },
        "d": _POINT,
        "proof": b64u_bytes(64, "the DLEQ proof (64 bytes)"),
    },
    exact=True,
)
_APPROVE = _object(
    ["partials", "signature"],
    {
        "partials": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SCOPE,
            "items": _PARTIAL,
            "description": "one partial decryption of R + B per envelope, in scope order",
        },
        "signature": _SIGNATURE,
    },
)
_REJECT = _object(["reason", "signature"], {"reason": _text(MAX_LEGAL_BASIS), "signature": _SIGNATURE})
_ROSTER_PROPOSAL = _object(
    [],
    {
        "courts": {
            "type": "array",
            "items": _object(
                ["name", "jurisdiction", "public_key"],
                {
                    "name": {"type": "string", "minLength": 1},
                    "jurisdiction": {"type": "string"},
                    "public_key": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_-]{43}$"},
                },
                exact=True,
            ),
            "description": "the courts whose orders may open a disclosure (default: none); no court twice",
        },
        "organisations": {
            "type": "array",
            "items": _object(
                ["name", "public_key", "may_submit", "may_cosign"],
                {
                    "name": {"type": "string", "minLength": 1},
                    "public_key": _KEY,
                    "may_submit": {"type": "boolean"},
                    "may_cosign": {"type": "boolean"},
                },
                exact=True,
            ),
            "description": "the officers' organisations, their certifying keys (default: none), none twice",
        },
    },
)
_CERTIFICATE = _object(
    ["certificate", "signature"],
    {
        "certificate": _object(
            ["v", "username", "organisation", "officer_key", "not_before", "not_after"],
            {
                "v": {"const": 1},
                "username": {"type": "string", "minLength": 1},
                "organisation": {"type": "string", "minLength": 1},
                "officer_key": _KEY,
                "not_before": {**_UTC_SECOND, "description": "UTC to the second"},
                "not_after": {**_UTC_SECOND, "description": "UTC to the second, after not_before"},
            },
            exact=True,
        ),
        "signature": {**_SIGNATURE, "description": "the organisation key's Ed25519 signature over it"},
    },
)


_PROBLEM = {"$ref": "#/components/responses/Problem"}
_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_HOLDER: list[dict[str, list[str]]] = [{"holderSignature": []}]
_ID = {
    "name": "request_id",
    "in": "path",
    "required": True,
    "description": "the disclosure request's id",
    "schema": {"type": "integer", "minimum": 1},
}
_B64U = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
_ROSTER_DOCUMENT = {
    "type": "object",
    "required": ["roster", "digest", "status", "signatures"],
    "properties": {
        "roster": {"type": "object", "description": "the roster (escrow/protocol/roster.py), canonical JSON"},
        "digest": {**_B64U, "description": "SHA-256 of the roster's canonical JSON"},
        "status": {"type": "string", "enum": ["proposed", "active", "superseded"]},
        "signatures": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"signing_key": _B64U, "signature": _B64U},
                "required": ["signing_key", "signature"],
            },
        },
    },
}
_VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "The roster version number (1 for the first)",
    "schema": {"type": "integer", "minimum": 1},
}
_REVEAL_PACKAGE = {
    "type": "object",
    "required": ["id", "digest", "body", "key", "envelopes", "partials", "view_until", "oprf_key_log_index"],
    "properties": {
        "id": {"type": "integer"},
        "digest": {**_B64U, "description": "the request digest the submitter signed"},
        "body": {"type": "object", "description": "the request body (escrow/protocol/disclosure.py)"},
        "key": {"type": "object", "description": "the escrow key: threshold, public key, verification keys"},
        "envelopes": {"type": "array", "items": {"type": "object"}, "description": "one per scope item"},
        "partials": {
            "type": "array",
            "description": "per approving holder, one partial decryption of R + B per envelope",
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"holder": {"type": "integer"}, "d": _B64U, "proof": _B64U},
                },
            },
        },
        "view_until": {"type": "string", "format": "date-time"},
        "oprf_key_log_index": {"type": ["integer", "null"]},
    },
}
_OPRF_ANSWERS = {
    "type": "object",
    "required": ["key_id", "log_index", "answers"],
    "properties": {
        "key_id": {"type": "string"},
        "log_index": {"type": ["integer", "null"], "description": "the log entry activating the OPRF key"},
        "answers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "node": {"type": "integer"},
                    "evaluated": {"type": "array", "items": _B64U},
                    "proof": _B64U,
                },
            },
        },
    },
}
_DATE_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_DATE_TIME = {"type": ["string", "null"], "format": "date-time"}
_COURT = {
    "type": "object",
    "required": ["id", "name", "jurisdiction", "public_key"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "jurisdiction": {"type": "string"},
        "public_key": {
            "type": ["string", "null"],
            "description": "base64url Ed25519 key the court signs its orders with (null: it does not sign)",
        },
    },
}
_POLICY = {
    "type": "object",
    "required": ["monthly_cap", "submitted_this_month", "is_blocked"],
    "properties": {
        "monthly_cap": {"type": ["integer", "null"], "minimum": 0, "description": "null: no cap"},
        "submitted_this_month": {"type": "integer", "minimum": 0},
        "is_blocked": {"type": "boolean", "description": "true: the cap is reached, submissions wait"},
    },
}
_REQUEST = {
    "type": "object",
    "description": "A disclosure request as officers and admins see it (never an identity)",
    "required": [
        "id",
        "status",
        "body",
        "digest",
        "submitter",
        "cosigners",
        "approvals",
        "rejections",
        "threshold",
        "log_index",
        "disclosed_at",
        "view_until",
        "notify_delay_days",
        "notify_at",
        "extensions",
        "withdrawn_by",
    ],
    "properties": {
        "id": {"type": "integer"},
        "status": {"enum": [state.value for state in RequestState]},
        "body": {
            "type": "object",
            "description": "the canonical request body (escrow/protocol/disclosure.py)",
        },
        "digest": {**_B64U, "description": "SHA-256 of the canonical body: what the officers sign"},
        "submitter": {"type": "string", "description": "the submitting officer's username"},
        "cosigners": {"type": "array", "items": {"type": "string"}},
        "approvals": {"type": "integer", "minimum": 0},
        "rejections": {"type": "integer", "minimum": 0},
        "threshold": {"type": "integer", "description": "approvals needed (the escrow key's t)"},
        "log_index": {"type": ["integer", "null"], "description": "the log entry of its submission"},
        "disclosed_at": _NULLABLE_DATE_TIME,
        "view_until": _NULLABLE_DATE_TIME,
        "notify_delay_days": {"type": "integer", "minimum": 0},
        "notify_at": _NULLABLE_DATE_TIME,
        "extensions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "sequence",
                    "status",
                    "body",
                    "digest",
                    "proposer",
                    "cosigners",
                    "created_at",
                    "effective_at",
                ],
                "properties": {
                    "sequence": {"type": "integer", "minimum": 1},
                    "status": {"enum": [state.value for state in ExtensionState]},
                    "body": {"type": "object"},
                    "digest": _B64U,
                    "proposer": {"type": "string"},
                    "cosigners": {"type": "array", "items": {"type": "string"}},
                    "created_at": _DATE_TIME,
                    "effective_at": _NULLABLE_DATE_TIME,
                },
            },
        },
        "withdrawn_by": {"type": ["string", "null"]},
    },
}
_HOLDER_PACKAGE = {
    "type": "object",
    "required": [
        "id",
        "status",
        "body",
        "digest",
        "log_index",
        "officers",
        "envelopes",
        "holder_index",
        "decided",
        "court",
        "order_document",
        "order_url",
    ],
    "properties": {
        "id": {"type": "integer"},
        "status": {"enum": [state.value for state in RequestState]},
        "body": {"type": "object", "description": "the canonical request body"},
        "digest": _B64U,
        "log_index": {"type": ["integer", "null"]},
        "officers": {
            "type": "array",
            "items": {"type": "object"},
            "description": "each signing officer: username, organisation, key, signature and the log "
            "entry that recorded the key",
        },
        "envelopes": {"type": "array", "items": {"type": "object"}, "description": "one per scope item"},
        "holder_index": {"type": "integer", "description": "the caller's index in the escrow key"},
        "decided": {"type": "boolean", "description": "the caller has approved or rejected it"},
        "court": {"type": "object", "description": "the court, its key and the log entry that added it"},
        "order_document": {**_B64U, "description": "the court order (base64url)"},
        "order_url": {"type": "string"},
    },
}
_REQUESTS = {"type": "array", "items": _REQUEST}
_ERRORS = {"401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM, "409": _PROBLEM, "422": _PROBLEM}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/officers/key": {
        "post": {
            "summary": "Register a legal officer's Ed25519 public key (own key, or any officer's as admin)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": json_body("public_key (base64url), optional username (admins)", _REGISTER_KEY),
            "responses": {
                "201": _schema(
                    "The recorded key",
                    {"type": "object", "properties": {"fingerprint": {"type": "string"}}},
                ),
                **_ERRORS,
            },
        }
    },
    "/api/v1/courts": {
        "get": {
            "summary": "The court registry",
            "tags": ["disclosure"],
            "security": _STAFF,
            "responses": {
                "200": _schema("Courts", {"type": "array", "items": _COURT}),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Register a court (admin): name, jurisdiction, optional Ed25519 public key",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": json_body("name, jurisdiction, public_key (base64url, optional)", _NEW_COURT),
            "responses": {"201": _schema("The court", _COURT), **_ERRORS},
        },
    },
    "/api/v1/disclosures/policy": {
        "get": {
            "summary": "Public: the monthly cap on disclosure requests and its use this month",
            "tags": ["disclosure"],
            "responses": {"200": _schema("The cap and its use this month", _POLICY)},
        }
    },
    "/api/v1/disclosures": {
        "get": {
            "summary": "Every disclosure request (legal officers, admins)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "responses": {
                "200": _schema("Requests", _REQUESTS),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Draft a request (multipart: order PDF, court_id, case_number, legal_basis, "
            "scope JSON, expires_at, notify_delay_days, emergency, court_signature)",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": _DRAFT_FORM}},
                "description": "The request fields and the order document",
            },
            "responses": {
                "201": _schema("The draft with its canonical body and digest", _REQUEST),
                **_ERRORS,
            },
        },
    },
    "/api/v1/disclosures/{request_id}": {
        "get": {
            "summary": "One request: canonical body, digest, signatures, progress",
            "tags": ["disclosure"],
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": _schema("The request", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/order": {
        "get": {
            "summary": "The stored court order (PDF attachment; nosniff, CSP default-src 'none'; sandbox) "
            "of a request the caller may read",
            "tags": ["disclosure"],
            "security": _STAFF,
            "parameters": [_ID],
            "responses": {"200": {"description": "The order document"}, **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/reveal": {
        "post": {
            "summary": "The reveal package of a disclosed request, for the submitting officer's tool: "
            "envelopes and the key-holders' partials of R + B, which open nothing without the officer's "
            "blinding scalars (signature over the request digest, role reveal; logged first)",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": json_body("signature (base64url)", _SIGNATURE_ONLY),
            "responses": {"200": _schema("The reveal package", _REVEAL_PACKAGE), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/oprf-check": {
        "post": {
            "summary": "The OPRF nodes' answers for the revealed identity keys, blinded by the submitting "
            "officer's tool (signature over the check digest, role oprf-check; logged first; a few per "
            "pseudonym in scope)",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": json_body(
                "blinded (base64url ristretto255 elements), signature (base64url)", _OPRF_CHECK
            ),
            "responses": {"200": _schema("The nodes' answers", _OPRF_ANSWERS), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/submit": {
        "post": {
            "summary": "Submit a draft: the submitter's blinding points (one per pseudonym in scope) and "
            "Ed25519 signature over the digest of the body with them in",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": json_body("blinding (base64url points), signature (base64url)", _SUBMIT),
            "responses": {"200": _schema("The request", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/cosign": {
        "post": {
            "summary": "Co-sign: another legal officer's Ed25519 signature over the request digest",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": json_body("username, signature (base64url)", _COSIGN),
            "responses": {"200": _schema("The request", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/extensions": {
        "post": {
            "summary": "Propose a longer notification delay: an officer of the request signs the extension "
            "digest (role extend); nothing changes until it is co-signed",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": json_body(
                "username, sequence, old_delay_days, new_delay_days, reason, order_reference, "
                "order (base64url PDF, optional), signature (base64url)",
                _EXTENSION,
            ),
            "responses": {"201": _schema("The request with its extensions", _REQUEST), **_ERRORS},
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
                    "description": "the extension's sequence number within the request (1 for the first)",
                    "schema": {"type": "integer", "minimum": 1},
                },
            ],
            "requestBody": json_body("username, signature (base64url)", _EXTENSION_COSIGN),
            "responses": {"200": _schema("The request with its extensions", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/disclosures/{request_id}/withdraw": {
        "post": {
            "summary": "Withdraw a request not yet disclosed or closed: an officer of the request signs "
            "the withdrawal digest (role withdraw); partial decryptions are deleted",
            "tags": ["disclosure"],
            "parameters": [_ID],
            "requestBody": json_body("username, reason, signature (base64url)", _WITHDRAW),
            "responses": {"200": _schema("The withdrawn request", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures": {
        "get": {
            "summary": "Co-signed requests awaiting the signed-in key-holder",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "responses": {
                "200": _schema("Requests", _REQUESTS),
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
            "responses": {"200": _schema("The request package", _HOLDER_PACKAGE), **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures/{request_id}/order": {
        "get": {
            "summary": "The stored court order (PDF attachment), for a holder of the request's key",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_ID],
            "responses": {"200": {"description": "The order document"}, **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures/{request_id}/approve": {
        "post": {
            "summary": "Approve: partial decryptions (one per envelope) and the holder's signature",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_ID],
            "requestBody": json_body("partials (list), signature (base64url)", _APPROVE),
            "responses": {"200": _schema("The request", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/holder/disclosures/{request_id}/reject": {
        "post": {
            "summary": "Reject with a reason and the holder's signature",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_ID],
            "requestBody": json_body("reason, signature (base64url)", _REJECT),
            "responses": {"200": _schema("The request", _REQUEST), **_ERRORS},
        }
    },
    "/api/v1/roster": {
        "get": {
            "summary": "The roster version in force (courts, organisations, holders, t) with its holders' "
            "signatures",
            "tags": ["disclosure"],
            "responses": {"200": _schema("The roster document", _ROSTER_DOCUMENT), **_ERRORS},
        }
    },
    "/api/v1/roster/latest": {
        "get": {
            "summary": "The newest roster version (proposed or in force) with its holders' signatures",
            "tags": ["disclosure"],
            "responses": {"200": _schema("The roster document", _ROSTER_DOCUMENT), **_ERRORS},
        }
    },
    "/api/v1/roster/versions/{version}": {
        "get": {
            "summary": "One roster version with its holders' signatures",
            "tags": ["disclosure"],
            "parameters": [_VERSION],
            "responses": {"200": _schema("The roster document", _ROSTER_DOCUMENT), **_ERRORS},
        }
    },
    "/api/v1/admin/roster": {
        "post": {
            "summary": "Propose the next roster version (courts, organisations); a quorum of holders "
            "must sign it",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": json_body("courts, organisations", _ROSTER_PROPOSAL),
            "responses": {"201": _schema("The proposed roster document", _ROSTER_DOCUMENT), **_ERRORS},
        }
    },
    "/api/v1/holder/roster/{version}/sign": {
        "post": {
            "summary": "A key-holder's signature over a roster version's digest",
            "tags": ["disclosure"],
            "security": _HOLDER,
            "parameters": [_VERSION],
            "requestBody": json_body("signature (base64url)", _SIGNATURE_ONLY),
            "responses": {"200": _schema("The roster document", _ROSTER_DOCUMENT), **_ERRORS},
        }
    },
    "/api/v1/officers/certificate": {
        "post": {
            "summary": "Record an officer's key with the certificate their organisation signed",
            "tags": ["disclosure"],
            "security": _STAFF,
            "requestBody": json_body("certificate, signature (base64url)", _CERTIFICATE),
            "responses": {
                "201": _schema(
                    "The recorded key",
                    {"type": "object", "properties": {"fingerprint": {"type": "string"}}},
                ),
                **_ERRORS,
            },
        }
    },
}
