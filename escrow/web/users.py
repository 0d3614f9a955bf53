"""Person pages: register and log in through an identity provider (or by password after an
in-person check), see my credentials, ask for one, revoke one."""

from __future__ import annotations

import secrets

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.wrappers.response import Response

from escrow.httpkit import (
    current_person,
    current_time,
    get_components,
    get_session,
    log_in_person,
    pseudonym_secret,
)
from escrow.identity.base import IdentityProvider
from escrow.identity.registry import SINGLE_ISSUER_ID
from escrow.services.credentials import issue_credential, person_overview, revoke_as_person
from escrow.services.disclosure import person_notices
from escrow.services.registration import (
    SignedIn,
    begin_sign_in,
    login_with_password,
    sign_in_with_provider,
)
from escrow.web.logout import end_escrow_session, forget_signed_in
from escrow.web.pagination import requested_page

bp = Blueprint("users", __name__, url_prefix="/account")
_PENDING_LOGIN = "escrow_idp_pending"
# Sign in with escrow (issues 7, 19): when the person logged in and a random id of that login (so an
# authorization request that asked for a fresh login can tell one happened since), and the
# authorization request to resume after logging in (only ever a local /oidc/authorize path).
AUTH_TIME_KEY = "escrow_auth_time"
LOGIN_ID_KEY = "escrow_login_id"
NEXT_KEY = "escrow_next"
_RESUMABLE_PREFIX = "/oidc/authorize?"


@bp.get("/register")
def register() -> str:
    """Explains the ways to prove one's identity: a button for each identity provider."""
    return render_template("account/register.html", providers=get_components().identity_providers)


@bp.get("/login")
def login() -> str:
    return render_template("account/login.html", providers=get_components().identity_providers)


@bp.post("/login")
def login_password() -> Response:
    """Officer-verified persons: document (country + number) and password."""
    extension = get_components()
    signed_in = login_with_password(
        get_session(),
        issuing_country=request.form.get("issuing_country", ""),
        document_number=request.form.get("document_number", ""),
        password=request.form.get("password", ""),
        oprf=extension.oprf,
        hasher=extension.password_hasher,
        log=extension.log,
        now=current_time(),
    )
    return _logged_in(signed_in)


@bp.get("/idp/<provider_id>/start")
def idp_start(provider_id: str) -> Response:
    """Sends the browser to identity provider ``provider_id`` (intent=register or login)."""
    return _start(get_components().identity_providers.get(provider_id))


@bp.get("/oidc/start")
def oidc_start() -> Response:
    """Sends the browser to the first identity provider (this URL is older than several providers)."""
    return _start(get_components().identity_providers.default())


def _start(provider: IdentityProvider) -> Response:
    url, pending = begin_sign_in(provider, is_registration=request.args.get("intent") == "register")
    session[_PENDING_LOGIN] = pending.to_session()
    return redirect(url)


@bp.get("/idp/<provider_id>/callback")
def idp_callback(provider_id: str) -> Response:
    """Identity provider ``provider_id`` sends the browser back here with a code."""
    return _finish(provider_id)


@bp.get("/oidc/callback")
def oidc_callback() -> Response:
    """The callback registered at the ESCROW_OIDC_* provider: finishes only a login started there."""
    return _finish(SINGLE_ISSUER_ID)


def _finish(provider_id: str) -> Response:
    extension = get_components()
    signed_in = sign_in_with_provider(
        get_session(),
        providers=extension.identity_providers,
        provider_id=provider_id,
        pending=session.pop(_PENDING_LOGIN, None),
        callback=request.args.to_dict(),
        oprf=extension.oprf,
        log=extension.log,
        now=current_time(),
    )
    return _logged_in(signed_in)


def _logged_in(signed_in: SignedIn) -> Response:
    log_in_person(signed_in)
    forget_signed_in()  # a new escrow session: no platform signed in to from it yet (issue 19)
    session[AUTH_TIME_KEY] = int(current_time().timestamp())
    session[LOGIN_ID_KEY] = secrets.token_urlsafe(16)
    resume = session.pop(NEXT_KEY, None)
    if isinstance(resume, str) and resume.startswith(_RESUMABLE_PREFIX):
        return redirect(resume)
    return redirect(url_for("users.credentials"))


@bp.post("/logout")
def logout() -> Response:
    end_escrow_session()  # tells the platforms signed in to from this session (issue 19)
    return redirect(url_for("web.index"))


@bp.get("/credentials")
def credentials() -> str:
    """My credentials, and a form to ask for a new one."""
    person, secret = current_person(), pseudonym_secret()
    extension = get_components()
    now = current_time()
    overview = person_overview(
        get_session(), person_id=person.id, secret=secret, now=now, page=requested_page()
    )
    # Issue 6: disclosures of this person's identity whose notification delay is over (logged once).
    notices = person_notices(get_session(), person_id=person.id, secret=secret, log=extension.log, now=now)
    return render_template("account/credentials.html", overview=overview, issued=None, notices=notices)


@bp.post("/credentials")
def request_credential() -> str:
    """Issues a credential for the chosen platform and shows it once."""
    person, secret = current_person(), pseudonym_secret()
    extension = get_components()
    now = current_time()
    issued = issue_credential(
        get_session(),
        person_id=person.id,
        platform_id=request.form.get("platform_id", ""),
        secret=secret,
        keyring=extension.keyring,
        issuer=extension.settings.issuer_url,
        log=extension.log,
        now=now,
        cache=extension.read_cache,
    )
    # Rendering the page needs the overview too: a second, read-only service call.
    overview = person_overview(get_session(), person_id=person.id, secret=secret, now=now)
    return render_template("account/credentials.html", overview=overview, issued=issued)


@bp.post("/credentials/<credential_id>/revoke")
def revoke_credential(credential_id: str) -> Response:
    person, secret = current_person(), pseudonym_secret()
    extension = get_components()
    revoke_as_person(
        get_session(),
        person_id=person.id,
        credential_id=credential_id,
        secret=secret,
        log=extension.log,
        now=current_time(),
    )
    return redirect(url_for("users.credentials"))
