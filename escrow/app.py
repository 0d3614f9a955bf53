"""The application factory: the ONLY place that wires Flask, Flask-Login, blueprints, handlers."""

from __future__ import annotations

import logging
import secrets
import traceback
from http import HTTPStatus

from flask import Flask, Response, g, request
from flask.typing import ResponseReturnValue
from flask_limiter import HeaderNames, Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from limits.errors import StorageError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from escrow.api import problems
from escrow.api.admin import bp as admin_api_bp
from escrow.api.auth import bp as api_session_bp
from escrow.api.ceremony import admin_bp as ceremony_admin_api_bp
from escrow.api.ceremony import bp as ceremony_api_bp
from escrow.api.credentials import bp as credentials_api_bp
from escrow.api.credentials import jwks_bp
from escrow.api.credentials import platform_bp as platform_api_bp
from escrow.api.disclosures import bp as disclosures_api_bp
from escrow.api.disclosures import signed_bp as disclosures_signed_api_bp
from escrow.api.health import bp as health_bp
from escrow.api.metrics import init_metrics
from escrow.api.openapi import bp as openapi_bp
from escrow.api.transparency import bp as transparency_api_bp
from escrow.bootstrap import build_components
from escrow.config import Settings, check_production_origin, check_shared_rate_limits
from escrow.db import is_database_fault
from escrow.errors import (
    DatabaseUnavailableError,
    EscrowError,
    RateLimitStoreUnavailableError,
    ServiceUnavailableError,
    SignInAgainError,
)
from escrow.httpkit import (
    COMPONENTS_KEY,
    BigIntConverter,
    IdConverter,
    api_key_rate_limit_key,
    close_session,
    get_components,
    init_server_sessions,
    load_user,
    public_base_url,
    refuse_malformed_input,
)
from escrow.identity.devidp import DEV_LABEL
from escrow.web import bp as web_bp
from escrow.web import render_error_page, sign_in_again
from escrow.web.admin import bp as admin_bp
from escrow.web.assets import script_integrity
from escrow.web.auth import bp as auth_bp
from escrow.web.auth import pending_account_key
from escrow.web.disclosures import bp as disclosures_web_bp
from escrow.web.keyholders import bp as keyholders_web_bp
from escrow.web.officers import bp as officers_bp
from escrow.web.oidc import api_bp as oidc_api_bp
from escrow.web.oidc import bp as oidc_bp
from escrow.web.oidc import init_oidc_provider
from escrow.web.platform import bp as platform_bp
from escrow.web.users import bp as users_bp

# Court orders (issue 6) are at most 4 MiB (escrow.services.disclosure.MAX_ORDER_BYTES) plus form fields.
MAX_CONTENT_LENGTH = 5 * 1024 * 1024
REQUEST_ID_BYTES = 8
# A database that cannot be reached, is read-only or full is a 503 with this Retry-After, never a
# 500 (issue 17): the request changed nothing, and the next one gets a fresh connection.
DATABASE_RETRY_AFTER_S = 5

# Sent with every response; the pages use no inline script or style and no external assets.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_log = logging.getLogger("escrow.app")


