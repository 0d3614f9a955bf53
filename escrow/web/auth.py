"""Staff login and logout pages, the Flask-Login principal, and the role check for pages."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import AuthenticationError, KeyFileError, NotFoundError
from escrow.httpkit import (
    StaffPrincipal,
    current_staff,
    current_time,
    end_session,
    forget_pseudonym_secret,
    get_components,
    get_session,
    renew_session,
)
from escrow.services import totp
from escrow.services.staff import StaffView, authenticate_staff, check_totp, enrol_totp, get_staff

bp = Blueprint("auth", __name__)

P = ParamSpec("P")
R = TypeVar("R")
_log = logging.getLogger("escrow.web.auth")


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


class CodeForm(FlaskForm):  # type: ignore[misc]
    code = StringField("Six-digit code", validators=[DataRequired(), Length(max=16)])


# After the password, the account id waits in the (signed) session cookie for its code this long,
# and at most this many wrong codes; then the password must be entered again.
PENDING_LOGIN = "staff_login_pending"
PENDING_ENROLMENT = "staff_totp_enrolment"
PENDING_SECONDS = 300
MAX_CODE_FAILURES = 5


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link bounce through our login page.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("web.index")


def _finish_login(staff: StaffView, target: str | None) -> ResponseReturnValue:
    session.pop(PENDING_LOGIN, None)
    session.pop(PENDING_ENROLMENT, None)
    forget_pseudonym_secret()  # a person signed in before in this browser: their secret goes too
    login_user(StaffPrincipal(staff))
    renew_session()
    flash(f"Signed in as {staff.display_name}.", "info")
    return redirect(_safe_next(target))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Staff login, step 1: username and password; then the code (or enrolment) if the account needs one."""
    form = LoginForm()
    if form.validate_on_submit():
        extension = get_components()
        try:
            staff = authenticate_staff(
                get_session(), extension.password_hasher, form.username.data, form.password.data
            )
        except AuthenticationError as e:
            flash(e.detail, "error")
            return render_template("login.html", form=form), 401
        target = request.args.get("next")
        if not staff.has_totp and not staff.needs_totp(all_staff=extension.settings.totp_all_staff):
            return _finish_login(staff, target)
        session.pop(PENDING_ENROLMENT, None)
        session[PENDING_LOGIN] = {
            "staff": staff.id,
            "until": time.time() + PENDING_SECONDS,
            "next": _safe_next(target),
            "failures": 0,
        }
        return redirect(url_for("auth.login_code" if staff.has_totp else "auth.totp_setup"))
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form, now=current_time()), status


def pending_account_key() -> str:
    """Flask-Limiter key for the code forms: the account that passed the password step."""
    pending = session.get(PENDING_LOGIN)
    if isinstance(pending, dict) and "staff" in pending:
        return f"staff:{pending['staff']}"
    return f"address:{request.remote_addr}"


def _pending_staff() -> tuple[dict[str, Any], StaffView] | None:
    """The account that passed step 1 in this browser and still may send a code, or None."""
    pending = session.get(PENDING_LOGIN)
    if not isinstance(pending, dict) or float(pending.get("until", 0)) < time.time():
        session.pop(PENDING_LOGIN, None)
        return None
    try:
        return pending, get_staff(get_session(), int(pending["staff"]))
    except (KeyError, TypeError, ValueError, NotFoundError):
        session.pop(PENDING_LOGIN, None)
        return None


def _restart(message: str) -> ResponseReturnValue:
    session.pop(PENDING_LOGIN, None)
    session.pop(PENDING_ENROLMENT, None)
    flash(message, "error")
    return redirect(url_for("auth.login"))


def _wrong_code(pending: dict[str, Any], message: str) -> ResponseReturnValue | None:
    """Counts a wrong code; returns the restart response once MAX_CODE_FAILURES is reached."""
    pending["failures"] = int(pending.get("failures", 0)) + 1
    session[PENDING_LOGIN] = pending
    if pending["failures"] >= MAX_CODE_FAILURES:
        return _restart("Too many wrong codes. Enter your password again.")
    flash(message, "error")
    return None


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    """Staff login, step 2: the current code from the authenticator app (each code works once)."""
    found = _pending_staff()
    if found is None:
        return _restart("Your sign-in expired. Enter your username and password again.")
    pending, staff = found
    if not staff.has_totp:
        return redirect(url_for("auth.totp_setup"))
    form = CodeForm()
    if form.validate_on_submit():
        extension = get_components()
        try:
            staff = check_totp(
                get_session(),
                extension.keyring.totp_key,
                staff_id=staff.id,
                code=form.code.data,
                now=current_time(),
            )
        except AuthenticationError as e:
            _log.info("staff.totp_refused staff_id=%s", staff.id)
            restart = _wrong_code(pending, e.detail)
            return restart or (render_template("login_code.html", form=form), 401)
        return _finish_login(staff, pending.get("next"))
    status = 400 if request.method == "POST" else 200
    return render_template("login_code.html", form=form), status


@bp.route("/login/authenticator", methods=["GET", "POST"])
def totp_setup() -> ResponseReturnValue:
    """First login of an account that needs a second factor: scan the secret, prove it with a code.

    The new secret waits in the session cookie sealed with keys/totp-key (never in clear, so the
    cookie alone does not give it away) until the code confirms it.
    """
    found = _pending_staff()
    if found is None:
        return _restart("Your sign-in expired. Enter your username and password again.")
    pending, staff = found
    if staff.has_totp:
        return redirect(url_for("auth.login_code"))
    extension = get_components()
    key = extension.keyring.totp_key
    secret: str | None = None
    sealed = session.get(PENDING_ENROLMENT)
    if isinstance(sealed, str):
        try:
            secret = totp.open_secret(key, staff.id, b64u_decode(sealed))
        except (KeyFileError, ValueError):
            secret = None
    if secret is None:
        secret = totp.new_secret()
        session[PENDING_ENROLMENT] = b64u_encode(totp.seal_secret(key, staff.id, secret))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            staff = enrol_totp(
                get_session(),
                extension.log,
                key,
                staff_id=staff.id,
                secret=secret,
                code=form.code.data,
                now=current_time(),
            )
        except AuthenticationError as e:
            restart = _wrong_code(pending, e.detail)
            if restart is not None:
                return restart
            status = 401
        else:
            flash("Authenticator app enrolled: you will need a code from it each time you sign in.", "info")
            return _finish_login(staff, pending.get("next"))
    elif request.method == "POST":
        status = 400
    uri = totp.provisioning_uri(secret, staff.username)
    return render_template(
        "login_authenticator.html",
        form=form,
        secret_groups=[secret[i : i + 4] for i in range(0, len(secret), 4)],
        uri=uri,
        qr_svg=Markup(qr_svg(uri)),  # noqa: S704 - segno output: path data and our constant title
    ), status


def qr_svg(text: str) -> str:
    """An inline SVG QR code of ``text`` (no XML declaration, no script, no style attribute)."""
    return segno.make(text, error="m").svg_inline(
        scale=4, light="#fff", title="QR code of the authenticator secret"
    )


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Ends the session (POST with the CSRF token, so another site cannot log a user out)."""
    end_session()
    flash("Signed out.", "info")
    return redirect(url_for("web.index"))
