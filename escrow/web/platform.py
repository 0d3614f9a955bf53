"""The platform portal (issue 8): a platform's own staff manage only their platform.

Every page takes the platform from the signed-in `platform` login (StaffView.platform_id), never from
the URL, so no request can name another platform; another platform's API key prefix or credential id
is simply not found (404). Each change goes through the same service function as the admin pages and
is logged the same way.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response

from escrow.errors import PermissionDeniedError, ValidationError
from escrow.httpkit import current_staff, current_time, get_components, get_session
from escrow.models import STAFF_ROLE_PLATFORM
from escrow.services.credentials import MAX_STATUS_QUERY, credential_statuses, revoke_as_platform
from escrow.services.oidc import create_client_secret, set_id_token_algorithm
from escrow.services.platforms import (
    NewApiKey,
    create_api_key,
    get_platform,
    page_api_keys,
    revoke_api_key,
    update_platform,
)
from escrow.web.auth import role_required
from escrow.web.oidc import DISCOVERY_PATH
from escrow.web.pagination import requested_page

bp = Blueprint("platform", __name__, url_prefix="/platform")
JWKS_PATH = "/.well-known/jwks.json"
VERIFY_PATH = "/api/v1/credentials/verify"


def _platform_id() -> str:
    # role_required ran first, and the platform_binding check constraint binds every platform login;
    # refuse anyway rather than act on no platform.
    staff = current_staff()
    platform_id = staff.staff.platform_id if staff is not None else None
    if platform_id is None:
        raise PermissionDeniedError("this login is not bound to a platform")
    return platform_id


@bp.get("/")
@role_required(STAFF_ROLE_PLATFORM)
def settings() -> str:
    """The platform's settings: name, contact, redirect URIs, and its OpenID Connect client."""
    return render_template("platform/settings.html", platform=get_platform(get_session(), _platform_id()))


@bp.post("/settings")
@role_required(STAFF_ROLE_PLATFORM)
def save_settings() -> Response:
    form = request.form
    update_platform(
        get_session(),
        platform_id=_platform_id(),
        name=form.get("name", ""),
        contact=form.get("contact", ""),
        redirect_uris=form.get("redirect_uris", "").split(),
        log=get_components().log,
        now=current_time(),
    )
    flash("Settings saved.", "info")
    return redirect(url_for("platform.settings"))


@bp.post("/oidc/client-secret")
@role_required(STAFF_ROLE_PLATFORM)
def add_client_secret() -> str:
    """Gives the platform a new OIDC client secret and shows it this once."""
    platform_id = _platform_id()
    new_secret = create_client_secret(
        get_session(), platform_id=platform_id, log=get_components().log, now=current_time()
    )
    return render_template(
        "platform/settings.html", platform=get_platform(get_session(), platform_id), new_secret=new_secret
    )


@bp.post("/oidc/id-token-alg")
@role_required(STAFF_ROLE_PLATFORM)
def set_id_token_alg() -> Response:
    extension = get_components()
    set_id_token_algorithm(
        get_session(),
        platform_id=_platform_id(),
        alg=request.form.get("alg", ""),
        keyring=extension.keyring,
        log=extension.log,
        now=current_time(),
    )
    flash("ID token algorithm set.", "info")
    return redirect(url_for("platform.settings"))


@bp.get("/api-keys")
@role_required(STAFF_ROLE_PLATFORM)
def api_keys() -> str:
    return _api_keys_page(page=requested_page())


@bp.post("/api-keys")
@role_required(STAFF_ROLE_PLATFORM)
def add_api_key() -> str:
    """Creates an API key and shows it this once."""
    new_key = create_api_key(
        get_session(), platform_id=_platform_id(), log=get_components().log, now=current_time()
    )
    return _api_keys_page(page=1, new_key=new_key)


@bp.post("/api-keys/<prefix>/revoke")
@role_required(STAFF_ROLE_PLATFORM)
def revoke_key(prefix: str) -> Response:
    revoke_api_key(
        get_session(), platform_id=_platform_id(), prefix=prefix, log=get_components().log, now=current_time()
    )
    flash(f"API key {prefix} revoked.", "info")
    return redirect(url_for("platform.api_keys"))


def _api_keys_page(*, page: int, new_key: NewApiKey | None = None) -> str:
    session = get_session()
    platform_id = _platform_id()
    return render_template(
        "platform/api_keys.html",
        platform=get_platform(session, platform_id),
        api_keys=page_api_keys(session, platform_id, page=page),
        new_key=new_key,
    )


@bp.route("/credentials", methods=["GET", "POST"])
@role_required(STAFF_ROLE_PLATFORM)
def credentials() -> str:
    """Status of the platform's credentials by id (POST: ids stay out of URLs and access logs)."""
    statuses = None
    if request.method == "POST":
        ids = request.form.get("credential_ids", "").split()
        if not ids:
            raise ValidationError("give at least one credential id")
        statuses = credential_statuses(
            get_session(),
            platform=get_platform(get_session(), _platform_id()),
            credential_ids=ids,
            now=current_time(),
        )
    return render_template("platform/credentials.html", statuses=statuses, max_ids=MAX_STATUS_QUERY)


@bp.post("/credentials/revoke")
@role_required(STAFF_ROLE_PLATFORM)
def revoke_credential() -> Response:
    """Revokes one of the platform's credentials (abuse); another platform's id is not found."""
    info = revoke_as_platform(
        get_session(),
        platform=get_platform(get_session(), _platform_id()),
        credential_id=request.form.get("credential_id", ""),
        log=get_components().log,
        now=current_time(),
    )
    flash(f"Credential {info.credential_id} revoked.", "info")
    return redirect(url_for("platform.credentials"))


@bp.get("/integration")
@role_required(STAFF_ROLE_PLATFORM)
def integration() -> str:
    """Integration help: the URLs, the client id and code to verify a credential."""
    issuer = get_components().settings.issuer_url.rstrip("/")
    return render_template(
        "platform/integration.html",
        platform=get_platform(get_session(), _platform_id()),
        issuer=issuer,
        jwks_url=issuer + JWKS_PATH,
        discovery_url=issuer + DISCOVERY_PATH,
        verify_url=issuer + VERIFY_PATH,
    )
