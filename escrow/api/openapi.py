"""The OpenAPI 3.1 document of every JSON endpoint, served at /openapi.json (kept true by a test)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue

from escrow.api import ceremony, disclosures
from escrow.api import openapi_credentials as credential_openapi
from escrow.api import openapi_oidc as oidc_openapi
from escrow.httpkit import get_components

bp = Blueprint("openapi", __name__)

PROBLEM = {"$ref": "#/components/responses/Problem"}
_METHODS = ("get", "post", "put", "patch", "delete")


def _int_param(
    name: str, where: str = "query", *, required: bool = True, description: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _note(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


_HASHES = {"type": "array", "items": {"type": "string", "description": "base64url SHA-256 hash"}}

PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Liveness and database reachability",
            "tags": ["operations"],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/Health"}, "Healthy"),
                "503": _json({"$ref": "#/components/schemas/Health"}, "Database unreachable"),
            },
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: the database takes a write now (one UPDATE, rolled back)",
            "tags": ["operations"],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["status", "database"],
                        "properties": {"status": {"const": "ready"}, "database": {"const": "writable"}},
                    },
                    "Ready",
                ),
                "503": PROBLEM,
            },
        }
    },
    "/api/v1/session": {
        "get": {
            "summary": "The logged-in member of staff (if any) and the CSRF token for X-CSRFToken",
            "tags": ["staff"],
            "responses": {"200": _json({"$ref": "#/components/schemas/Session"}, "Session")},
        }
    },
    "/api/v1/log/key": {
        "get": {
            "summary": "The log's origin and verifier key",
            "tags": ["transparency"],
            "responses": {"200": _json({"$ref": "#/components/schemas/LogKey"}, "Log key")},
        }
    },
    "/api/v1/log/checkpoint": {
        "get": {
            "summary": "Latest signed checkpoint (C2SP tlog-checkpoint signed note) with the witnesses' "
            "cosignatures (C2SP tlog-cosignature)",
            "tags": ["transparency"],
            "responses": {"200": _note("Signed note")},
        }
    },
    "/api/v1/log/checkpoints": {
        "get": {
            "summary": "The tree sizes that have a signed checkpoint (one per sequencer batch), ascending",
            "tags": ["transparency"],
            "parameters": [
                _int_param("after", required=False, description="only sizes greater than this (default 0)")
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["sizes"],
                        "additionalProperties": False,
                        "properties": {
                            "sizes": {
                                "type": "array",
                                "maxItems": 1000,
                                "items": {"type": "integer", "minimum": 1},
                            }
                        },
                    },
                    "At most 1000 sizes",
                ),
                "422": PROBLEM,
            },
        }
    },
    "/api/v1/log/checkpoints/{size}": {
        "get": {
            "summary": "The checkpoint signed when the log reached `size` entries, with its cosignatures",
            "tags": ["transparency"],
            "parameters": [_int_param("size", "path", description="a tree size the log reached")],
            "responses": {"200": _note("Signed note"), "404": PROBLEM},
        }
    },
    "/api/v1/log/entries": {
        "get": {
            "summary": "Entries [start, end), at most 1000",
            "tags": ["transparency"],
            "parameters": [
                _int_param("start", required=False, description="first index (default 0); start <= end"),
                _int_param(
                    "end", description="one past the last index; end - start <= 1000, end <= tree size"
                ),
            ],
            "responses": {
                "200": _json({"$ref": "#/components/schemas/EntryPage"}, "Entries"),
                "422": PROBLEM,
            },
        }
    },
    "/api/v1/log/proof/inclusion": {
        "get": {
            "summary": "RFC 9162 inclusion proof",
            "tags": ["transparency"],
            "parameters": [
                _int_param("index", description="the entry's index; index < size"),
                _int_param("size", description="the tree size the proof is for; size <= current tree size"),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["index", "tree_size", "proof"],
                        "properties": {
                            "index": {"type": "integer"},
                            "tree_size": {"type": "integer"},
                            "proof": _HASHES,
                        },
                    },
                    "Inclusion proof",
                ),
                "422": PROBLEM,
            },
        }
    },
    "/api/v1/log/proof/range": {
        "get": {
            "summary": "Range proof: the hashes that, with entries [start, end), rebuild the root of size",
            "description": "MTH of every maximal subtree outside [start, end), in RFC 9162 recursion order, "
            "left to right (docs/transparency.md#range-proofs). Used by the key-holder's tool to prove that "
            "no officer key was replaced between two entries.",
            "tags": ["transparency"],
            "parameters": [
                _int_param("start", description="first index; start < end"),
                _int_param("end", description="one past the last index; end <= size"),
                _int_param("size", description="the tree size whose root the proof rebuilds"),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["start", "end", "tree_size", "proof"],
                        "properties": {
                            "start": {"type": "integer"},
                            "end": {"type": "integer"},
                            "tree_size": {"type": "integer"},
                            "proof": _HASHES,
                        },
                    },
                    "Range proof",
                ),
                "422": PROBLEM,
            },
        }
    },
    "/api/v1/log/proof/consistency": {
        "get": {
            "summary": "RFC 9162 consistency proof",
            "tags": ["transparency"],
            "parameters": [
                _int_param("first", description="the older tree size; first <= second"),
                _int_param("second", description="the newer tree size; second <= current tree size"),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["first", "second", "proof"],
                        "properties": {
                            "first": {"type": "integer"},
                            "second": {"type": "integer"},
                            "proof": _HASHES,
                        },
                    },
                    "Consistency proof",
                ),
                "422": PROBLEM,
            },
        }
    },
    "/api/v1/transparency/report": {
        "get": {
            "summary": "The public transparency report",
            "tags": ["transparency"],
            "responses": {"200": _json({"$ref": "#/components/schemas/Report"}, "Report")},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["operations"],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["openapi", "info", "paths"],
                        "properties": {
                            "openapi": {"const": "3.1.0"},
                            "info": {"type": "object"},
                            "paths": {"type": "object"},
                        },
                    },
                    "OpenAPI 3.1 document",
                )
            },
        }
    },
}

COMPONENTS: dict[str, Any] = {
    "responses": {
        "Problem": {
            "description": "RFC 9457 problem details",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    },
    "schemas": {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string", "description": "stable machine-readable error code"},
                "request_id": {"type": "string"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "database"],
            "properties": {
                "status": {"enum": ["ok", "degraded"]},
                "database": {"enum": ["reachable", "unreachable"]},
                "oprf_nodes": {
                    "type": "object",
                    "description": "Per OPRF node index: answers used, times skipped, last skip reason",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["answered", "skipped", "last_error"],
                        "properties": {
                            "answered": {"type": "integer", "minimum": 0},
                            "skipped": {"type": "integer", "minimum": 0},
                            "last_error": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        },
        "Session": {
            "type": "object",
            "required": ["csrf_token", "staff"],
            "properties": {"csrf_token": {"type": "string"}, "staff": {"type": ["object", "null"]}},
        },
        "LogKey": {
            "type": "object",
            "required": ["origin", "verifier_key"],
            "properties": {"origin": {"type": "string"}, "verifier_key": {"type": "string"}},
        },
        "EntryPage": {
            "type": "object",
            "required": ["tree_size", "entries"],
            "properties": {
                "tree_size": {"type": "integer"},
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "body", "event"],
                        "properties": {
                            "index": {"type": "integer"},
                            "body": {"type": "string", "description": "base64url of the exact leaf bytes"},
                            "event": {"type": "object"},
                        },
                    },
                },
            },
        },
        "Report": {
            "type": "object",
            "required": ["quarters", "counts", "by_court", "keyholders", "escrow_key", "witness_alarms"],
            "properties": {
                "quarters": {"type": "array", "items": {"type": "string"}},
                "counts": {"type": "object"},
                "by_court": {"type": "object"},
                "keyholders": {"type": "array", "items": {"type": "object"}},
                "escrow_key": {"type": ["object", "null"]},
                "witness_alarms": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
    "securitySchemes": {
        "staffSession": {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "Staff login (/login)",
        }
    },
}


def _operation_id(method: str, path: str) -> str:
    """Derives an operationId from the route (``get /api/v1/log/checkpoints/{size}`` ->
    ``getLogCheckpointsBySize``): unique because (method, path) is, stable because routes are."""
    words = []
    for segment in path.strip("/").split("/"):
        if segment in ("api", "v1", ".well-known"):
            continue
        if segment.startswith("{") and segment.endswith("}"):
            segment = "by_" + segment[1:-1]
        words += [w for w in re.split(r"[^A-Za-z0-9]+", segment) if w]
    return method + "".join(w[:1].upper() + w[1:] for w in words)


def _completed(paths: dict[str, Any]) -> dict[str, Any]:
    """Gives every operation an operationId (issue 19: clients are generated from them; a feature's
    own explicit id is kept) and the statuses any request can get before its view runs: 422 for a
    NUL character in the path or query, a form field without a name or with a NUL
    (httpkit.refuse_malformed_input, before every request); for a body 413 past MAX_CONTENT_LENGTH,
    and for a JSON body 400 (not JSON) and 415 (another media type)."""
    result = {}
    for path, item in paths.items():
        completed = {}
        for method, operation in item.items():
            if method not in _METHODS or not isinstance(operation, dict):
                completed[method] = operation
                continue
            responses = dict(operation.get("responses", {}))
            responses.setdefault("422", PROBLEM)
            body = operation.get("requestBody")
            if body is not None:
                responses.setdefault("413", PROBLEM)
                if "application/json" in body.get("content", {}):
                    responses.setdefault("400", PROBLEM)
                    responses.setdefault("415", PROBLEM)
            completed[method] = {
                "operationId": _operation_id(method, path),
                **operation,
                "responses": responses,
            }
        result[path] = completed
    return result


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """Returns the OpenAPI 3.1 document; ``server_url`` (the issuer) becomes its ``servers`` entry."""
    # Each feature documents its own routes: the ceremony relay in escrow/api/ceremony.py, credentials
    # and platforms in escrow/api/openapi_credentials.py.
    components = {
        **COMPONENTS,
        "schemas": {**COMPONENTS["schemas"], **credential_openapi.SCHEMAS, **oidc_openapi.SCHEMAS},
        "securitySchemes": {
            **COMPONENTS["securitySchemes"],
            **ceremony.OPENAPI_SECURITY_SCHEMES,
            **credential_openapi.SECURITY_SCHEMES,
            **oidc_openapi.SECURITY_SCHEMES,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "escrow",
            "version": "1",
            "description": (
                "Pseudonymous identity escrow. Errors are RFC 9457 problem details with a stable `code`."
            ),
        },
        "servers": [{"url": server_url or "/", "description": "this escrow instance (its issuer URL)"}],
        "paths": _completed(
            {
                **PATHS,
                **ceremony.OPENAPI_PATHS,
                **credential_openapi.PATHS,
                **oidc_openapi.PATHS,
                **disclosures.OPENAPI_PATHS,
            }
        ),
        "components": components,
    }


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    """The OpenAPI document."""
    return jsonify(openapi_document(get_components().settings.issuer_url))


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Flattens the document's paths into rows for the HTML page: path, method, summary, parameters."""
    rows = []
    for path in sorted(document["paths"]):
        item = document["paths"][path]
        shared = item.get("parameters", [])
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            parameters = [*shared, *operation.get("parameters", [])]
            rows.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": operation.get("summary") or operation.get("description", ""),
                    "parameters": [
                        {
                            "name": p.get("name", ""),
                            "in": p.get("in", ""),
                            "required": bool(p.get("required")),
                            "description": p.get("description", ""),
                        }
                        for p in parameters
                        if isinstance(p, dict) and "name" in p
                    ],
                    "request_body": "requestBody" in operation,
                    "responses": sorted(str(code) for code in operation.get("responses", {})),
                }
            )
    return rows


@bp.get("/docs/api")
def openapi_page() -> ResponseReturnValue:
    """The OpenAPI document as an HTML page, rendered on the server from the same data."""
    document = openapi_document()
    return render_template(
        "api_docs.html",
        info=document["info"],
        operations=_operations(document),
        schemes=sorted(document["components"]["securitySchemes"]),
    )
