"""Role checks for JSON endpoints used by logged-in staff (session cookie + CSRF header)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf

from escrow.errors import AuthenticationError, PermissionDeniedError
from escrow.httpkit import current_staff

bp = Blueprint("api_session", __name__, url_prefix="/api/v1")

P = ParamSpec("P")
R = TypeVar("R")


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """JSON decorator: 401 problem without a staff login, 403 problem without one of `roles`.

    State-changing requests also need the X-CSRFToken header (Flask-WTF checks it app-wide).
    """

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            staff = current_staff()
            if staff is None:
                raise AuthenticationError("log in as staff first")
            if not staff.has_role(*roles):
                raise PermissionDeniedError(f"requires the role {' or '.join(roles)}")
            return view(*args, **kwargs)

        return wrapper

    return decorate


@bp.get("/session")
def session_info() -> ResponseReturnValue:
    """Who is logged in, and the CSRF token JSON clients send back as X-CSRFToken."""
    staff = current_staff()
    body: dict[str, object] = {"csrf_token": generate_csrf(), "staff": None}
    if staff is not None:
        body["staff"] = {
            "username": staff.staff.username,
            "display_name": staff.staff.display_name,
            "organisation": staff.staff.organisation,
            "roles": sorted(staff.staff.roles),
        }
    return jsonify(body)
