"""OpenAPI paths and schemas of issue 3's JSON endpoints (merged into /openapi.json by api/openapi.py)."""

from __future__ import annotations

from typing import Any

PROBLEM = {"$ref": "#/components/responses/Problem"}
_PLATFORM_KEY: list[dict[str, list[str]]] = [{"platformApiKey": []}]
_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_PERSON: list[dict[str, list[str]]] = [{"personSession": []}]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_PATH_PARAM_DESCRIPTIONS = {
    "credential_id": "the credential's id (its jti)",
    "platform_id": "the platform's id (also its OIDC client id)",
    "prefix": "the API key's public prefix",
}


def _path_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": _PATH_PARAM_DESCRIPTIONS[name],
        "schema": {"type": "string"},
    }


def _op(
    summary: str, tag: str, security: list[dict[str, list[str]]], responses: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"summary": summary, "tags": [tag], "security": security, "responses": responses, **extra}


# Issue 17 finding 6: draft-ietf-httpapi-idempotency-key-header on issuance and redemption.
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "A unique string (16-255 printable ASCII characters, e.g. a quoted UUID) that makes a retry "
        "safe: a repeat with the same key and body gets the first answer again (with "
        "Idempotent-Replayed: true), the same key with another body is 422 "
        "(idempotency-key-reused), a repeat while the first is running waits for its answer (409 "
        "idempotency-key-in-flight only for a claim an older release left unanswered), a malformed key "
        "400. Keys expire after 24 hours."
    ),
    "schema": {"type": "string", "minLength": 16, "maxLength": 257},
}
_ERRORS = {"401": PROBLEM, "403": PROBLEM, "404": PROBLEM, "409": PROBLEM, "422": PROBLEM}
# The platform API is rate-limited per API key (app._limit_requests): 429 past the limit, 503 when the
# shared rate-limit store cannot be reached (it fails closed).
_LIMITED = {"429": PROBLEM, "503": PROBLEM}
# Issue 13: the OPRF nodes did not answer (code oprf-unavailable), with Retry-After when they said when.
_UNAVAILABLE = PROBLEM

