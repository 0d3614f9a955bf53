"""Sign in with escrow (issue 7): the OpenID Connect provider, built on Authlib's Flask server.

Authlib validates requests, authenticates clients, checks PKCE and nonces and formats every
OAuth error; the classes below only adapt it to escrow's services (escrow/services/oidc.py).
Routes: the authorization endpoint with its consent screen (HTML, /oidc/authorize), the person's
page to withdraw consents (/account/connections), and the JSON endpoints: discovery (and RFC 8414
metadata), token (codes and rotated refresh tokens), userinfo, RFC 7009 revocation and RFC 7662
introspection, with CORS for the platforms' registered origins (issue 19).

``auth_time`` is sent and stored only when the platform asks (``max_age``, ``prompt=login``), and
then comes from a sign-in made for that request: the person's escrow sign-in time would be the same
for every platform, a join key (issue 19, docs/platforms.md#auth_time).

Errors follow RFC 6749 section 4.1.2.1: an unknown client or a redirect URI that does not match
exactly is shown to the person on an HTML page and never redirected; every other error goes back
to the platform's redirect URI as ``error=``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from authlib.oidc.core.util import create_half_hash
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as WerkzeugResponse
from wtforms import SubmitField

from escrow.errors import SignInAgainError, ValidationError
from escrow.httpkit import (
    PersonUser,
    bearer_challenge,
    current_person,
    current_time,
    get_components,
    get_session,
    pseudonym_secret,
)
from escrow.services import logout as logout_service
from escrow.services import oidc as service
from escrow.services.registration import PersonAccount
from escrow.web import render_error_page
from escrow.web.logout import end_escrow_session, record_signed_in, session_sid, signed_in_platforms
from escrow.web.users import AUTH_TIME_KEY, LOGIN_ID_KEY, NEXT_KEY

SCOPE: str = "openid"
SERVER_EXTENSION = "escrow_oidc_server"
AUTHORIZE_PATH = "/oidc/authorize"
TOKEN_PATH = "/api/v1/oidc/token"  # noqa: S105 - a URL path
USERINFO_PATH = "/api/v1/oidc/userinfo"
REVOCATION_PATH = "/api/v1/oidc/revoke"
INTROSPECTION_PATH = "/api/v1/oidc/introspect"
DISCOVERY_PATH = "/.well-known/openid-configuration"
END_SESSION_PATH = "/oidc/logout"  # RP-Initiated Logout 1.0 (issue 19)
# After the confirmation page: the validated post-logout redirect, kept server-side of the form.
_LOGOUT_REDIRECT_KEY = "escrow_oidc_logout_redirect"
OAUTH_METADATA_PATH = "/.well-known/oauth-authorization-server"  # RFC 8414
# Introspection answers what a token is worth: only confidential clients, and only for their own.
INTROSPECTION_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# The endpoints a public client's browser code calls (CORS for its registered origins, issue 19).
_CORS_PATHS = frozenset({TOKEN_PATH, USERINFO_PATH, REVOCATION_PATH})
_CORS_MAX_AGE_S = 600
USERINFO_REALM = "escrow"
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
GRANT_TYPES = ("authorization_code", "refresh_token")
# Issue 19: an authorization request waiting for a sign-in made for it: {"request": digest of its
# query string, "login": the login id when it asked}.
FRESH_LOGIN_KEY = "escrow_oidc_fresh_login"

bp = Blueprint("oidc", __name__)
# Token and userinfo are called by platforms with client credentials or a bearer token, never with
# a person's cookie: app.py exempts this blueprint from CSRF.
api_bp = Blueprint("oidc_api", __name__)


# --- Authlib adapters ----------------------------------------------------------------------------


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: service.OidcClient) -> None:
        self.info = client
        self.client_id = client.platform_id
        self.client_metadata: dict[str, Any] = {}
        self.id_token_signed_response_alg = client.id_token_alg
        self.token_endpoint_auth_method = "none" if client.is_public else "client_secret_basic"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OIDC Core 3.1.2.1: redirect_uri is required; a missing one is an HTML error

    def get_allowed_scope(self, scope: str) -> str | None:
        # An OpenID provider only: a request without "openid" is invalid_scope (sent back).
        return SCOPE if scope and SCOPE in scope.split() else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.info.redirect_uris  # exact match (RFC 9700 section 4.1.3)

    def check_client_secret(self, client_secret: str) -> bool:
        return service.check_client_secret(
            get_session(), platform_id=self.client_id, client_secret=client_secret
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.info.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        # A refresh token comes with every code exchange (issue 19): rotated, single use.
        return grant_type in GRANT_TYPES


@dataclass(frozen=True, slots=True)
class _Subject:
    """The "user" Authlib carries from a code or refresh token to its tokens: what they grant (the
    pseudonym's credential), never the person. ``code`` is set on the code exchange (the ID token)."""

    tokens: service.TokenGrant
    code: service.CodeGrant | None = None


@dataclass(frozen=True, slots=True)
class _UsedRefreshToken:
    """A refresh token already used up by use_refresh_token (what Authlib validates and rotates)."""

    grant: service.TokenGrant

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.grant.platform_id

    def get_scope(self) -> str:
        return self.grant.scope


class _Code(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, grant: service.CodeGrant) -> None:
        self.grant = grant
        self.code_challenge = grant.code_challenge
        self.code_challenge_method = grant.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.grant.redirect_uri

    def get_scope(self) -> str:
        return self.grant.scope

    def get_nonce(self) -> str | None:
        return self.grant.nonce

    def get_auth_time(self) -> int | None:
        # None: Authlib leaves auth_time out of the ID token (issue 19).
        return None if self.grant.auth_time is None else int(self.grant.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.grant.acr

    def get_amr(self) -> None:
        return None


class _AccessToken(TokenMixin):  # type: ignore[misc]
    def __init__(self, info: service.AccessTokenInfo, client: _Client) -> None:
        self.info = info
        self.client = client
        self.scope = info.scope

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.info.platform_id

    def get_scope(self) -> str:
        return self.info.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.info.expires_at - current_time()).total_seconds()))

    def is_expired(self) -> bool:
        return self.info.expires_at <= current_time()

    def is_revoked(self) -> bool:
        return self.info.is_revoked

    def get_user(self) -> service.AccessTokenInfo:
        return self.info

    def get_client(self) -> _Client:
        return self.client


