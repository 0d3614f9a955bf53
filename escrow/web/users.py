"""Person pages: register and log in through an identity provider (or by password after an
in-person check), see my credentials, ask for one, revoke one."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers.response import Response

from escrow.errors import NotFoundError, PermissionDeniedError, ValidationError
from escrow.identity.oidc import AuthorizationRequest
from escrow.services.credentials import issue_credential, person_overview, revoke_as_person
from escrow.services.disclosure import person_notices
from escrow.services.registration import (
    PersonAccount,
    get_account,
    login_with_password,
    sign_in_with_oidc,
)
from escrow.web.pagination import requested_page
from escrow.web.session import get_extension, get_session

bp = Blueprint("users", __name__, url_prefix="/account")
PERSON_ID_PREFIX = "person:"
_PENDING_LOGIN = "escrow_oidc_pending"
# Sign in with escrow (issue 7): when the person logged in (the ID token's auth_time), and the
# authorization request to resume after logging in (only ever a local /oidc/authorize path).
AUTH_TIME_KEY = "escrow_auth_time"
NEXT_KEY = "escrow_next"
_RESUMABLE_PREFIX = "/oidc/authorize?"


class PersonUser(UserMixin):  # type: ignore[misc]
    """A logged-in person for Flask-Login: an account id and how they were verified, no identity."""

    is_person = True

    def __init__(self, account: PersonAccount) -> None:
        self.account = account

    def get_id(self) -> str:
        return f"{PERSON_ID_PREFIX}{self.account.id}"


def load_person(user_id: str) -> PersonUser | None:
    """Returns the person for a Flask-Login id ``person:<n>``, or None."""
    number = user_id.removeprefix(PERSON_ID_PREFIX)
    if not number.isdigit():
        return None
    account = get_account(get_session(), int(number))
    return None if account is None else PersonUser(account)


def current_person() -> PersonAccount:
    """Returns the logged-in person. Raises PermissionDeniedError for anyone else."""
    user = current_user._get_current_object()  # noqa: SLF001 - unwrap the LocalProxy
    if not isinstance(user, PersonUser):
        raise PermissionDeniedError("log in with your verified identity first")
    return user.account


@bp.get("/register")
def register() -> str:
    """Explains the ways to prove one's identity."""
    return render_template("account/register.html", has_oidc=get_extension().oidc is not None)


@bp.get("/login")
def login() -> str:
    return render_template("account/login.html", has_oidc=get_extension().oidc is not None)


@bp.post("/login")
def login_password() -> Response:
    """Officer-verified persons: document (country + number) and password."""
    extension = get_extension()
    account = login_with_password(
        get_session(),
        issuing_country=request.form.get("issuing_country", ""),
        document_number=request.form.get("document_number", ""),
        password=request.form.get("password", ""),
        deriver=extension.deriver,
        hasher=extension.password_hasher,
    )
    return _logged_in(account)


@bp.get("/oidc/start")
def oidc_start() -> Response:
    """Sends the browser to the identity provider (intent=register or login)."""
    provider = get_extension().oidc
    if provider is None:
        raise NotFoundError("no identity provider is configured")
    pending = provider.begin()
    session[_PENDING_LOGIN] = {
        "state": pending.state,
        "nonce": pending.nonce,
        "verifier": pending.code_verifier,
        "register": request.args.get("intent") == "register",
    }
    return redirect(pending.url)


@bp.get("/oidc/callback")
def oidc_callback() -> Response:
    """The identity provider sends the browser back here with a code."""
    extension = get_extension()
    pending = session.pop(_PENDING_LOGIN, None)
    if extension.oidc is None or not isinstance(pending, dict) or "error" in request.args:
        raise ValidationError("no login is in progress, or the identity provider refused it")
    account = sign_in_with_oidc(
        get_session(),
        provider=extension.oidc,
        code=request.args.get("code", ""),
        state=request.args.get("state", ""),
        request=AuthorizationRequest("", pending["state"], pending["nonce"], pending["verifier"]),
        is_registration=bool(pending["register"]),
        deriver=extension.deriver,
        log=extension.log,
        now=datetime.now(UTC),
    )
    return _logged_in(account)


def _logged_in(account: PersonAccount) -> Response:
    login_user(PersonUser(account))
    session[AUTH_TIME_KEY] = int(datetime.now(UTC).timestamp())
    resume = session.pop(NEXT_KEY, None)
    if isinstance(resume, str) and resume.startswith(_RESUMABLE_PREFIX):
        return redirect(resume)
    return redirect(url_for("users.credentials"))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    return redirect(url_for("web.index"))


@bp.get("/credentials")
def credentials() -> str:
    """My credentials, and a form to ask for a new one."""
    person = current_person()
    extension = get_extension()
    now = datetime.now(UTC)
    overview = person_overview(
        get_session(), person_id=person.id, deriver=extension.deriver, now=now, page=requested_page()
    )
    # Issue 6: disclosures of this person's identity whose notification delay is over (logged once).
    notices = person_notices(
        get_session(), person_id=person.id, deriver=extension.deriver, log=extension.log, now=now
    )
    return render_template("account/credentials.html", overview=overview, issued=None, notices=notices)


@bp.post("/credentials")
def request_credential() -> str:
    """Issues a credential for the chosen platform and shows it once."""
    person = current_person()
    extension = get_extension()
    now = datetime.now(UTC)
    issued = issue_credential(
        get_session(),
        person_id=person.id,
        platform_id=request.form.get("platform_id", ""),
        deriver=extension.deriver,
        keyring=extension.keyring,
        issuer=extension.settings.issuer_url,
        log=extension.log,
        now=now,
    )
    # Rendering the page needs the overview too: a second, read-only service call.
    overview = person_overview(get_session(), person_id=person.id, deriver=extension.deriver, now=now)
    return render_template("account/credentials.html", overview=overview, issued=issued)


@bp.post("/credentials/<credential_id>/revoke")
def revoke_credential(credential_id: str) -> Response:
    person = current_person()
    extension = get_extension()
    revoke_as_person(
        get_session(),
        person_id=person.id,
        credential_id=credential_id,
        deriver=extension.deriver,
        log=extension.log,
        now=datetime.now(UTC),
    )
    return redirect(url_for("users.credentials"))
