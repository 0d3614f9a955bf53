"""What the JSON api/ and the HTML web/ share per request: components, the session, the clock, the
signed-in principal, and strict readers of request bodies. api/ and web/ never import each other;
both import this.

One SQLAlchemy session per request, created on first use and closed at teardown; closing rolls back
anything a service did not commit.

A signed-in person's pseudonym secret (issue 13) lives only here, in their Flask session, sealed with
an AEAD (escrow.crypto.session_box) under a key derived from ``app.secret_key`` and bound to their
account id: log_in_person() puts it there, pseudonym_secret() reads it back, logging out removes it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask import session as cookie_session
from flask_login import UserMixin, current_user, login_user, logout_user
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter
from werkzeug.serving import WSGIRequestHandler

from escrow.bootstrap import Components
from escrow.config import Settings
from escrow.crypto.errors import EncodingError, OpenFailedError
from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.session_box import derive_session_box_key, open_session_value, seal_session_value
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import NotFoundError, PermissionDeniedError, SignInAgainError, ValidationError
from escrow.services.registration import PersonAccount, SignedIn, get_account
from escrow.services.staff import StaffView, get_staff

COMPONENTS_KEY = "escrow"
# The ranges of the integer columns a path or body integer is compared with (issue 17 finding 3):
# ids are Integer (int4 on PostgreSQL), log sizes and indexes BigInteger (int8). A larger number
# cannot name a row, so it is a 404 (path) or 422 (body), never an OverflowError or a DataError.
MAX_ID = 2**31 - 1
MAX_BIGINT = 2**63 - 1
STAFF_ID_PREFIX = "staff:"
PERSON_ID_PREFIX = "person:"
# The Flask session entry holding the sealed pseudonym secret (base64url of nonce || ciphertext || tag).
PSEUDONYM_SECRET_SESSION_KEY = "escrow_pseudonym_secret"  # noqa: S105 - a session key name
_PSEUDONYM_SECRET_AAD = b"escrow/v2/session/pseudonym-secret\x00person:"


def get_components(app: Flask | None = None) -> Components:
    """Returns the components ``app`` (default: the current app) was built from."""
    components = (app or current_app).extensions[COMPONENTS_KEY]
    assert isinstance(components, Components)  # noqa: S101 - set only by create_app
    return components


def get_session() -> Session:
    """Returns this request's session, creating it on first use."""
    session = g.get("escrow_session")
    if session is None:
        session = get_components().session_factory()
        g.escrow_session = session
    assert isinstance(session, Session)  # noqa: S101
    return session


def close_session(_exc: BaseException | None = None) -> None:
    """Closes this request's session, if any; uncommitted work is rolled back."""
    session = g.pop("escrow_session", None)
    if session is not None:
        session.close()


@contextmanager
def one_transaction() -> Iterator[Session]:
    """Makes the rest of this request one database transaction: the request's session is replaced by one
    whose commits are SAVEPOINT releases inside an outer transaction, committed when the block ends
    without an error and rolled back when it raises. Yields that session (get_session() returns it).

    For what must commit together with the operation it wraps, such as an Idempotency-Key's claim
    and answer (escrow.api.idempotency): a worker killed at any point leaves all of it or none. What
    the request read before (the signed-in principal) stays loaded; its first session is closed.
    """
    close_session()
    bind = get_components().session_factory.kw["bind"]
    # A connection in the tests (already in their rolled-back transaction), an Engine otherwise.
    connection = bind.connect() if isinstance(bind, Engine) else bind
    session: Session | None = None
    try:
        outer = connection.begin_nested() if connection.in_transaction() else connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        g.escrow_session = session
        try:
            yield session
            session.commit()
        except BaseException:
            session.close()
            outer.rollback()
            raise
        session.close()
        outer.commit()
    finally:
        if session is not None and g.get("escrow_session") is session:
            g.pop("escrow_session")
        if connection is not bind:
            connection.close()


