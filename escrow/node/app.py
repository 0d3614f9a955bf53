"""The OPRF node's HTTP service: one share, the escrow service's pinned key, quotas, public counts.

    POST /evaluate  signed by the pinned escrow service key (fresh, never replayed) -> RFC 9497 answer
    GET  /key       the key id, this node's index, the threshold and its public share
    GET  /stats     elements evaluated per UTC hour (the last 7 days) and the quotas
    GET  /healthz   200 while the ledger answers

Every refusal is an RFC 9457 problem naming the fault, and nothing is evaluated or counted for it:
401 for an unsigned, mis-signed, stale or replayed request; 409 for a request for another key or node;
413/415/422 for a body that is too large, not JSON or not canonical elements; 429 with Retry-After
past a quota. The node logs counts and refusals, never an element.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Final

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from escrow.crypto.threshold_oprf import evaluate_share
from escrow.node.ledger import Ledger, QuotaExceededError, ReplayedRequestError
from escrow.node.settings import LEDGER_FILE, NodeSettings, NodeShare
from escrow.protocol.errors import ProtocolError
from escrow.protocol.oprf import (
    MAX_BODY_BYTES,
    EvaluateRequest,
    EvaluateResponse,
    InvalidServiceSignatureError,
    NodeKey,
    NodeStats,
    ServiceAuthorization,
)

log = logging.getLogger("escrow.node")
PROBLEM_MIMETYPE: Final = "application/problem+json"
STATS_HOURS: Final = 7 * 24
EXTENSION_KEY: Final = "escrow_node"


def _problem(
    status: int, code: str, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers.update(headers or {})
    return response


def _json(body: bytes) -> Response:
    return Response(body, status=200, mimetype="application/json")


class _Node:
    """What the routes share: the settings, the share and the ledger."""

    def __init__(self, settings: NodeSettings, share: NodeShare) -> None:
        self.settings = settings
        self.share = share
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ledger = Ledger(settings.data_dir / LEDGER_FILE)

    def authorize(self, body: bytes) -> ServiceAuthorization:
        auth = ServiceAuthorization.parse(request.headers.get("Authorization"))
        if not hmac.compare_digest(auth.signing_key, self.settings.service_key):
            raise InvalidServiceSignatureError(
                "this node answers only the escrow service key it was configured with"
            )
        skew_ms = abs(int(time.time() * 1000) - auth.timestamp_ms)
        if skew_ms > self.settings.freshness_s * 1000:
            raise InvalidServiceSignatureError(
                f"the request is stale: its time is {skew_ms // 1000} s from this node's clock "
                f"(at most {self.settings.freshness_s} s)"
            )
        auth.verify(request.method, request.path, body)
        return auth


def create_node_app(settings: NodeSettings, share: NodeShare) -> Flask:
    """Returns the node's WSGI application for `share` (escrow.node.settings.load_share opens it)."""
    app = Flask("escrow.node")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    node = _Node(settings, share)
    app.extensions[EXTENSION_KEY] = node

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        return _problem(e.code or 500, "http-error", e.name, e.description or e.name)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Response:
        log.exception("oprf node: unexpected error")
        return _problem(500, "internal-error", "Internal error", "the node could not answer; see its log")

    @app.post("/evaluate")
    def evaluate() -> Response:
        if request.mimetype != "application/json":
            return _problem(415, "unsupported-media-type", "Unsupported media type", "send application/json")
        body = request.get_data(cache=False)
        try:
            auth = node.authorize(body)
        except InvalidServiceSignatureError as e:
            log.warning("oprf node %d: refused a request: %s", share.index, e)
            return _problem(401, e.code, e.title, str(e))
        try:
            asked = EvaluateRequest.parse(body)
        except ProtocolError as e:
            return _problem(422, "invalid-request", "Invalid evaluation request", str(e))
        if asked.key_id != share.key.key_id or asked.node != share.index:
            return _problem(
                409,
                "wrong-node",
                "Request for another key or node",
                f"this is node {share.index} of key {share.key.key_id}; the request is for node "
                f"{asked.node} of key {asked.key_id}",
            )
        try:
            node.ledger.admit(
                nonce=auth.nonce,
                elements=len(asked.elements),
                now_ms=int(time.time() * 1000),
                limits=settings.limits,
                freshness_ms=settings.freshness_s * 1000,
            )
        except ReplayedRequestError as e:
            return _problem(401, "replayed-request", "Replayed request", str(e))
        except QuotaExceededError as e:
            log.warning("oprf node %d: quota per %s reached", share.index, e.window)
            return _problem(
                429, "quota-exceeded", "Quota exceeded", str(e), headers={"Retry-After": str(e.retry_after)}
            )
        evaluated, proof = evaluate_share(share.share, share.public_share, asked.elements)
        log.info("oprf node %d: evaluated %d element(s)", share.index, len(asked.elements))
        return _json(EvaluateResponse(share.key.key_id, share.index, tuple(evaluated), proof).to_json())

    @app.get("/key")
    def key() -> Response:
        return _json(
            NodeKey(share.key.key_id, share.index, share.key.threshold, share.public_share).to_json()
        )

    @app.get("/stats")
    def stats() -> Response:
        hours = node.ledger.hourly_counts(hours=STATS_HOURS, now_ms=int(time.time() * 1000))
        return _json(NodeStats(share.key.key_id, share.index, settings.limits.as_dict(), hours).to_json())

    @app.get("/healthz")
    def healthz() -> Response:
        node.ledger.hourly_counts(hours=1, now_ms=int(time.time() * 1000))
        return _json(json.dumps({"status": "ok", "node": share.index, "pid": os.getpid()}).encode())

    return app
