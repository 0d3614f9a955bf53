"""Health endpoints for load balancers and the CI smoke test: ``/healthz`` (liveness: the process
answers, and whether the database does) and ``/readyz`` (readiness: the database takes a write)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from escrow.errors import DatabaseUnavailableError
from escrow.httpkit import get_components
from escrow.services.health import check_health, check_readiness

bp = Blueprint("health", __name__)
READY_RETRY_AFTER_S = 5


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Returns 200 {"status": "ok"} if the database answers, else 503 {"status": "degraded"}.

    ``oprf_nodes``: per configured OPRF node, the answers this process used and the times it skipped the
    node (down, slow, refusing or lying), with the last reason: the metric that names a failing node.
    """
    components = get_components()
    report = check_health(components.engine)
    health = components.oprf.health.snapshot()
    body = {
        "status": report.status,
        "database": "reachable" if report.is_database_reachable else "unreachable",
        "oprf_nodes": {
            str(node.index): health.get(str(node.index), {"answered": 0, "skipped": 0, "last_error": None})
            for node in components.oprf.nodes
        },
    }
    return jsonify(body), 200 if report.status == "ok" else 503


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Returns 200 {"status": "ready"} if the database takes a write now (one UPDATE, rolled back),
    else a 503 problem with Retry-After: a load balancer sends no traffic to this instance until then.
    """
    report = check_readiness(get_components().engine)
    if report.status != "ok":
        raise DatabaseUnavailableError(
            "the database cannot take a write now", retry_after_s=READY_RETRY_AFTER_S
        )
    return jsonify({"status": "ready", "database": "writable"}), 200