def create_app(settings: Settings | None = None) -> Flask:
    """Returns a configured Flask app; ``None`` reads settings from the environment.

    Creates the Flask secret key in the keys directory on first start. Does not migrate the
    database (``escrow init`` / ``escrow run`` do). Raises ConfigError (or its KeyFileError) if
    settings or key files are malformed.
    """
    if settings is None:
        settings = Settings.from_env()
    logging.getLogger("escrow").setLevel(settings.log_level)
    check_production_origin(settings)
    check_shared_rate_limits(settings.ratelimit_storage_uri, settings.workers)

    components = build_components(settings)
    if not settings.testing:
        components.start_sequencing()
        components.start_witnessing()
    app = Flask("escrow", instance_path=str(settings.instance_path))
    app.config.update(
        SECRET_KEY=components.keyring.flask_secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    app.extensions[COMPONENTS_KEY] = components
    init_server_sessions(app, settings)  # issue 17 finding 4
    identity_providers = components.identity_providers
    # Registered before CSRFProtect, whose check would otherwise meet the malformed form first.
    app.before_request(refuse_malformed_input)
    csrf = CSRFProtect(app)
    # Key-holder endpoints authenticate by Ed25519 request signatures, never by cookie: no CSRF risk.
    csrf.exempt(ceremony_api_bp)
    csrf.exempt(platform_api_bp)
    # OIDC token and userinfo: client credentials or bearer tokens, never a cookie (issue 7).
    csrf.exempt(oidc_api_bp)
    # RP-Initiated Logout (issue 19): platforms may POST it; it only logs out, and without a valid
    # id_token_hint for this session it asks on a page whose form has a CSRF token.
    csrf.exempt("escrow.web.oidc.end_session")
    init_oidc_provider(app)
    # Officer and key-holder disclosure steps are Ed25519 signatures over the request digest (issue 6).
    csrf.exempt(disclosures_signed_api_bp)
    if identity_providers.mounts:  # DEVELOPMENT ONLY: the dev IdP (ESCROW_DEV_IDP=1)
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, dict(identity_providers.mounts))  # type: ignore[method-assign]
        _log.warning("dev_idp.mounted paths=%s note=%s", ",".join(identity_providers.mounts), DEV_LABEL)

    login_manager = LoginManager()
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"

    # Before any route is added: every <int:...> and <bigint:...> is bounded by its column (issue 17).
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["bigint"] = BigIntConverter
    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(api_session_bp)
    app.register_blueprint(transparency_api_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(ceremony_api_bp)
    app.register_blueprint(ceremony_admin_api_bp)
    app.register_blueprint(keyholders_web_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(credentials_api_bp)
    app.register_blueprint(platform_api_bp)
    app.register_blueprint(admin_api_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(officers_bp)
    app.register_blueprint(platform_bp)
    app.register_blueprint(jwks_bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(oidc_api_bp)
    app.register_blueprint(disclosures_api_bp)
    app.register_blueprint(disclosures_signed_api_bp)
    app.register_blueprint(disclosures_web_bp)
    _limit_requests(app, settings)
    # Templates name the server by configuration, never by the Host header (issue 17).
    app.jinja_env.globals["public_base_url"] = public_base_url
    app.jinja_env.globals["script_integrity"] = script_integrity(app.static_folder)
    init_metrics(app)
    app.before_request(_assign_request_id)
    app.after_request(_add_response_headers)
    app.teardown_appcontext(close_session)
    if components.sequences_in_requests:
        app.teardown_request(_sequence_after_request)
    app.register_error_handler(EscrowError, _handle_escrow_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(SQLAlchemyError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected_error)
    _log.info("app.created testing=%s", settings.testing)
    return app


# Every form that checks a password or a one-time code (staff and persons).
LOGIN_ENDPOINTS = ("auth.login", "auth.login_code", "auth.totp_setup", "users.login_password")
CODE_ENDPOINTS = ("auth.login_code", "auth.totp_setup")
TOTP_FAILURES_PER_ACCOUNT = "5 per 5 minutes"
# Issue 17 finding 5: the OIDC token endpoint (client credentials are checked there) is limited per address.
TOKEN_ENDPOINT = "oidc_api.token"  # noqa: S105 - an endpoint name
# A Redis that does not answer within this is down for the request: a 503 with this Retry-After.
RATELIMIT_STORE_TIMEOUT_S = 1
RATELIMIT_RETRY_AFTER_S = 5


def _limit_requests(app: Flask, settings: Settings) -> None:
    """Rate-limits login POSTs per client address, the platform API per API key and the OIDC token
    endpoint per address (Flask-Limiter; a 429 problem with Retry-After and X-RateLimit-* headers).

    Counts live in settings.ratelimit_storage_uri: memory:// for one process, Redis when several
    workers must share them (create_app refuses memory:// with several workers). A store that cannot
    be reached fails closed (issue 17 finding 5): 503 with Retry-After, logged once per outage, never a
    silent fall-back to per-process counts. Behind a reverse proxy, set up ProxyFix so the address is
    the client's.
    """
    options: dict[str, str | int] = {"wrap_exceptions": True}
    if not settings.ratelimit_storage_uri.startswith("memory://"):
        options |= {
            "socket_connect_timeout": RATELIMIT_STORE_TIMEOUT_S,
            "socket_timeout": RATELIMIT_STORE_TIMEOUT_S,
        }
    # Registered before the Limiter, so it runs after the Limiter's own after_request: Flask-Limiter
    # would put Retry-After (its window's reset) on every limited answer, overriding a 503's own.
    app.after_request(_retry_after_only_when_refused)
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        header_name_mapping={HeaderNames.RETRY_AFTER: _LIMITER_RETRY_AFTER},
        storage_uri=settings.ratelimit_storage_uri,
        storage_options=options,
        strategy="fixed-window",
        in_memory_fallback_enabled=False,
        swallow_errors=False,
        headers_enabled=True,
    )
    per_address = limiter.limit(settings.login_rate_limit, methods=["POST"])
    # Wrong codes per ACCOUNT, whatever the address: someone who has the password cannot spread a
    # guessing run over many addresses or fresh password steps.
    per_account = limiter.limit(
        TOTP_FAILURES_PER_ACCOUNT,
        key_func=pending_account_key,
        methods=["POST"],
        deduct_when=lambda response: response.status_code == HTTPStatus.UNAUTHORIZED,
    )
    for endpoint in LOGIN_ENDPOINTS:
        view = per_address(app.view_functions[endpoint])
        if endpoint in CODE_ENDPOINTS:
            view = per_account(view)
        # The wrapper is what checks a decorated limit, so it replaces the view for this app only.
        app.view_functions[endpoint] = view  # type: ignore[assignment]
    token_view = limiter.limit(settings.token_rate_limit)(app.view_functions[TOKEN_ENDPOINT])
    app.view_functions[TOKEN_ENDPOINT] = token_view  # type: ignore[assignment]
    limiter.limit(settings.platform_rate_limit, key_func=api_key_rate_limit_key)(platform_api_bp)
    outage = _StoreOutage()
    app.register_error_handler(StorageError, outage.refuse)
    app.after_request(outage.note_recovery)


_LIMITER_RETRY_AFTER = "X-Escrow-Limiter-Retry-After"


def _retry_after_only_when_refused(response: Response) -> Response:
    seconds = response.headers.pop(_LIMITER_RETRY_AFTER, None)
    if seconds is not None and response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        response.headers["Retry-After"] = seconds
    return response


class _StoreOutage:
    """Logs the rate-limit store's outage once when it starts and once when it ends, not per request."""

    def __init__(self) -> None:
        self.is_down = False

    def refuse(self, error: StorageError) -> ResponseReturnValue:
        if not self.is_down:
            self.is_down = True
            _log.error(
                "ratelimit.store_unavailable error=%s note=rate-limited requests get 503 until it is back",
                type(error.storage_error).__name__,
            )
        unavailable = RateLimitStoreUnavailableError(
            "rate limits cannot be checked right now; try again shortly",
            retry_after_s=RATELIMIT_RETRY_AFTER_S,
        )
        return _handle_escrow_error(unavailable)

    def note_recovery(self, response: Response) -> Response:
        if self.is_down and "X-RateLimit-Limit" in response.headers:  # a limit was checked again
            self.is_down = False
            _log.warning("ratelimit.store_recovered")
        return response


def _assign_request_id() -> None:
    g.request_id = secrets.token_hex(REQUEST_ID_BYTES)


def _request_id() -> str:
    request_id = g.get("request_id")
    if not isinstance(request_id, str):  # errors raised before before_request ran
        request_id = secrets.token_hex(REQUEST_ID_BYTES)
        g.request_id = request_id
    return request_id


def _add_response_headers(response: Response) -> Response:
    response.headers["X-Request-Id"] = _request_id()
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Nothing is stored by a browser or a proxy unless the view says it may be (issue 17 finding 9):
    # credentials, API keys, client secrets, invitation codes, authenticator keys and revealed
    # identities are in responses that no one should find in a cache. The public, cacheable
    # answers (JWKS, checkpoints, OIDC discovery, static files) set their own Cache-Control.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _handle_escrow_error(error: EscrowError) -> ResponseReturnValue:
    status = problems.status_for(error)
    # Event name, class and id only: messages may one day contain identity (STYLE.md section 6).
    _log.info(
        "request.domain_error request_id=%s error=%s status=%d",
        _request_id(),
        type(error).__name__,
        status,
    )
    if status == 500:
        return _handle_unexpected_error(error)
    if problems.wants_problem_json(request):
        return problems.problem_for_escrow_error(error, request_id=_request_id())
    if isinstance(error, SignInAgainError):  # a page: back to sign-in rather than a bare 401 (issue 13)
        return sign_in_again()
    # The detail says what to fix (e.g. which field of the disclosure form); it is client-safe, as in
    # problem_for_escrow_error, and a form refused without it left the officer guessing (issue 8).
    detail = error.detail if error.detail != error.title else None
    retry_after_s = error.retry_after_s if isinstance(error, ServiceUnavailableError) else None
    page, status = render_error_page(status, error.title, detail, retry_after_s=retry_after_s)
    return page, status, problems.headers_for(error)


def _handle_database_error(error: SQLAlchemyError) -> ResponseReturnValue:
    if not is_database_fault(error):
        return _handle_unexpected_error(error)
    # The class only: a driver's message can name the host, the user and the statement.
    _log.warning("request.database_unavailable request_id=%s error=%s", _request_id(), type(error).__name__)
    unavailable = DatabaseUnavailableError(
        "the database cannot take requests right now; try again shortly",
        retry_after_s=DATABASE_RETRY_AFTER_S,
    )
    return _handle_escrow_error(unavailable)


def _handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    # Flask answers routing redirects itself; only 4xx/5xx reach this handler.
    if problems.wants_problem_json(request):
        return problems.problem_for_http_exception(error)
    return render_error_page(error.code or 500, error.name)


def _handle_unexpected_error(error: Exception) -> Response | tuple[str, int]:
    # The one `except Exception` of the app (STYLE.md section 4). Log the class and where it was
    # raised, never str(error) or the traceback text, which quote data.
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}:{frames[-1].name}" if frames else "?"
    _log.error(
        "request.unhandled_error request_id=%s error=%s where=%s",
        _request_id(),
        type(error).__name__,
        where,
    )
    if problems.wants_problem_json(request):
        return problems.problem_for_unexpected_error(request_id=_request_id())
    return render_error_page(500, "Internal Server Error")


def _sequence_after_request(error: BaseException | None) -> None:
    """SQLite (Components.sequences_in_requests): integrates what this request queued, after its commit
    and in its own transaction; an idle check is one read. A failure is logged, never the answer's."""
    if error is not None:
        return
    try:
        get_components().sequence_now()
    except Exception:  # the events stay queued for the next request; the change itself committed
        logging.getLogger("escrow.app").exception("sequencing after the request failed")