def public_base_url() -> str:
    """Returns the service's public base URL, from configuration only (ESCROW_ISSUER_URL), never
    from the request's Host header, which anyone can set (issue 17 finding 8: ``Host: evil.example``
    turned the commands on key-holder and officer pages into ``--server http://evil.example``)."""
    return get_components().settings.issuer_url.rstrip("/")


ORDER_DOCUMENT_CSP = "default-src 'none'; sandbox"


def order_attachment(content: bytes, request_id: int) -> Response:
    """Returns a stored court order as a download: an attachment, never rendered in our origin, with
    `nosniff` and a CSP that allows nothing, so an uploaded file posing as a PDF cannot run (issue 16)."""
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="order-{request_id}.pdf"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = ORDER_DOCUMENT_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def current_time() -> datetime:
    """Returns the time of the components' clock (the one clock every view passes to services)."""
    return get_components().clock()


def json_object(*, require_json_media_type: bool = True) -> dict[str, Any]:
    """Returns the JSON object in the request body. Raises ValidationError for any other JSON value.

    By default another media type is a 415 and broken JSON a 400 (Werkzeug's answers, problem JSON
    either way). The key-holder and officer endpoints (``require_json_media_type=False``) answer both
    with the same 422 as a body that is not an object: their clients sign the exact body bytes.
    """
    try:
        body = request.get_json(silent=not require_json_media_type)
    except RecursionError:
        # json.loads gives up on deep nesting with RecursionError, which Werkzeug does not catch.
        raise ValidationError("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    if _has_nul(body):
        raise ValidationError("the request body contains a NUL character")
    return body


def text_field(body: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    """Returns the text member ``name`` of a JSON object. Raises ValidationError if absent or not text."""
    value = body.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValidationError(f"field {name!r} must be {'text' if allow_empty else 'non-empty text'}")
    try:
        value.encode()
    except UnicodeEncodeError:
        # JSON may carry a lone surrogate ("\ud800"), which no UTF-8 column or canonical form can hold.
        raise ValidationError(f"field {name!r} is not valid Unicode text") from None
    return value


def int_field(body: dict[str, Any], name: str) -> int:
    """Returns the integer member ``name`` of a JSON object (not a boolean) within the 64-bit column
    range. Raises ValidationError."""
    value = body.get(name)
    if type(value) is not int or not -MAX_BIGINT - 1 <= value <= MAX_BIGINT:
        raise ValidationError(f"field {name!r} must be an integer")
    return value


class IdConverter(IntegerConverter):
    """The app's ``<int:...>`` path converter: a non-negative integer no larger than an id column
    holds (MAX_ID); anything else matches no route, so it is a 404 problem on every backend."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class BigIntConverter(IntegerConverter):
    """``<bigint:...>``: a non-negative integer within a BigInteger column (log sizes, indexes)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_BIGINT)
        super().__init__(map, *args, **kwargs)


NUL = "\x00"


def refuse_malformed_input() -> None:
    """Before every request (and before the CSRF check): refuses a NUL character anywhere in the
    path, the query or a form (names and values), and a form part without a field name. Raises
    ValidationError (422).

    PostgreSQL refuses NUL in text (a DataError, once a 500) while SQLite silently stores it (a court
    named "c\\0"); refusing it here gives one answer on both. A multipart part whose name Werkzeug
    parses as None crashed Flask-WTF's CSRF check on every protected POST (issue 17 finding 3).
    JSON bodies are checked by json_object().
    """
    if NUL in request.path:
        raise ValidationError("the request path contains a NUL character")
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            raise ValidationError("the query string contains a NUL character")
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return
    for name, value in request.form.items(multi=True):
        if not isinstance(name, str) or not name:
            raise ValidationError("a form field has no name")
        if NUL in name or NUL in value:
            raise ValidationError("a form field contains a NUL character")
    for name in request.files:
        if not isinstance(name, str) or not name or NUL in name:
            raise ValidationError("a form file has no valid name")


def _has_nul(value: Any) -> bool:
    # Iterative, so a body nested as deep as json.loads allows cannot exhaust the stack here.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


# Principals: who is signed in (Flask-Login). Session ids carry their kind: "staff:<id>" or
# "person:<id>", so a staff id can never load a person or the reverse.


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


class PersonUser(UserMixin):  # type: ignore[misc]
    """A logged-in person for Flask-Login: an account id and how they were verified, no identity."""

    is_person = True

    def __init__(self, account: PersonAccount) -> None:
        self.account = account

    def get_id(self) -> str:
        return f"{PERSON_ID_PREFIX}{self.account.id}"


def load_user(user_id: str) -> StaffPrincipal | PersonUser | None:
    """Flask-Login's user_loader: unknown kinds, malformed and stale ids load nobody."""
    if user_id.startswith(PERSON_ID_PREFIX):
        number = user_id.removeprefix(PERSON_ID_PREFIX)
        if not (number.isascii() and number.isdigit()):
            return None
        account = get_account(get_session(), int(number))
        return None if account is None else PersonUser(account)
    if user_id.startswith(STAFF_ID_PREFIX):
        try:
            return StaffPrincipal(get_staff(get_session(), int(user_id.removeprefix(STAFF_ID_PREFIX))))
        except (ValueError, NotFoundError):
            return None
    return None


def current_staff() -> StaffPrincipal | None:
    """Returns the logged-in member of staff, or None."""
    user = current_user._get_current_object()  # noqa: SLF001 - unwrap werkzeug's LocalProxy
    return user if isinstance(user, StaffPrincipal) else None


def current_person() -> PersonAccount:
    """Returns the logged-in person. Raises PermissionDeniedError for anyone else."""
    user = current_user._get_current_object()  # noqa: SLF001 - unwrap the LocalProxy
    if not isinstance(user, PersonUser):
        raise PermissionDeniedError("log in with your verified identity first")
    return user.account


# The pseudonym secret in the person's session (issue 13): sealed, bound to the account, never logged.


def log_in_person(signed_in: SignedIn) -> None:
    """Logs the person in (Flask-Login) and keeps their pseudonym secret, sealed, in their session.

    Every person sign-in (each identity provider's callback, the password form, registration) ends here.
    """
    login_user(PersonUser(signed_in.account))
    renew_session()
    g.pop(_BOX_DELETE, None)
    setattr(g, _BOX_NEW, secrets.token_bytes(BOX_SECRET_BYTES))  # a new sign-in, a new browser-held key
    seal_in_session(PSEUDONYM_SECRET_SESSION_KEY, bytes(signed_in.secret), _secret_aad(signed_in.account.id))


def forget_pseudonym_secret() -> None:
    """Removes the pseudonym secret from the session (logout, a staff login in the same browser)."""
    cookie_session.pop(PSEUDONYM_SECRET_SESSION_KEY, None)


def pseudonym_secret() -> PseudonymSecret:
    """Returns the signed-in person's pseudonym secret from their session.

    Raises PermissionDeniedError if no person is signed in, SignInAgainError if their session holds no
    secret (a session older than issue 13), or one that does not open for this account (tampered,
    or moved from another person's session).
    """
    person = current_person()
    plaintext = open_from_session(PSEUDONYM_SECRET_SESSION_KEY, _secret_aad(person.id))
    try:
        if plaintext is None:
            raise EncodingError("no secret")
        return PseudonymSecret.from_bytes(plaintext)
    except EncodingError:
        raise SignInAgainError("your session has expired; please sign in again") from None


# The session box's key (issue 17 with server-side sessions): derived from the application's secret key
# AND a 32-byte secret that only the browser keeps, in its own cookie (SESSION_BOX_COOKIE, HttpOnly,
# made at each person sign-in, deleted at sign-out). The session store holds only ciphertext: a copy of
# the store and of keys/ (a seized server's disk or Redis) opens no session's pseudonym secret or list of
# platforms; only a request from that browser brings the other half (docs/operations.md#sessions).
SESSION_BOX_COOKIE = "escrow_box"
BOX_SECRET_BYTES = 32
_BOX_NEW = "_escrow_box_new"
_BOX_DELETE = "_escrow_box_delete"


def _browser_box_secret() -> bytes | None:
    fresh = g.get(_BOX_NEW)
    if isinstance(fresh, bytes):
        return fresh
    raw = request.cookies.get(SESSION_BOX_COOKIE)
    if raw is None or g.get(_BOX_DELETE):
        return None
    try:
        value = b64u_decode(raw)
    except EncodingError:
        return None
    return value if len(value) == BOX_SECRET_BYTES else None


def _session_box_key(browser_secret: bytes) -> bytes:
    secret_key = current_app.secret_key
    if isinstance(secret_key, str):
        secret_key = secret_key.encode()
    assert isinstance(secret_key, bytes)  # noqa: S101 - create_app always sets it
    return derive_session_box_key(secret_key + browser_secret)


def seal_in_session(name: str, value: bytes, associated_data: bytes) -> None:
    """Keeps `value` in the session under `name`, sealed under the session box key (needs a browser
    secret: a person signed in during this request or earlier in this browser). Raises
    PermissionDeniedError if there is none."""
    browser = _browser_box_secret()
    if browser is None:
        raise PermissionDeniedError("sign in first")
    sealed = seal_session_value(_session_box_key(browser), value, associated_data=associated_data)
    cookie_session[name] = b64u_encode(sealed)


def open_from_session(name: str, associated_data: bytes) -> bytes | None:
    """Returns what seal_in_session kept under `name`, or None (absent, tampered, moved from another
    account, or this browser no longer holds its half of the key)."""
    value = cookie_session.get(name)
    browser = _browser_box_secret()
    if not isinstance(value, str) or browser is None:
        return None
    try:
        return open_session_value(
            _session_box_key(browser), b64u_decode(value), associated_data=associated_data
        )
    except (EncodingError, OpenFailedError):
        return None


def _write_box_cookie(response: Response) -> Response:
    if g.get(_BOX_DELETE):
        response.delete_cookie(SESSION_BOX_COOKIE, path="/")
    fresh = g.get(_BOX_NEW)
    if isinstance(fresh, bytes):
        response.set_cookie(
            SESSION_BOX_COOKIE,
            b64u_encode(fresh),
            httponly=True,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            samesite="Lax",
            path="/",
        )
    return response


def _secret_aad(person_id: int) -> bytes:
    return _PSEUDONYM_SECRET_AAD + str(person_id).encode()


# The query string is replaced in access logs: an identity provider's ``code`` and ``state`` arrive
# in /account/oidc/callback's query, and a log must not keep them (issue 17 finding 7).
REDACTED_QUERY = "?<redacted>"


def redact_query(target: str) -> str:
    """Returns a request target with its query string (if any) replaced by ``?<redacted>``."""
    path, has_query, _query = target.partition("?")
    return path + REDACTED_QUERY if has_query else path


class RedactedAccessLogHandler(WSGIRequestHandler):
    """Werkzeug's request handler (``escrow run``) whose access log line never shows a query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        target = getattr(self, "path", None)
        if not isinstance(target, str):  # a malformed request line: it may still quote a query
            self.requestline = redact_query(getattr(self, "requestline", "-"))
            super().log_request(code, size)
            return
        self.path = redact_query(target)
        try:
            super().log_request(code, size)
        finally:
            self.path = target


def bearer_challenge(realm: str, *, presented: bool) -> str:
    """Returns the WWW-Authenticate value of a 401 for a bearer-authenticated endpoint (RFC 6750
    section 3): ``error="invalid_token"`` when a token was presented, and no error code when the
    request carried none (section 3.1)."""
    challenge = f'Bearer realm="{realm}"'
    return challenge + ', error="invalid_token"' if presented else challenge


def bearer_token() -> str | None:
    """Returns the token of the request's ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def api_key_rate_limit_key() -> str:
    """Flask-Limiter key for the platform API (issue 17 finding 5): the API key presented, hashed (never
    kept), or the client address when there is none. Counted before the key is checked, so guessing
    keys from one address spends that address's budget."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return f"address:{request.remote_addr}"
    return "api-key:" + hashlib.sha256(token.strip().encode()).hexdigest()


# Server-side sessions (issue 17 finding 4): the cookie holds a random session id (Flask-Session); the
# session itself lives in Redis or in files, is renewed at every sign-in and destroyed at sign-out, so a
# cookie saved before logout opens nothing. Sealed values (the pseudonym secret, a TOTP enrolment) stay
# sealed in the store exactly as they were in the signed cookie.
SESSION_STARTED_KEY = "escrow_session_started"
SESSION_SEEN_KEY = "escrow_session_seen"
# The idle timeout counts from the last request to the minute: the session is rewritten once a minute.
SESSION_SEEN_RESOLUTION_S = 60
# Flask-WTF keeps the session's CSRF token under this name (and caches it in g).
_CSRF_FIELD = "csrf_token"
# File store: at most this many session files before cachelib prunes expired, then oldest ones.
SESSION_FILE_THRESHOLD = 10_000
_REDIS_TIMEOUT_S = 2


def init_server_sessions(app: Flask, settings: Settings) -> None:
    """Keeps sessions on the server (settings.session_store_uri) with the idle timeout as the store's
    expiry, and checks the idle timeout and the absolute lifetime on every request."""
    from cachelib.file import FileSystemCache
    from flask_session import Session as ServerSessions

    app.config.update(
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_idle_minutes),
        # Stored (and its cookie sent) only when it changed: the last-seen time moves once a minute at
        # most, so a signed-in request does not rewrite its session each time (issue 15's target).
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_KEY_PREFIX="escrow-session:",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
    )
    uri = settings.session_store_uri
    if uri.startswith("filesystem://"):
        directory = Path(uri.removeprefix("filesystem://") or settings.instance_path / "sessions")
        app.config.update(
            SESSION_TYPE="cachelib",
            SESSION_CACHELIB=FileSystemCache(str(directory), threshold=SESSION_FILE_THRESHOLD, mode=0o600),
        )
    else:
        import redis

        client = redis.Redis.from_url(
            uri, socket_connect_timeout=_REDIS_TIMEOUT_S, socket_timeout=_REDIS_TIMEOUT_S
        )
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=client)
    ServerSessions(app)
    app.before_request(_enforce_session_lifetime)
    app.after_request(_write_box_cookie)


def _enforce_session_lifetime() -> None:
    """Ends a signed-in session idle longer than the idle timeout or older than the absolute lifetime,
    by the components' clock (the store's expiry is the same idle timeout, by the wall clock)."""
    started = cookie_session.get(SESSION_STARTED_KEY)
    if not isinstance(started, int):
        return
    settings = get_components().settings
    now = int(current_time().timestamp())
    seen = cookie_session.get(SESSION_SEEN_KEY, started)
    idle = now - (seen if isinstance(seen, int) else started)
    if idle > settings.session_idle_minutes * 60 or now - started > settings.session_absolute_hours * 3600:
        end_session()
        return
    if not isinstance(seen, int) or now - seen >= SESSION_SEEN_RESOLUTION_S:
        cookie_session[SESSION_SEEN_KEY] = now


def renew_session() -> None:
    """At sign-in: a new session id (the old one, perhaps planted, is deleted from the store), a new
    CSRF token, and the start of the absolute lifetime."""
    cookie_session.pop(_CSRF_FIELD, None)
    g.pop(_CSRF_FIELD, None)
    now = int(current_time().timestamp())
    cookie_session[SESSION_STARTED_KEY] = now
    cookie_session[SESSION_SEEN_KEY] = now
    _new_session_id()


def end_session() -> None:
    """At sign-out (and when a session times out): logs out, deletes the stored session and moves
    to a new id, so a copy of the old cookie names nothing."""
    _new_session_id()
    logout_user()
    cookie_session.clear()
    g.pop(_CSRF_FIELD, None)
    g.pop(_BOX_NEW, None)
    setattr(g, _BOX_DELETE, True)


def _new_session_id() -> None:
    interface = current_app.session_interface
    if isinstance(interface, ServerSideSessionInterface) and isinstance(cookie_session, ServerSideSession):
        cookie_session.modified = True
        interface.regenerate(cookie_session)
