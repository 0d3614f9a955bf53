"""What the disclosure API's modules share: the two blueprints, the roles, and request helpers.

Two blueprints: `bp` for staff sessions (legal officers and admins, X-CSRFToken on writes), and
`signed_bp` for requests authorised by an Ed25519 signature (officer or key-holder), never by cookie,
so app.py exempts it from CSRF.
"""

from __future__ import annotations

from flask import Blueprint

from escrow.errors import AuthenticationError
from escrow.httpkit import current_staff, get_components
from escrow.services.disclosure import DisclosurePolicy
from escrow.services.staff import StaffView

bp = Blueprint("disclosures_api", __name__, url_prefix="/api/v1")
# Authenticated by Ed25519 signatures (officer or key-holder), never by cookie: app.py exempts CSRF.
signed_bp = Blueprint("disclosures_signed_api", __name__, url_prefix="/api/v1")

OFFICER = "legal_officer"
ADMIN = "admin"


def disclosure_policy() -> DisclosurePolicy:
    """Returns the configured disclosure rules (Settings.disclosure_*)."""
    return DisclosurePolicy.from_settings(get_components().settings)


def signed_in_staff() -> StaffView:
    """Returns the signed-in staff member (after role_required). Raises AuthenticationError."""
    staff = current_staff()
    if staff is None:  # pragma: no cover - role_required ran first
        raise AuthenticationError("log in as staff first")
    return staff.staff
