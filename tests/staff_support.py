"""Signing staff in through the real two-step form, as a person with an authenticator app would.

The first sign-in of an account that needs TOTP goes through the enrolment page: the helper reads the
key the page shows (as a person would type it into their app) and answers with the code of the
current step. Later sign-ins answer the code page from the remembered key, never reusing a step.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from flask.testing import FlaskClient

from escrow.services import totp

# (the server: id of the app or a portal's URL, username) -> (TOTP secret, last step used): what the
# person's phone would know.
_AUTHENTICATORS: dict[tuple[object, str], tuple[str, int]] = {}


def csrf_token_from(page: str) -> str:
    """Returns the CSRF token in a rendered form (the hidden csrf_token input)."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def secret_on_page(page: str) -> str:
    """Returns the authenticator key shown by the enrolment page (without the grouping spaces)."""
    match = re.search(r'<code id="totp-secret">([^<]+)</code>', page)
    assert match, "no authenticator key on the page"
    return "".join(html.unescape(match.group(1)).split())


def next_code(app_id: object, username: str, secret: str | None = None) -> str:
    """The code a phone would show now, moved one step on if the current one was already used."""
    known_secret, last = _AUTHENTICATORS.get((app_id, username), ("", -1))
    secret = secret or known_secret
    assert secret, f"no authenticator enrolled for {username} in this app"
    step = max(totp.current_step(datetime.now(UTC)), last + 1)
    _AUTHENTICATORS[(app_id, username)] = (secret, step)
    return totp.code_at(secret, step)


def forget_authenticator(app_id: object, username: str) -> None:
    _AUTHENTICATORS.pop((app_id, username), None)


def sign_in_staff(client: FlaskClient, username: str, password: str, *, next_path: str = "") -> FlaskClient:
    """Signs `client` in as `username`: password, then the enrolment or code step if asked for one."""
    app_id = id(client.application)
    login_url = "/login" + (f"?next={next_path}" if next_path else "")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(login_url, data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    if location.endswith("/login/authenticator"):
        page = client.get(location).get_data(as_text=True)
        forget_authenticator(app_id, username)
        code = next_code(app_id, username, secret_on_page(page))
        response = client.post(location, data={"code": code, "csrf_token": csrf_token_from(page)})
    elif location.endswith("/login/code"):
        page = client.get(location).get_data(as_text=True)
        code = next_code(app_id, username)
        response = client.post(location, data={"code": code, "csrf_token": csrf_token_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
