"""Admin pages: platforms, their API keys, verification officers, and revoking any credential."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response

from escrow.errors import ValidationError
from escrow.services.credentials import revoke_as_admin
from escrow.services.oidc import create_client_secret, set_id_token_algorithm
from escrow.services.platforms import (
    create_api_key,
    get_platform,
    list_api_keys,
    list_platforms,
    register_platform,
    revoke_api_key,
)
from escrow.services.staff import create_staff, list_staff
from escrow.web.auth import role_required
from escrow.web.session import get_extension, get_session

bp = Blueprint("admin", __name__, url_prefix="/admin")
OFFICER_ROLE = "verification_officer"


@bp.get("/platforms")
@role_required("admin")
def platforms() -> str:
    return render_template("admin/platforms.html", platforms=list_platforms(get_session()))


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
        log=get_extension().log,
        now=datetime.now(UTC),
    )
    return redirect(url_for("admin.platform", platform_id=platform.id))


@bp.get("/platforms/<platform_id>")
@role_required("admin")
def platform(platform_id: str) -> str:
    session = get_session()
    return render_template(
        "admin/platform.html",
        platform=get_platform(session, platform_id),
        api_keys=list_api_keys(session, platform_id),
        new_key=None,
        new_secret=None,
    )


@bp.post("/platforms/<platform_id>/api-keys")
@role_required("admin")
def add_api_key(platform_id: str) -> str:
    """Creates an API key and shows it this once."""
    session = get_session()
    new_key = create_api_key(session, platform_id=platform_id, log=get_extension().log, now=datetime.now(UTC))
    return render_template(
        "admin/platform.html",
        platform=get_platform(session, platform_id),
        api_keys=list_api_keys(session, platform_id),
        new_key=new_key,
        new_secret=None,
    )


@bp.post("/platforms/<platform_id>/oidc/client-secret")
@role_required("admin")
def add_client_secret(platform_id: str) -> str:
    """Gives the platform a new OIDC client secret and shows it this once (issue 7)."""
    session = get_session()
    new_secret = create_client_secret(
        session, platform_id=platform_id, log=get_extension().log, now=datetime.now(UTC)
    )
    return render_template(
        "admin/platform.html",
        platform=get_platform(session, platform_id),
        api_keys=list_api_keys(session, platform_id),
        new_key=None,
        new_secret=new_secret,
    )


@bp.post("/platforms/<platform_id>/oidc/id-token-alg")
@role_required("admin")
def set_id_token_alg(platform_id: str) -> Response:
    set_id_token_algorithm(
        get_session(),
        platform_id=platform_id,
        alg=request.form.get("alg", ""),
        keyring=get_extension().keyring,
        log=get_extension().log,
        now=datetime.now(UTC),
    )
    return redirect(url_for("admin.platform", platform_id=platform_id))


@bp.post("/platforms/<platform_id>/api-keys/<prefix>/revoke")
@role_required("admin")
def revoke_key(platform_id: str, prefix: str) -> Response:
    revoke_api_key(
        get_session(), platform_id=platform_id, prefix=prefix, log=get_extension().log, now=datetime.now(UTC)
    )
    return redirect(url_for("admin.platform", platform_id=platform_id))


@bp.get("/officers")
@role_required("admin")
def officers() -> str:
    staff = [s for s in list_staff(get_session()) if OFFICER_ROLE in s.roles]
    return render_template("admin/officers.html", officers=staff)


@bp.post("/officers")
@role_required("admin")
def add_officer() -> Response:
    extension = get_extension()
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
        now=datetime.now(UTC),
    )
    return redirect(url_for("admin.officers"))


@bp.post("/credentials/revoke")
@role_required("admin")
def revoke_credential() -> Response:
    """Revokes any credential by id (abuse reported through another channel)."""
    revoke_as_admin(
        get_session(),
        credential_id=request.form.get("credential_id", ""),
        log=get_extension().log,
        now=datetime.now(UTC),
    )
    return redirect(url_for("admin.platforms"))


def _int(value: str, field: str) -> int:
    if not value.strip().isdigit() or len(value.strip()) > 6:
        raise ValidationError(f"{field} must be a whole number")
    return int(value)
