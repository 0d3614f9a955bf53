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
from escrow.services.logout import logout_settings, set_logout_settings
from escrow.services.oidc import create_client_secret, set_id_token_algorithm
from escrow.services.platforms import (
    NewApiKey,
    create_api_key,
    get_platform,
    page_api_keys,
    revoke_api_key,
    update_platform,
)
from escrow.services.webhooks import (
    NewWebhookSecret,
    page_deliveries,
    rotate_webhook_secret,
    set_webhook_url,
    webhook_settings,
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
    """The platform's settings: name, contact, redirect URIs, its OpenID Connect client and logout."""
    return _settings_page()


def _settings_page(**extra: object) -> str:
    session = get_session()
    platform_id = _platform_id()
    post_logout_uris, backchannel_uri = logout_settings(session, platform_id)
    return render_template(
        "platform/settings.html",
        platform=get_platform(session, platform_id),
        post_logout_redirect_uris=post_logout_uris,
        backchannel_logout_uri=backchannel_uri,
        **extra,
    )


def _allow_loopback() -> bool:
    # The server POSTs to these URLs: plain http only to loopback, and only in development and tests.
    settings = get_components().settings
    return settings.dev_mode or settings.testing


@bp.post("/logout")
@role_required(STAFF_ROLE_PLATFORM)
def save_logout() -> Response | str | tuple[str, int]:
    """RP-initiated logout's post-logout redirect URIs and the back-channel logout URI (issue 19)."""
    form = request.form
    try:
        set_logout_settings(
            get_session(),
            platform_id=_platform_id(),
            post_logout_redirect_uris=form.get("post_logout_redirect_uris", "").split(),
            backchannel_logout_uri=form.get("backchannel_logout_uri", "").strip() or None,
            allow_loopback=_allow_loopback(),
            log=get_components().log,
            now=current_time(),
        )
    except ValidationError as error:
        get_session().rollback()
        return _settings_page(logout_error=error.detail, logout_form=form), 422
    flash("Logout settings saved.", "info")
    return redirect(url_for("platform.settings"))


@bp.get("/webhooks")
@role_required(STAFF_ROLE_PLATFORM)
def webhooks() -> str:
    """Webhooks (Standard Webhooks, issue 19): the receiver URL, the secret and the delivery log."""
    return _webhooks_page(page=requested_page())


def _webhooks_page(
    *,
    page: int,
    new_secret: NewWebhookSecret | None = None,
    url_error: str | None = None,
    url: str | None = None,
) -> str:
    session = get_session()
    platform_id = _platform_id()
    return render_template(
        "platform/webhooks.html",
        platform=get_platform(session, platform_id),
        webhook=webhook_settings(session, platform_id),
        deliveries=page_deliveries(session, platform_id, page=page),
        new_secret=new_secret,
        url_error=url_error,
        entered_url=url,
    )


@bp.post("/webhooks/url")
@role_required(STAFF_ROLE_PLATFORM)
def save_webhook_url() -> Response | tuple[str, int]:
    url = request.form.get("url", "").strip()
    try:
        set_webhook_url(
            get_session(),
            platform_id=_platform_id(),
            url=url or None,
            allow_loopback=_allow_loopback(),
            log=get_components().log,
            now=current_time(),
        )
    except ValidationError as error:
        get_session().rollback()
        return _webhooks_page(page=1, url_error=error.detail, url=url), 422
    flash("Webhook URL saved." if url else "Webhooks turned off.", "info")
    return redirect(url_for("platform.webhooks"))


@bp.post("/webhooks/secret")
@role_required(STAFF_ROLE_PLATFORM)
def rotate_secret() -> str:
    """Makes the next webhook secret and shows it this once (the previous one signs for a day more)."""
    extension = get_components()
    new_secret = rotate_webhook_secret(
        get_session(),
        platform_id=_platform_id(),
        keyring=extension.keyring,
        log=extension.log,
        now=current_time(),
    )
    return _webhooks_page(page=1, new_secret=new_secret)


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
