"""What the disclosure API's modules share: the two blueprints, the roles, and request helpers.

Two blueprints: `bp` for staff sessions (legal officers and admins, X-CSRFToken on writes), and
`signed_bp` for requests authorised by an Ed25519 signature (officer or key-holder), never by cookie,
so app.py exempts it from CSRF.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request

from escrow.errors import AuthenticationError, ValidationError
from escrow.services.disclosures import DisclosurePolicy
from escrow.services.staff import StaffView
from escrow.web.auth import current_staff
from escrow.web.session import get_extension

bp = Blueprint("disclosures_api", __name__, url_prefix="/api/v1")
# Authenticated by Ed25519 signatures (officer or key-holder), never by cookie: app.py exempts CSRF.
signed_bp = Blueprint("disclosures_signed_api", __name__, url_prefix="/api/v1")

OFFICER = "legal_officer"
ADMIN = "admin"


def now() -> datetime:
    """Returns the current time (UTC), passed into every service call."""
    return datetime.now(UTC)


def disclosure_policy() -> DisclosurePolicy:
    """Returns the configured disclosure rules (Settings.disclosure_*)."""
    return DisclosurePolicy.from_settings(get_extension().settings)


def json_object() -> dict[str, Any]:
    """Returns the JSON object in the request body. Raises ValidationError if it is not one."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str) -> str:
    """Returns the text member `name` of `data`. Raises ValidationError if it is missing or not text."""
    value = data.get(name)
    if not isinstance(value, str):
        raise ValidationError(f"field {name!r} must be text")
    return value


def signed_in_staff() -> StaffView:
    """Returns the signed-in staff member (after role_required). Raises AuthenticationError."""
    staff = current_staff()
    if staff is None:  # pragma: no cover - role_required ran first
        raise AuthenticationError("log in as staff first")
    return staff.staff