PATHS: dict[str, Any] = {
    "/.well-known/jwks.json": {
        "get": {
            "summary": "Credential signing keys (OKP/Ed25519, kid = RFC 7638 thumbprint); cacheable",
            "tags": ["credentials"],
            "responses": {"200": _json(_ref("Jwks"), "JSON Web Key Set")},
        }
    },
    "/api/v1/credentials/verify": {
        "post": _op(
            "Verify a credential for the calling platform and redeem it (a second redemption is 409)",
            "platforms",
            _PLATFORM_KEY,
            {
                "200": _json(_ref("VerifiedCredential"), "Valid and now redeemed"),
                **_ERRORS,
                "400": PROBLEM,
                **_LIMITED,
            },
            parameters=[_IDEMPOTENCY_KEY],
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["credential"],
                    "properties": {"credential": {"type": "string"}},
                }
            ),
        )
    },
    "/api/v1/credentials/status": {
        "post": _op(
            "Status of up to 100 of the platform's credentials",
            "platforms",
            _PLATFORM_KEY,
            {"200": _json(_ref("Statuses"), "Statuses"), **_ERRORS, **_LIMITED},
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["credential_ids"],
                    "properties": {
                        "credential_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 100}
                    },
                }
            ),
        )
    },
    "/api/v1/credentials/{credential_id}/revoke": {
        "post": _op(
            "The platform revokes one of its credentials (abuse)",
            "platforms",
            _PLATFORM_KEY,
            {"200": _json(_ref("CredentialInfo"), "Revoked"), **_ERRORS, **_LIMITED},
            parameters=[_path_param("credential_id")],
        )
    },
    "/api/v1/me/credentials": {
        "get": _op(
            "The logged-in person's credentials on every platform",
            "persons",
            _PERSON,
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"credentials": {"type": "array", "items": _ref("CredentialInfo")}},
                    },
                    "Credentials",
                ),
                **_ERRORS,
            },
        ),
        "post": _op(
            "Issue a credential for a platform to the logged-in person (X-CSRFToken header)",
            "persons",
            _PERSON,
            {
                "201": _json(_ref("IssuedCredential"), "Issued; the token is in this response only"),
                **_ERRORS,
                "400": PROBLEM,
            },
            parameters=[_IDEMPOTENCY_KEY],
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["platform_id"],
                    "properties": {
                        "platform_id": {"type": "string"},
                        "slot": {"type": "integer", "minimum": 0},
                    },
                }
            ),
        ),
    },
    "/api/v1/me/notices": {
        "get": _op(
            "The disclosures that concerned the logged-in person whose notice is due (matched by the "
            "person's own notice tags against the log's disclosure.notice_due events)",
            "persons",
            _PERSON,
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "notices": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "request_id": {"type": "integer"},
                                        "disclosed_at": {"type": "string", "format": "date-time"},
                                        "court": {"type": "string"},
                                        "case_number": {"type": "string"},
                                    },
                                },
                            }
                        },
                    },
                    "Notices",
                ),
                **_ERRORS,
            },
        ),
    },
    "/api/v1/me/credentials/{credential_id}/revoke": {
        "post": _op(
            "The person revokes one of their own credentials (X-CSRFToken header)",
            "persons",
            _PERSON,
            {"200": _json(_ref("CredentialInfo"), "Revoked"), **_ERRORS},
            parameters=[_path_param("credential_id")],
        )
    },
    "/api/v1/admin/platforms": {
        "get": _op(
            "Every platform",
            "admin",
            _STAFF,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["platforms"],
                        "properties": {"platforms": {"type": "array", "items": _ref("Platform")}},
                    },
                    "Platforms",
                ),
                **_ERRORS,
            },
        ),
        "post": _op(
            "Register a platform (role admin)",
            "admin",
            _STAFF,
            {"201": _json(_ref("Platform"), "Registered"), **_ERRORS},
            requestBody=_body(_ref("PlatformRequest")),
        ),
    },
    "/api/v1/admin/platforms/{platform_id}/api-keys": {
        "get": _op(
            "The platform's API keys (prefixes only)",
            "admin",
            _STAFF,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["api_keys"],
                        "properties": {"api_keys": {"type": "array", "items": _ref("ApiKey")}},
                    },
                    "API keys",
                ),
                **_ERRORS,
            },
            parameters=[_path_param("platform_id")],
        ),
        "post": _op(
            "Create an API key; `api_key` appears in this response only",
            "admin",
            _STAFF,
            {"201": _json(_ref("ApiKey"), "Created"), **_ERRORS},
            parameters=[_path_param("platform_id")],
        ),
    },
    "/api/v1/admin/platforms/{platform_id}/api-keys/{prefix}/revoke": {
        "post": _op(
            "Revoke an API key",
            "admin",
            _STAFF,
            {"200": _json(_ref("ApiKey"), "Revoked"), **_ERRORS},
            parameters=[_path_param("platform_id"), _path_param("prefix")],
        )
    },
    "/api/v1/admin/credentials/{credential_id}/revoke": {
        "post": _op(
            "Revoke any credential (role admin)",
            "admin",
            _STAFF,
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["credential_id", "status"],
                        "properties": {
                            "credential_id": {"type": "string"},
                            "status": {"enum": ["revoked", "expired"]},
                        },
                    },
                    "Revoked",
                ),
                **_ERRORS,
            },
            parameters=[_path_param("credential_id")],
        )
    },
    "/api/v1/officer/persons": {
        "post": _op(
            "Register a person whose document was checked in person (role verification_officer)",
            "officers",
            _STAFF,
            {
                "201": _json(
                    {"type": "object", "properties": {"person_id": {"type": "integer"}}}, "Registered"
                ),
                **_ERRORS,
                "503": _UNAVAILABLE,
            },
            requestBody=_body(_ref("DocumentCheck")),
        )
    },
}

