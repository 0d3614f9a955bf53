"""Disclosure API: the court registry (staff read it; admins register courts and their keys)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from escrow.api.auth import role_required
from escrow.api.disclosures.shared import ADMIN, OFFICER, bp, field, json_object, now
from escrow.services import disclosures as service
from escrow.web.session import get_extension, get_session


@bp.get("/courts")
@role_required(OFFICER, ADMIN)
def courts() -> Response:
    """The court registry."""
    return jsonify([_court(c) for c in service.list_courts(get_session())])


def _court(court: service.CourtView) -> dict[str, Any]:
    return {
        "id": court.id,
        "name": court.name,
        "jurisdiction": court.jurisdiction,
        "public_key": court.public_key_b64,
    }


@bp.post("/courts")
@role_required(ADMIN)
def add_court() -> tuple[Response, int]:
    """Adds a court (admin)."""
    data = json_object()
    key = data.get("public_key")
    court = service.add_court(
        get_session(),
        name=field(data, "name"),
        jurisdiction=field(data, "jurisdiction"),
        public_key_b64=key if isinstance(key, str) and key else None,
        log=get_extension().log,
        now=now(),
    )
    return jsonify(_court(court)), 201
