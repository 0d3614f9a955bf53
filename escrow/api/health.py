"""Health endpoint for load balancers and the CI smoke test."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from escrow.httpkit import get_components
from escrow.services.health import check_health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Returns 200 {"status": "ok"} if the database answers, else 503 {"status": "degraded"}."""
    report = check_health(get_components().engine)
    body = {
        "status": report.status,
        "database": "reachable" if report.is_database_reachable else "unreachable",
    }
    return jsonify(body), 200 if report.status == "ok" else 503
