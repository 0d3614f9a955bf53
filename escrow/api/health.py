"""Health endpoint for load balancers and the CI smoke test."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from escrow.httpkit import get_components
from escrow.services.health import check_health

bp = Blueprint("health", __name__)


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
