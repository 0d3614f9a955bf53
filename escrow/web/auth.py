"""Staff login and logout pages, the Flask-Login principal, and the role check for pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from escrow.errors import AuthenticationError, NotFoundError
from escrow.services.staff import StaffView, authenticate_staff, get_staff
from escrow.web.session import get_extension, get_session

bp = Blueprint("auth", __name__)

P = ParamSpec("P")
R = TypeVar("R")
STAFF_ID_PREFIX = "staff:"


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """The Flask-Login user for a logged-in member of staff."""

    staff: StaffView
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return f"{STAFF_ID_PREFIX}{self.staff.id}"

    def has_role(self, *roles: str) -> bool:
        return bool(self.staff.roles.intersection(roles))


def load_principal(user_id: str) -> StaffPrincipal | None:
    """Flask-Login's user_loader: `staff:<id>` ids; unknown kinds and stale ids load nobody."""
    if not user_id.startswith(STAFF_ID_PREFIX):
        return None
    try:
        return StaffPrincipal(get_staff(get_session(), int(user_id.removeprefix(STAFF_ID_PREFIX))))
    except (ValueError, NotFoundError):
        return None


def current_staff() -> StaffPrincipal | None:
    """Returns the logged-in member of staff, or None."""
    user = current_user._get_current_object()  # noqa: SLF001 - unwrap werkzeug's LocalProxy
    return user if isinstance(user, StaffPrincipal) else None


def role_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Page decorator: login required (redirects to /login), then one of `roles` (else 403)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            staff = current_staff()
            if staff is None:
                return cast(R, current_app.login_manager.unauthorized())  # type: ignore[attr-defined]
            if not staff.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link bounce through our login page.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("web.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Staff login form."""
    form = LoginForm()
    if form.validate_on_submit():
        extension = get_extension()
        try:
            staff = authenticate_staff(
                get_session(), extension.password_hasher, form.username.data, form.password.data
            )
        except AuthenticationError as e:
            flash(e.detail, "error")
            return render_template("login.html", form=form), 401
        login_user(StaffPrincipal(staff))
        flash(f"Signed in as {staff.display_name}.", "info")
        return redirect(_safe_next(request.args.get("next")))
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form, now=datetime.now(UTC)), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Ends the session (POST with the CSRF token, so another site cannot log a user out)."""
    logout_user()
    flash("Signed out.", "info")
    return redirect(url_for("web.index"))