_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Jwks": {
        "type": "object",
        "required": ["keys"],
        "properties": {
            "keys": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kty", "kid"],
                    "properties": {
                        "kty": {"enum": ["OKP", "RSA"]},
                        "crv": {"const": "Ed25519"},
                        "x": _TEXT,
                        "n": _TEXT,
                        "e": _TEXT,
                        "kid": {"type": "string", "description": "RFC 7638 thumbprint"},
                        "use": {"const": "sig"},
                        "alg": {"const": "RS256", "description": "RSA keys only (Ed25519 keys: no alg)"},
                    },
                },
            }
        },
    },
    "VerifiedCredential": {
        "type": "object",
        "properties": {
            "valid": {"type": "boolean"},
            "pseudonym": _TEXT,
            "platform_id": _TEXT,
            "issuer": _TEXT,
            "credential_id": _TEXT,
            "envelope_digest": _TEXT,
            "key_id": _TEXT,
            "issued_at": _TIME,
            "not_before": _TIME,
            "expires_at": _TIME,
        },
    },
    "Statuses": {
        "type": "object",
        "properties": {
            "statuses": {
                "type": "object",
                "additionalProperties": {"enum": ["active", "redeemed", "revoked", "expired", "unknown"]},
            }
        },
    },
    "CredentialInfo": {
        "type": "object",
        "properties": {
            "credential_id": _TEXT,
            "platform_id": _TEXT,
            "pseudonym": _TEXT,
            "issued_at": _TIME,
            "expires_at": _TIME,
            "status": {"enum": ["active", "redeemed", "revoked", "expired"]},
        },
    },
    "IssuedCredential": {
        "type": "object",
        "properties": {
            "credential": {"type": "string", "description": "compact JWS, alg EdDSA (or Ed25519)"},
            "credential_id": _TEXT,
            "platform_id": _TEXT,
            "pseudonym": _TEXT,
            "envelope_digest": _TEXT,
            "expires_at": _TIME,
        },
    },
    "Platform": {
        "type": "object",
        "required": [
            "id",
            "name",
            "contact",
            "redirect_uris",
            "credential_lifetime_s",
            "pseudonyms_per_person",
            "id_token_alg",
            "has_client_secret",
        ],
        "properties": {
            "id": _TEXT,
            "name": _TEXT,
            "contact": _TEXT,
            "redirect_uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "credential_lifetime_s": {"type": "integer", "minimum": 60},
            "pseudonyms_per_person": {"type": "integer", "minimum": 1},
            "id_token_alg": {"enum": ["EdDSA", "Ed25519", "RS256"]},
            "has_client_secret": {"type": "boolean"},
        },
    },
    "PlatformRequest": {
        "type": "object",
        "required": ["id", "name", "contact"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"},
            "name": _TEXT,
            "contact": _TEXT,
            "redirect_uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "credential_lifetime_s": {"type": "integer", "minimum": 60},
            "pseudonyms_per_person": {"type": "integer", "minimum": 1, "maximum": 16},
        },
    },
    "ApiKey": {
        "type": "object",
        "properties": {
            "prefix": _TEXT,
            "platform_id": _TEXT,
            "created_at": _TIME,
            "is_revoked": {"type": "boolean"},
            "api_key": {"type": "string", "description": "only when just created"},
        },
    },
    "DocumentCheck": {
        "type": "object",
        "required": ["document_type", "issuing_country", "document_number", "name", "birthdate", "password"],
        "properties": {
            "document_type": {"enum": ["passport", "id_card", "residence_permit", "driving_licence"]},
            "issuing_country": {"type": "string", "description": "ISO 3166-1 alpha-3"},
            "document_number": _TEXT,
            "name": _TEXT,
            "birthdate": {"type": "string", "format": "date"},
            "password": {"type": "string", "minLength": 12},
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "platformApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "Platform API key esk_<prefix>_<secret>",
    },
    "personSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "Person login (/account)",
    },
}
