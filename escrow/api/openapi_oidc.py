"""OpenAPI paths and schemas of Sign in with escrow's JSON endpoints (issue 7; merged by api/openapi.py).

The authorization endpoint (/oidc/authorize) and the end-session endpoint (/oidc/logout, issue 19)
are HTML pages for the person's browser, not JSON: the discovery document names them, not this one.
The token endpoint answers errors in the RFC 6749 section 5.2 format (``error``,
``error_description``), as the spec requires, not as problem details; userinfo answers 401 with
``WWW-Authenticate: Bearer`` (RFC 6750 section 3).
"""

from __future__ import annotations

from typing import Any

_CLIENT: list[dict[str, list[str]]] = [{"oidcClientBasic": []}, {}]
_BEARER: list[dict[str, list[str]]] = [{"oidcAccessToken": []}]
_STAFF: list[dict[str, list[str]]] = [{"staffSession": []}]
_PROBLEM = {"$ref": "#/components/responses/Problem"}
_ADMIN_ERRORS = {"401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM, "422": _PROBLEM}
_PLATFORM_ID = {
    "name": "platform_id",
    "in": "path",
    "required": True,
    "description": "the platform's id (its OIDC client id)",
    "schema": {"type": "string"},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_NO_TOKEN_401 = {
    "description": (
        "No access token (WWW-Authenticate: Bearer, no error code and no body: RFC 6750 section 3.1), "
        'or an unknown, expired or revoked one (WWW-Authenticate error="invalid_token", OAuth error JSON)'
    ),
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "RFC 6750 section 3"}},
    "content": {"application/json": {"schema": _ref("OAuthError")}},
}


def _userinfo(method: str) -> dict[str, Any]:
    return {
        "operationId": f"oidcUserinfo{method}",
        "summary": "The signed-in person's pseudonym for the calling platform (sub) and verified_unique",
        "tags": ["sign in with escrow"],
        "security": _BEARER,
        "responses": {
            "200": _json(_ref("OidcUserInfo"), "Only sub and verified_unique"),
            "401": _NO_TOKEN_401,
        },
    }


def _token_form(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string", "description": "an access token"},
                        "token_type_hint": {"enum": ["access_token", "refresh_token"]},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        **(extra or {}),
                    },
                }
            }
        },
    }


PATHS: dict[str, Any] = {
    "/.well-known/openid-configuration": {
        "get": {
            "operationId": "oidcDiscovery",
            "summary": "OpenID Provider metadata (OpenID Connect Discovery 1.0); cacheable",
            "tags": ["sign in with escrow"],
            "responses": {"200": _json(_ref("OidcDiscovery"), "Provider metadata")},
        }
    },
    "/.well-known/oauth-authorization-server": {
        "get": {
            "operationId": "oauthAuthorizationServerMetadata",
            "summary": "RFC 8414 authorization server metadata (the same document as OpenID discovery)",
            "tags": ["sign in with escrow"],
            "responses": {"200": _json(_ref("OidcDiscovery"), "Authorization server metadata")},
        }
    },
    "/api/v1/oidc/revoke": {
        "post": {
            "operationId": "oidcRevokeToken",
            "summary": "RFC 7009: revoke one of the platform's own access tokens",
            "description": (
                "200 with an empty object for any token the platform may revoke, known or not; another "
                "platform's token is refused (invalid_grant). Public clients send their client_id."
            ),
            "tags": ["sign in with escrow"],
            "security": _CLIENT,
            "requestBody": _token_form(),
            "responses": {
                "200": _json({"type": "object", "maxProperties": 0}, "Revoked (or unknown)"),
                "400": _json(_ref("OAuthError"), "invalid_request (no token), invalid_grant"),
                "401": _json(_ref("OAuthError"), "invalid_client"),
            },
        }
    },
    "/api/v1/oidc/introspect": {
        "post": {
            "operationId": "oidcIntrospectToken",
            "summary": "RFC 7662: what one of the platform's own access tokens is (confidential clients)",
            "description": (
                'An unknown, expired, revoked or another platform\'s token is {"active": false} alone.'
            ),
            "tags": ["sign in with escrow"],
            "security": [{"oidcClientBasic": []}, {}],
            "requestBody": _token_form(),
            "responses": {
                "200": _json(_ref("OidcIntrospection"), "The token's state"),
                "400": _json(_ref("OAuthError"), "invalid_request (no token)"),
                "401": _json(_ref("OAuthError"), "invalid_client (also a public client)"),
            },
        }
    },
    "/api/v1/oidc/token": {
        "post": {
            "summary": "Exchange an authorization code (single-use, 60 s) for ID, access and refresh tokens, "
            "or a refresh token for new access and refresh tokens",
            "description": (
                "Confidential platforms authenticate with client_secret_basic or client_secret_post; "
                "public ones send client_id and the PKCE code_verifier (S256). A reused code is refused "
                "and revokes the tokens issued from it. A refresh token works once and is replaced in the "
                "answer; a used one presented again revokes every token of that sign-in (invalid_grant)."
            ),
            "tags": ["sign in with escrow"],
            "security": _CLIENT,
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "description": (
                                "authorization_code: code and redirect_uri required; refresh_token: "
                                "refresh_token required (single use: the answer carries its successor)"
                            ),
                            "properties": {
                                "grant_type": {"enum": ["authorization_code", "refresh_token"]},
                                "code": {"type": "string"},
                                "redirect_uri": {"type": "string"},
                                "refresh_token": {"type": "string"},
                                "scope": {"type": "string"},
                                "code_verifier": {"type": "string"},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(_ref("OidcTokenResponse"), "Tokens"),
                "400": _json(_ref("OAuthError"), "invalid_request, invalid_grant, unsupported_grant_type"),
                "401": _json(_ref("OAuthError"), "invalid_client"),
                # Rate-limited per client address (app._limit_requests); 503 when the shared
                # rate-limit store cannot be reached (it fails closed).
                "429": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    },
    "/api/v1/oidc/userinfo": {"get": _userinfo("Get"), "post": _userinfo("Post")},
    "/api/v1/admin/platforms/{platform_id}/oidc/client-secret": {
        "post": {
            "summary": "Give the platform a new OIDC client secret (replacing any); shown once",
            "tags": ["admin"],
            "security": _STAFF,
            "parameters": [_PLATFORM_ID],
            "responses": {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["platform_id", "client_secret"],
                        "properties": {
                            "platform_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                    },
                    "The new secret (stored only as its SHA-256)",
                ),
                **_ADMIN_ERRORS,
            },
        }
    },
    "/api/v1/admin/platforms/{platform_id}/oidc/id-token-alg": {
        "post": {
            "summary": "Set the algorithm of the platform's ID tokens (EdDSA default, or RS256)",
            "tags": ["admin"],
            "security": _STAFF,
            "parameters": [_PLATFORM_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["alg"],
                            "properties": {"alg": {"enum": ["EdDSA", "Ed25519", "RS256"]}},
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"platform_id": {"type": "string"}, "id_token_alg": {"type": "string"}},
                    },
                    "Set",
                ),
                **_ADMIN_ERRORS,
            },
        }
    },
}

