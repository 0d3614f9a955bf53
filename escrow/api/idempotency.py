"""The Idempotency-Key header (issue 17 finding 6, draft-ietf-httpapi-idempotency-key-header) for
issuance and redemption: one decorator, over escrow.services.idempotency.

The header's value is a Structured Field string (``Idempotency-Key: "8e03978e-..."``); the bare form
many clients send is accepted too. 16-255 printable ASCII characters. Only 2xx answers are kept: a
request that failed is run again by its retry. A replayed answer carries ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import ParamSpec

from flask import Response, make_response, request
from flask.typing import ResponseReturnValue

from escrow.crypto.errors import OpenFailedError
from escrow.crypto.idempotency import derive_idempotency_keys
from escrow.crypto.session_box import open_session_value, seal_session_value
from escrow.errors import ConflictError, MalformedIdempotencyKeyError
from escrow.httpkit import current_time, one_transaction
from escrow.services.idempotency import claim_key, keep_answer, release_key

HEADER = "Idempotency-Key"
MIN_KEY_LENGTH = 16
MAX_KEY_LENGTH = 255

P = ParamSpec("P")


def idempotent(
    operation: str, scope: Callable[[], bytes]
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, Response]]:
    """Decorates a JSON view so that requests with an Idempotency-Key get one answer per key and
    caller. ``scope`` returns the caller's scope (it authenticates, so a 401/403 comes first).

    Raises MalformedIdempotencyKeyError (400) for a bad header, IdempotencyKeyReusedError (422) for
    the key with another body, IdempotencyKeyInFlightError (409) for a claim left without its answer
    by an earlier version (a duplicate sent while the first runs waits for it and gets its answer).
    """

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
            header = request.headers.get(HEADER)
            if header is None:
                return make_response(view(*args, **kwargs))
            keys = derive_idempotency_keys(_parse(header), operation.encode() + b"\x00" + scope())
            digest = hashlib.sha256(request.path.encode() + b"\x00" + request.get_data()).digest()
            # Claim, operation and answer in one transaction: a worker killed between the operation's
            # commit and the answer's would leave a claim that a retry runs again (a second credential
            # for one key) once its lease ran out. Here the kill rolls all three back, or none.
            with one_transaction() as session:
                stored = claim_key(session, lookup=keys.lookup, request_digest=digest, now=current_time())
                if stored is not None:
                    return _replay(stored.status, stored.sealed_body, keys.seal_key, keys.lookup)
                response = make_response(view(*args, **kwargs))
                if 200 <= response.status_code < 300:
                    sealed = seal_session_value(
                        keys.seal_key, response.get_data(), associated_data=keys.lookup
                    )
                    keep_answer(session, lookup=keys.lookup, status=response.status_code, sealed_body=sealed)
                else:
                    release_key(session, lookup=keys.lookup)
            return response

        return wrapper

    return decorate


def _parse(header: str) -> bytes:
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not MIN_KEY_LENGTH <= len(value) <= MAX_KEY_LENGTH or not all(
        " " <= c <= "~" and c not in '"\\' for c in value
    ):
        raise MalformedIdempotencyKeyError(
            f"{HEADER} must be a string of {MIN_KEY_LENGTH}-{MAX_KEY_LENGTH} printable ASCII characters "
            'without quotes or backslashes, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"'
        )
    return value.encode()


def _replay(status: int, sealed: bytes, seal_key: bytes, lookup: bytes) -> Response:
    try:
        body = open_session_value(seal_key, sealed, associated_data=lookup)
    except OpenFailedError:  # the lookup matched, so the key did: a stored row was altered
        raise ConflictError(
            "the stored answer for this Idempotency-Key cannot be read; use a new key"
        ) from None
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response