class _S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) with S256 only: required for public clients, allowed for confidential ones."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's class attribute
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        payload = grant.request.payload.data
        if payload.get("code_challenge") and payload.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256", redirect_uri=redirect_uri)
        if grant.request.client.info.is_public and not payload.get("code_challenge"):
            raise InvalidRequestError("public clients must use PKCE (S256)", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS  # noqa: RUF012
    # Set by the authorization view: a sign-in made for this request, or None (issue 19).
    auth_time: datetime | None = None

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        person: PersonAccount = request.user
        extension = get_components()
        now = current_time()
        payload = request.payload.data
        platform_id = request.client.client_id
        sid = session_sid(platform_id)  # this session's sid for this platform only (issue 19)
        sub = service.create_authorization_code(
            get_session(),
            sid=sid,
            code=code,
            person_id=person.id,
            platform_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=payload.get("nonce"),
            code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method"),
            auth_time=self.auth_time,
            secret=pseudonym_secret(),
            keyring=extension.keyring,
            issuer=extension.settings.issuer_url,
            log=extension.log,
            now=now,
        )
        record_signed_in(platform_id, sid=sid, sub=sub)

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        grant = service.find_code(get_session(), code=code, platform_id=client.client_id, now=current_time())
        return None if grant is None else _Code(grant)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Kept (marked used by authenticate_user) so that a reused code can be recognised."""

    def authenticate_user(self, authorization_code: _Code) -> _Subject | None:
        grant = authorization_code.grant
        if not service.redeem_code(get_session(), code_hash=grant.code_hash, now=current_time()):
            return None
        return _Subject(service.token_grant_of(grant), grant)


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """RFC 6749 section 6 with rotation (RFC 9700 section 4.14.2): every refresh returns a new
    refresh token and uses up the old one; a used one presented again revokes its whole family."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS  # noqa: RUF012
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> _UsedRefreshToken | None:
        # Authlib authenticated the client first: only its own token is looked at and used up.
        grant = service.use_refresh_token(
            get_session(),
            refresh_token=refresh_token,
            platform_id=self.request.client.client_id,
            now=current_time(),
        )
        return None if grant is None else _UsedRefreshToken(grant)

    def authenticate_user(self, refresh_token: _UsedRefreshToken) -> _Subject:
        return _Subject(refresh_token.grant)

    def revoke_old_credential(self, refresh_token: _UsedRefreshToken) -> None:
        """Nothing left to do: authenticate_refresh_token used it up atomically."""


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return service.is_nonce_used(get_session(), platform_id=request.payload.client_id, nonce=nonce)

    def generate_user_info(self, user: _Subject, scope: str) -> UserInfo:
        assert user.code is not None  # noqa: S101 - ID tokens come from the code exchange only
        return UserInfo(service.id_token_claims(user.code))

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        now = int(current_time().timestamp())
        return {
            "iss": get_components().settings.issuer_url,
            "aud": client.client_id,
            "iat": now,
            "exp": now + service.ID_TOKEN_TTL_S,
        }

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        # Authlib assembles the claims; escrow signs them: EdDSA with the credential key (joserfc
        # warns on EdDSA, RFC 9864) or RS256 with the key under keys/.
        alg = request.client.id_token_signed_response_alg
        claims = self.get_compatible_claims(request)
        # Authlib defaults auth_time to the token request's time: a claim the platform did not ask
        # for, and false. It comes only from the code, when asked for (issue 19).
        claims.pop("auth_time", None)
        claims.update(self.get_authorization_code_claims(request.authorization_code))
        # Ed25519 (RFC 9864) is EdDSA on Ed25519 by another name: the same SHA-512 half hash.
        at_hash = create_half_hash(
            token["access_token"], service.ALG_EDDSA if alg == service.ALG_ED25519 else alg
        )
        claims["at_hash"] = at_hash.decode("ascii")
        claims.update(self.generate_user_info(request.user, token["scope"]))
        extension = get_components()
        return service.sign_id_token(
            get_session(), keyring=extension.keyring, alg=alg, claims=claims, now=current_time()
        )


class _BearerValidator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> _AccessToken | None:
        return _access_token(token_string)


class _UserInfo(UserInfoEndpoint):  # type: ignore[misc]
    def generate_user_info(self, user: service.AccessTokenInfo, scope: str) -> UserInfo:
        # Only the pseudonym and the verified-unique claim (issue 7): nothing else about the person.
        return UserInfo(sub=user.pseudonym, **{service.VERIFIED_UNIQUE_CLAIM: True})

    def get_issuer(self) -> str:
        return str(get_components().settings.issuer_url)


class _Issuer(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` in every authorization response, so a client talking to several providers
    can tell which one answered (mix-up attacks, RFC 9700 section 4.4)."""

    def get_issuer(self) -> str:
        return str(get_components().settings.issuer_url)


_ISSUER_PARAMETER = _Issuer()


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: a platform revokes one of its own access or refresh tokens (public clients with
    their client_id); a refresh token takes its whole family with it. Both kinds are looked up
    whatever the hint (RFC 7009 2.1: a wrong hint only widens the search)."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS  # noqa: RUF012
    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")

    def query_token(self, token_string: str, token_type_hint: str | None) -> _AccessToken | None:
        return _access_token(token_string) or _refresh_token(token_string)

    def revoke_token(self, token: _AccessToken, request: OAuth2Request) -> None:
        service.revoke_token(
            get_session(),
            token=request.form["token"],
            platform_id=token.info.platform_id,
            now=current_time(),
        )


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 for confidential platforms, about their own tokens only: another platform's token
    is ``{"active": false}``, as an unknown one is (section 2.2), so it tells them nothing."""

    CLIENT_AUTH_METHODS = INTROSPECTION_AUTH_METHODS  # noqa: RUF012
    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token")

    def query_token(self, token_string: str, token_type_hint: str | None) -> _AccessToken | None:
        return _access_token(token_string) or _refresh_token(token_string)

    def check_permission(self, token: _AccessToken, client: _Client, request: OAuth2Request) -> bool:
        return bool(token.info.platform_id == client.client_id)

    def introspect_token(self, token: _AccessToken) -> dict[str, Any]:
        info = token.info
        kind = {"token_type": "Bearer"} if info.token_type == "access_token" else {}  # noqa: S105
        return {
            "active": True,
            "scope": info.scope,
            "client_id": info.platform_id,
            **kind,
            "sub": info.pseudonym,
            "aud": info.platform_id,
            "iss": get_components().settings.issuer_url,
            "iat": int(info.issued_at.timestamp()),
            "exp": int(info.expires_at.timestamp()),
        }


def _access_token(token_string: object) -> _AccessToken | None:
    session = get_session()
    return _token_of(session, service.find_access_token(session, access_token=token_string))


def _refresh_token(token_string: object) -> _AccessToken | None:
    """A refresh token, for revocation and introspection only (never a bearer token)."""
    session = get_session()
    return _token_of(session, service.find_refresh_token(session, refresh_token=token_string))


def _token_of(session: Any, info: service.AccessTokenInfo | None) -> _AccessToken | None:
    client = None if info is None else service.get_client(session, info.platform_id)
    return None if info is None or client is None else _AccessToken(info, _Client(client))


def _query_client(client_id: str) -> _Client | None:
    client = service.get_client(get_session(), client_id)
    return None if client is None else _Client(client)


def _save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    service.save_tokens(
        get_session(),
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        grant=request.user.tokens,
        expires_in=int(token["expires_in"]),
        now=current_time(),
    )


def init_oidc_provider(app: Flask) -> None:
    """Builds the Authlib authorization server for ``app`` (called by create_app)."""
    # Authlib logs every issued token at DEBUG: tokens never go to a log (STYLE.md section 6).
    logging.getLogger("authlib").setLevel(logging.INFO)
    # Authlib's default generator (42 characters of 62: about 250 bits), as for access tokens.
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": service.ACCESS_TOKEN_TTL_S,
        "refresh_token": service.ACCESS_TOKEN_TTL_S,
    }
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(_CodeGrant, [_S256Only(required=True), _OpenIDCode(require_nonce=False)])
    server.register_grant(_RefreshGrant)
    protector = ResourceProtector()
    protector.register_token_validator(_BearerValidator())
    server.register_endpoint(_UserInfo(resource_protector=protector))
    server.register_extension(_ISSUER_PARAMETER)
    server.register_endpoint(_Revocation)
    server.register_endpoint(_Introspection)
    app.extensions[SERVER_EXTENSION] = server


def _server() -> AuthorizationServer:
    server = current_app.extensions[SERVER_EXTENSION]
    assert isinstance(server, AuthorizationServer)  # noqa: S101 - set only by init_oidc_provider
    return server


class ConsentForm(FlaskForm):  # type: ignore[misc]
    """Allow or deny (plain HTML form with a CSRF token: works without JavaScript)."""

    allow = SubmitField("Allow")
    deny = SubmitField("Deny")


# --- views ---------------------------------------------------------------------------------------


def _current_person() -> PersonAccount | None:
    """The signed-in person, or None, also when their session holds no usable pseudonym secret (an
    older session): then they sign in again first, and the authorization resumes after (issue 13)."""
    user = current_user._get_current_object()  # noqa: SLF001 - unwrap the LocalProxy
    if not isinstance(user, PersonUser):
        return None
    try:
        pseudonym_secret()
    except SignInAgainError:
        return None
    return user.account


def _error_response(error: OAuth2Error) -> WerkzeugResponse | tuple[str, int]:
    # Only errors Authlib tied to a validated redirect URI go back to the platform (RFC 6749 4.1.2.1).
    if error.redirect_uri:
        response = _server().handle_error_response(None, error)
        _ISSUER_PARAMETER.add_issuer_parameter(_server(), response)  # RFC 9207 2: error responses too
        return response  # type: ignore[no-any-return]
    return render_error_page(400, f"This sign-in request is invalid: {error.description or error.error}")


@dataclass(frozen=True, slots=True)
class _Prompt:
    """What the authorization request asks of the sign-in (OIDC Core 3.1.2.1): ``prompt`` values
    and ``max_age``."""

    values: frozenset[str]
    max_age: int | None

    @property
    def needs_fresh_login(self) -> bool:
        # Issue 19: any max_age, like prompt=login, makes the person sign in again for this request:
        # the ID token's auth_time is then that sign-in's, which no other platform can share.
        return self.max_age is not None or "login" in self.values


_MAX_AGE_DIGITS = 10  # up to 317 years


def _prompt_of(grant: grants.AuthorizationCodeGrant) -> _Prompt:
    """Parses the request's OIDC parameters. Raises OAuth2Error (sent back to the redirect URI)
    for a request object (OIDC Core 6: request_not_supported) or a max_age that is not a
    non-negative integer."""
    payload = grant.request.payload
    data = payload.data
    where = {"redirect_uri": payload.redirect_uri, "state": payload.state}
    if "request" in data:
        raise RequestNotSupportedError(**where)
    if "request_uri" in data:
        raise RequestURINotSupportedError(**where)
    raw = data.get("max_age")
    if raw is not None and not (
        isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= _MAX_AGE_DIGITS
    ):
        raise InvalidRequestError("max_age must be a non-negative integer (seconds)", **where)
    prompt = data.get("prompt")
    return _Prompt(
        frozenset(prompt.split() if isinstance(prompt, str) else ()), None if raw is None else int(raw)
    )


def _request_digest() -> str:
    # The consent form posts back to the same query string, and a login resumes it unchanged.
    return hashlib.sha256(request.query_string).hexdigest()


def _fresh_login_time() -> int | None:
    """The time of a sign-in made since this authorization request asked for one, or None."""
    marker = cookie_session.get(FRESH_LOGIN_KEY)
    if not isinstance(marker, dict) or marker.get("request") != _request_digest():
        return None
    login_id = cookie_session.get(LOGIN_ID_KEY)
    auth_time = cookie_session.get(AUTH_TIME_KEY)
    if login_id is None or marker.get("login") == login_id or not isinstance(auth_time, int):
        return None
    return auth_time


def _sign_in_first() -> WerkzeugResponse:
    """Sends the person to sign in (again), marking this request as waiting for that sign-in."""
    cookie_session[FRESH_LOGIN_KEY] = {
        "request": _request_digest(),
        "login": cookie_session.get(LOGIN_ID_KEY),
    }
    cookie_session[NEXT_KEY] = request.full_path
    return redirect(url_for("users.login"))


@bp.route(AUTHORIZE_PATH, methods=["GET", "POST"])
def authorize() -> WerkzeugResponse | str | tuple[str, int]:
    """The authorization endpoint: log in, then the consent screen (remembered per platform).

    ``prompt`` and ``max_age`` as OIDC Core 3.1.2.1 says: ``none`` never shows a page,
    ``login`` and any ``max_age`` sign the person in again for this request, ``consent`` asks again.
    """
    person = _current_person()
    server = _server()
    try:
        grant = server.get_consent_grant(end_user=person)
        prompt = _prompt_of(grant)
    except OAuth2Error as error:
        return _error_response(error)
    auth_time: int | None = None
    if prompt.needs_fresh_login:
        auth_time = _fresh_login_time()
    if person is None or (prompt.needs_fresh_login and auth_time is None):
        if "none" in prompt.values:
            return _error_response(_login_required(grant))
        return _sign_in_first()
    extension = get_components()
    client: _Client = grant.request.client
    session = get_session()
    form = ConsentForm()
    if request.method == "POST":
        if not (form.validate_on_submit() and form.allow.data):
            return _authorization_response(grant, None, None)
        service.grant_consent(
            session,
            person_id=person.id,
            platform_id=client.client_id,
            secret=pseudonym_secret(),
            log=extension.log,
            now=current_time(),
        )
    elif "consent" in prompt.values or not service.has_consent(
        session, person_id=person.id, platform_id=client.client_id, secret=pseudonym_secret()
    ):
        if "none" in prompt.values:  # OIDC Core 3.1.2.6
            return _error_response(_consent_required(grant))
        return render_template("oidc/consent.html", platform=client.info, action=request.full_path, form=form)
    return _authorization_response(grant, person, auth_time)


def _authorization_response(
    grant: _CodeGrant, person: PersonAccount | None, auth_time: int | None
) -> WerkzeugResponse:
    """The redirect back to the platform (a code, or access_denied), with RFC 9207's ``iss``. A
    fresh sign-in is used up by the code it made: the next request asking for one signs in again."""
    grant.auth_time = None if auth_time is None else datetime.fromtimestamp(auth_time, UTC)
    response = _server().create_authorization_response(grant=grant, grant_user=person)
    cookie_session.pop(FRESH_LOGIN_KEY, None)
    return response  # type: ignore[no-any-return]


def _login_required(grant: grants.AuthorizationCodeGrant) -> OAuth2Error:
    # Only reached after get_consent_grant validated the client and its exact redirect URI.
    payload = grant.request.payload
    return LoginRequiredError(redirect_uri=payload.redirect_uri, state=payload.state)


def _consent_required(grant: grants.AuthorizationCodeGrant) -> OAuth2Error:
    payload = grant.request.payload
    return ConsentRequiredError(redirect_uri=payload.redirect_uri, state=payload.state)


@bp.get("/account/connections")
def connections() -> str:
    """The platforms the person signs in to with escrow, each with a button to withdraw consent."""
    person = current_person()
    items = service.list_consents(get_session(), person_id=person.id, secret=pseudonym_secret())
    return render_template("oidc/connections.html", consents=items)


@bp.post("/account/connections/<platform_id>/withdraw")
def withdraw(platform_id: str) -> WerkzeugResponse:
    person = current_person()
    extension = get_components()
    service.withdraw_consent(
        get_session(),
        person_id=person.id,
        platform_id=platform_id,
        secret=pseudonym_secret(),
        log=extension.log,
        now=current_time(),
    )
    return redirect(url_for("oidc.connections"))


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Confirm the logout (a plain form with a CSRF token)."""

    confirm = SubmitField("Sign out of escrow")


@bp.route(END_SESSION_PATH, methods=["GET", "POST"])
def end_session() -> WerkzeugResponse | str | tuple[str, int]:
    """RP-Initiated Logout 1.0: signs the person out of escrow (and, by back-channel logout, of the
    platforms signed in to from this session), then sends them back to a registered
    ``post_logout_redirect_uri`` with ``state``. Without a valid ``id_token_hint`` naming the signed-in
    person, a page asks first (section 2: the logout may have been requested by someone else).

    GET or POST (section 2, form-encoded); app.py exempts it from CSRF: a platform posts it."""
    params = request.values
    extension = get_components()
    try:
        decision = logout_service.check_end_session(
            get_session(),
            keyring=extension.keyring,
            issuer=extension.settings.issuer_url,
            id_token_hint=params.get("id_token_hint"),
            client_id=params.get("client_id"),
            post_logout_redirect_uri=params.get("post_logout_redirect_uri"),
            state=params.get("state"),
        )
    except ValidationError as error:
        return render_error_page(400, "This logout request is invalid", str(error))
    is_signed_in = isinstance(current_user._get_current_object(), PersonUser)  # noqa: SLF001
    hint = decision.hint
    recorded = signed_in_platforms().get(hint.platform_id) if hint is not None else None
    is_hint_for_this_session = hint is not None and recorded is not None and recorded.sub == hint.sub
    if is_signed_in and not is_hint_for_this_session:
        cookie_session[_LOGOUT_REDIRECT_KEY] = decision.redirect_uri
        return render_template(
            "oidc/logout.html",
            form=LogoutForm(),
            platform_id=decision.platform_id,
            is_redirect_refused=decision.is_redirect_refused,
        )
    if is_signed_in:
        end_escrow_session()
    return _after_logout(decision.redirect_uri, decision.is_redirect_refused)


@bp.post(END_SESSION_PATH + "/confirm")
def confirm_end_session() -> WerkzeugResponse | str | tuple[str, int]:
    """The confirmation page's answer: signs out, then follows the redirect checked on the way in."""
    redirect_uri = cookie_session.pop(_LOGOUT_REDIRECT_KEY, None)
    if not LogoutForm().validate_on_submit():
        return render_error_page(400, "This logout form has expired; sign out from your account page")
    end_escrow_session()
    return _after_logout(redirect_uri if isinstance(redirect_uri, str) else None, False)


def _after_logout(redirect_uri: str | None, is_redirect_refused: bool) -> WerkzeugResponse | str:
    if redirect_uri is not None:
        return redirect(redirect_uri)
    return render_template("oidc/logged_out.html", is_redirect_refused=is_redirect_refused)


def _provider_metadata() -> dict[str, Any]:
    issuer = get_components().settings.issuer_url
    metadata = OpenIDProviderMetadata(
        issuer=issuer,
        authorization_endpoint=issuer + AUTHORIZE_PATH,
        token_endpoint=issuer + TOKEN_PATH,
        userinfo_endpoint=issuer + USERINFO_PATH,
        jwks_uri=issuer + "/.well-known/jwks.json",
        revocation_endpoint=issuer + REVOCATION_PATH,
        end_session_endpoint=issuer + END_SESSION_PATH,
        revocation_endpoint_auth_methods_supported=TOKEN_AUTH_METHODS,
        introspection_endpoint=issuer + INTROSPECTION_PATH,
        introspection_endpoint_auth_methods_supported=INTROSPECTION_AUTH_METHODS,
        scopes_supported=[SCOPE],
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=list(GRANT_TYPES),
        subject_types_supported=["pairwise"],
        id_token_signing_alg_values_supported=list(service.ID_TOKEN_ALGORITHMS),
        token_endpoint_auth_methods_supported=TOKEN_AUTH_METHODS,
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nonce",
            "auth_time",
            "acr",
            "at_hash",
            "sid",
            "envelope_digest",
            service.VERIFIED_UNIQUE_CLAIM,
        ],
        acr_values_supported=list(service.ACR_URIS.values()),
        authorization_response_iss_parameter_supported=True,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
        claims_parameter_supported=False,
    )
    # Not metadata.validate(): RFC 8414 requires an https issuer; development runs on loopback http.
    body = dict(metadata)
    # Back-Channel Logout 1.0 section 2.1: tokens carry sub and sid; front-channel logout is not built.
    body["backchannel_logout_supported"] = True
    body["backchannel_logout_session_supported"] = True
    return body


def _public_json(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@api_bp.get(DISCOVERY_PATH)
def discovery() -> Response:
    """OpenID Provider metadata (OpenID Connect Discovery 1.0 section 3)."""
    return _public_json(_provider_metadata())


@api_bp.get(OAUTH_METADATA_PATH)
def oauth_metadata() -> Response:
    """RFC 8414 authorization server metadata: the same document (section 3 allows the OpenID
    members), for OAuth clients that look here first."""
    return _public_json(_provider_metadata())


@api_bp.post(TOKEN_PATH)
def token() -> WerkzeugResponse:
    """The token endpoint (RFC 6749 section 4.1.3): Authlib answers errors in the spec's JSON form."""
    return _server().create_token_response()  # type: ignore[no-any-return]


@api_bp.post(REVOCATION_PATH)
def revoke() -> WerkzeugResponse:
    """RFC 7009 token revocation: 200 for any token the platform may revoke, known or not."""
    return _server().create_endpoint_response(_Revocation.ENDPOINT_NAME)  # type: ignore[no-any-return]


@api_bp.post(INTROSPECTION_PATH)
def introspect() -> WerkzeugResponse:
    """RFC 7662 token introspection for confidential platforms, about their own tokens."""
    return _server().create_endpoint_response(_Introspection.ENDPOINT_NAME)  # type: ignore[no-any-return]


@api_bp.route(USERINFO_PATH, methods=["GET", "POST"])
def userinfo() -> WerkzeugResponse:
    """The userinfo endpoint: ``sub`` and ``verified_unique`` for a valid bearer token."""
    if not request.headers.get("Authorization"):
        # RFC 6750 3.1: a request with no credentials at all gets the challenge, no error code.
        return Response(
            status=401, headers={"WWW-Authenticate": bearer_challenge(USERINFO_REALM, presented=False)}
        )
    try:
        return _server().create_endpoint_response("userinfo")  # type: ignore[no-any-return]
    except HTTPException as error:  # Authlib's 401 with WWW-Authenticate (RFC 6750 section 3)
        return error.get_response()


@api_bp.after_request
def _allow_registered_origins(response: Response) -> Response:
    """CORS (Fetch standard) on the token, userinfo and revocation endpoints for the origins of the
    platforms' registered redirect URIs: a public client's single-page app can call them, any other
    site's script cannot read the answers. No credentials mode: these endpoints never use cookies."""
    origin = request.headers.get("Origin")
    if request.path not in _CORS_PATHS:
        return response
    response.vary.add("Origin")
    if origin is None or origin not in service.registered_origins(get_session()):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":  # the preflight (Flask answers OPTIONS itself)
        response.headers["Access-Control-Allow-Methods"] = (
            "GET, POST" if request.path == USERINFO_PATH else "POST"
        )
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = str(_CORS_MAX_AGE_S)
    else:
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    return response