SCHEMAS: dict[str, Any] = {
    "OidcIntrospection": {
        "type": "object",
        "required": ["active"],
        "properties": {
            "active": {"type": "boolean"},
            "scope": {"type": "string"},
            "client_id": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "sub": {"type": "string", "description": "the pairwise pseudonym"},
            "aud": {"type": "string"},
            "iss": {"type": "string"},
            "iat": {"type": "integer"},
            "exp": {"type": "integer"},
        },
    },
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    },
    "OidcTokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "refresh_token"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {
                "type": "string",
                "description": "single use; its family ends 30 days after the sign-in",
            },
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
            "scope": {"type": "string"},
            "id_token": {
                "type": "string",
                "description": (
                    "On the code exchange only. "
                    "JWT signed EdDSA (default) or RS256: iss, sub (pairwise pseudonym), aud, exp, iat, "
                    "nonce, auth_time, acr (assurance), at_hash, envelope_digest, verified_unique"
                ),
            },
        },
    },
    "OidcUserInfo": {
        "type": "object",
        "required": ["sub", "verified_unique"],
        "properties": {"sub": {"type": "string"}, "verified_unique": {"const": True}},
    },
    "OidcDiscovery": {
        "type": "object",
        "required": ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"],
        "properties": {
            "issuer": {"type": "string"},
            "authorization_endpoint": {"type": "string"},
            "token_endpoint": {"type": "string"},
            "userinfo_endpoint": {"type": "string"},
            "jwks_uri": {"type": "string"},
            "subject_types_supported": {"type": "array", "items": {"type": "string"}},
            "id_token_signing_alg_values_supported": {"type": "array", "items": {"type": "string"}},
            "code_challenge_methods_supported": {"type": "array", "items": {"type": "string"}},
            "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
            # Issue 19: RP-Initiated Logout 1.0 (an HTML page, like the authorization endpoint) and
            # Back-Channel Logout 1.0 (logout tokens carry sub and sid).
            "end_session_endpoint": {"type": "string", "format": "uri"},
            "backchannel_logout_supported": {"type": "boolean"},
            "backchannel_logout_session_supported": {"type": "boolean"},
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "oidcClientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "client id (platform id) and client secret (client_secret_basic)",
    },
    "oidcAccessToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "access token from /api/v1/oidc/token",
    },
}
