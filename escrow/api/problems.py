"""RFC 9457 problem details: the ONE table mapping domain errors to HTTP statuses for JSON clients.

Bodies are ``application/problem+json`` with members type, title, status, detail and a stable
``code``. Unexpected exceptions become a 500 whose body says nothing about the exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from flask import Request, Response
from werkzeug.exceptions import HTTPException

from escrow.errors import (
    AuthenticationError,
    ConflictError,
    EscrowError,
    InvalidCredentialError,
    InvalidPageError,
    InvalidStateError,
    InvalidTokenError,
    MalformedIdempotencyKeyError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationError,
)

PROBLEM_MIMETYPE = "application/problem+json"
# No per-problem documentation pages yet: RFC 9457 section 4.2.1 says to use about:blank then, and
# then the title SHOULD be the status's phrase; what went wrong is in `code` and `detail` (issue 19).
PROBLEM_TYPE = "about:blank"
# RFC 9110 section 15 renamed a few statuses that Python's http.HTTPStatus still calls by old names.
_RFC9110_PHRASES: Mapping[int, str] = {
    413: "Content Too Large",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}
INTERNAL_ERROR_CODE = "internal-error"

# Looked up along the exception's MRO, so subclasses (TokenExpiredError, ...) inherit a status.
PROBLEM_STATUS: Mapping[type[EscrowError], int] = {
    NotFoundError: 404,
    PermissionDeniedError: 403,
    InvalidStateError: 409,
    ConflictError: 409,
    # A request signature, an invitation code: the request's own authentication.
    InvalidTokenError: 401,
    # A credential in the request's content, not its authentication: 422 like any other content
    # that cannot be processed, so a platform tells it from a bad API key (401 + WWW-Authenticate).
    InvalidCredentialError: 422,
    AuthenticationError: 401,
    # A header that does not parse is a malformed request (draft-ietf-httpapi-idempotency-key-header).
    MalformedIdempotencyKeyError: 400,
    # Well-formed but semantically wrong input (RFC 9110 section 15.5.21).
    ValidationError: 422,
    # A malformed ?page= is a malformed request, not a rule broken by a well-formed one (issue 8).
    InvalidPageError: 400,
    # A service a step depends on (the OPRF nodes, issue 13) cannot answer now: try again later.
    ServiceUnavailableError: 503,
}

# Stable codes for the HTTP-level errors werkzeug raises before our code runs.
HTTP_ERROR_CODES: Mapping[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "content-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
    503: "service-unavailable",
}

_JSON_PATH_PREFIXES = ("/api/", "/.well-known/")
_JSON_PATHS = frozenset({"/api", "/healthz", "/readyz", "/metrics", "/openapi.json"})


def status_for(error: EscrowError) -> int:
    """Returns the HTTP status for ``error``: the first table entry along its MRO, else 500."""
    for cls in type(error).__mro__:
        status = PROBLEM_STATUS.get(cls)
        if status is not None:
            return status
    return 500


def status_phrase(status: int) -> str:
    """Returns the RFC 9110 reason phrase of ``status`` (the problem title for about:blank)."""
    try:
        return _RFC9110_PHRASES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def headers_for(error: EscrowError) -> dict[str, str]:
    """Returns the extra response headers of ``error``: Retry-After (RFC 9110 section 10.2.3, in
    seconds) when a ServiceUnavailableError knows when to try again, and the WWW-Authenticate challenge
    of an AuthenticationError that has one (RFC 9110 section 11.6.1). Pages and problems both send them."""
    if isinstance(error, ServiceUnavailableError) and error.retry_after_s is not None:
        return {"Retry-After": str(error.retry_after_s)}
    if isinstance(error, AuthenticationError) and error.challenge is not None:
        return {"WWW-Authenticate": error.challenge}
    return {}


def wants_problem_json(request: Request) -> bool:
    """Returns True if errors for ``request`` should be problem JSON rather than an HTML page."""
    if request.path in _JSON_PATHS or request.path.startswith(_JSON_PATH_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/json", PROBLEM_MIMETYPE], default="text/html"
    )
    return best != "text/html"


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    extra: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Returns an ``application/problem+json`` response with the RFC 9457 members and ``code``; the
    title is the status phrase (``type`` is about:blank: RFC 9457 section 4.2.1)."""
    body: dict[str, object] = {
        "type": PROBLEM_TYPE,
        "title": status_phrase(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers.update(headers or {})
    return response


def problem_for_escrow_error(error: EscrowError, *, request_id: str) -> Response:
    """Returns the problem response for a domain error (its detail is written to be client-safe)."""
    status = status_for(error)
    if status == 500:
        return problem_for_unexpected_error(request_id=request_id)
    return problem_response(status=status, code=error.code, detail=error.detail, headers=headers_for(error))


def problem_for_http_exception(error: HTTPException) -> Response:
    """Returns the problem response for a werkzeug HTTP error.

    The class's generic description is used, not the instance's, which may quote the input
    (e.g. a JSON decoding error).
    """
    status = error.code or 500
    headers: dict[str, str] = {}
    valid_methods = getattr(error, "valid_methods", None)
    if valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    return problem_response(
        status=status,
        code=HTTP_ERROR_CODES.get(status, f"http-{status}"),
        detail=type(error).description or error.name,
        headers=headers,
    )


def problem_for_unexpected_error(*, request_id: str) -> Response:
    """Returns the 500 problem response; it names the request id and nothing about the error."""
    return problem_response(
        status=500,
        code=INTERNAL_ERROR_CODE,
        detail="The server failed to complete the request. Quote the request id when reporting it.",
        extra={"request_id": request_id},
    )
