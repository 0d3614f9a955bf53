"""Disclosure API: the court registry (staff read it; admins register courts and their keys)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from escrow.api.auth import role_required
from escrow.api.disclosures.shared import ADMIN, OFFICER, bp
from escrow.httpkit import current_time, get_components, get_session, json_object, text_field
from escrow.services import disclosure as service


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
    data = json_object(require_json_media_type=False)
    key = data.get("public_key")
    court = service.add_court(
        get_session(),
        name=text_field(data, "name", allow_empty=True),
        jurisdiction=text_field(data, "jurisdiction", allow_empty=True),
        public_key_b64=key if isinstance(key, str) and key else None,
        log=get_components().log,
        now=current_time(),
    )
    return jsonify(_court(court)), 201
