"""Admin pages: platforms, their API keys and staff logins, verification officers, and revoking any
credential."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response

from escrow.errors import ValidationError
from escrow.httpkit import current_time, get_components, get_session
from escrow.models import STAFF_ROLE_PLATFORM
from escrow.services.credentials import revoke_as_admin
from escrow.services.oidc import NewClientSecret, create_client_secret, set_id_token_algorithm
from escrow.services.platforms import (
    NewApiKey,
    create_api_key,
    get_platform,
    list_platform_logins,
    page_api_keys,
    page_platforms,
    register_platform,
    revoke_api_key,
)
from escrow.services.staff import create_staff, page_staff
from escrow.web.auth import role_required
from escrow.web.pagination import requested_page

bp = Blueprint("admin", __name__, url_prefix="/admin")
OFFICER_ROLE = "verification_officer"
PLATFORM_ROLE = STAFF_ROLE_PLATFORM


@bp.get("/platforms")
@role_required("admin")
def platforms() -> str:
    return render_template(
        "admin/platforms.html", platforms=page_platforms(get_session(), page=requested_page())
    )


@bp.post("/platforms")
@role_required("admin")
def add_platform() -> Response:
    form = request.form
    platform = register_platform(
        get_session(),
        platform_id=form.get("platform_id", ""),
        name=form.get("name", ""),
        contact=form.get("contact", ""),
        redirect_uris=form.get("redirect_uris", "").split(),
        credential_lifetime_s=_int(form.get("credential_lifetime_days", "30"), "lifetime") * 86400,
        pseudonyms_per_person=_int(form.get("pseudonyms_per_person", "1"), "pseudonyms per person"),
        log=get_components().log,
        now=current_time(),
    )
    return redirect(url_for("admin.platform", platform_id=platform.id))


@bp.get("/platforms/<platform_id>")
@role_required("admin")
def platform(platform_id: str) -> str:
    return _platform_page(platform_id, page=requested_page())


def _platform_page(
    platform_id: str,
    *,
    page: int = 1,
    new_key: NewApiKey | None = None,
    new_secret: NewClientSecret | None = None,
) -> str:
    session = get_session()
    return render_template(
        "admin/platform.html",
        platform=get_platform(session, platform_id),
        api_keys=page_api_keys(session, platform_id, page=page),
        logins=list_platform_logins(session, platform_id),
        new_key=new_key,
        new_secret=new_secret,
    )


@bp.post("/platforms/<platform_id>/api-keys")
@role_required("admin")
def add_api_key(platform_id: str) -> str:
    """Creates an API key and shows it this once."""
    new_key = create_api_key(
        get_session(), platform_id=platform_id, log=get_components().log, now=current_time()
    )
    return _platform_page(platform_id, new_key=new_key)


@bp.post("/platforms/<platform_id>/oidc/client-secret")
@role_required("admin")
def add_client_secret(platform_id: str) -> str:
    """Gives the platform a new OIDC client secret and shows it this once (issue 7)."""
    new_secret = create_client_secret(
        get_session(), platform_id=platform_id, log=get_components().log, now=current_time()
    )
    return _platform_page(platform_id, new_secret=new_secret)


@bp.post("/platforms/<platform_id>/oidc/id-token-alg")
@role_required("admin")
def set_id_token_alg(platform_id: str) -> Response:
    set_id_token_algorithm(
        get_session(),
        platform_id=platform_id,
        alg=request.form.get("alg", ""),
        keyring=get_components().keyring,
        log=get_components().log,
        now=current_time(),
    )
    return redirect(url_for("admin.platform", platform_id=platform_id))


@bp.post("/platforms/<platform_id>/api-keys/<prefix>/revoke")
@role_required("admin")
def revoke_key(platform_id: str, prefix: str) -> Response:
    revoke_api_key(
        get_session(), platform_id=platform_id, prefix=prefix, log=get_components().log, now=current_time()
    )
    return redirect(url_for("admin.platform", platform_id=platform_id))


@bp.get("/officers")
@role_required("admin")
def officers() -> str:
    staff = page_staff(get_session(), role=OFFICER_ROLE, page=requested_page())
    return render_template("admin/officers.html", officers=staff)


@bp.post("/officers")
@role_required("admin")
def add_officer() -> Response:
    extension = get_components()
    form = request.form
    create_staff(
        get_session(),
        extension.password_hasher,
        extension.log,
        username=form.get("username", ""),
        display_name=form.get("display_name", ""),
        organisation=form.get("organisation", ""),
        roles=[OFFICER_ROLE],
        password=form.get("password", ""),
        now=current_time(),
    )
    return redirect(url_for("admin.officers"))


@bp.post("/platforms/<platform_id>/logins")
@role_required("admin")
def add_platform_login(platform_id: str) -> Response:
    """Creates a login for the platform's own staff (issue 8): it manages only this platform."""
    extension = get_components()
    form = request.form
    create_staff(
        get_session(),
        extension.password_hasher,
        extension.log,
        username=form.get("username", ""),
        display_name=form.get("display_name", ""),
        organisation=form.get("organisation", ""),
        roles=[PLATFORM_ROLE],
        password=form.get("password", ""),
        platform_id=platform_id,
        now=current_time(),
    )
    return redirect(url_for("admin.platform", platform_id=platform_id))


@bp.post("/credentials/revoke")
@role_required("admin")
def revoke_credential() -> Response:
    """Revokes any credential by id (abuse reported through another channel)."""
    revoke_as_admin(
        get_session(),
        credential_id=request.form.get("credential_id", ""),
        log=get_components().log,
        now=current_time(),
    )
    return redirect(url_for("admin.platforms"))


def _int(value: str, field: str) -> int:
    if not (value.strip().isascii() and value.strip().isdigit()) or len(value.strip()) > 6:
        raise ValidationError(f"{field} must be a whole number")
    return int(value)
