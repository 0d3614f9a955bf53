"""The pseudonym secret of issue 13 through the real app: only in the signed-in session, sealed there
and bound to the account; never in the cookie in clear, the database or the logs. A session without a
usable secret signs in again (never a 500), and when the OPRF nodes do not answer the answer is a 503."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from escrow.crypto.errors import OpenFailedError
from escrow.crypto.pseudonym import PseudonymSecret, person_keys
from escrow.crypto.session_box import derive_session_box_key, open_session_value
from escrow.crypto.transcript import b64u_decode
from escrow.httpkit import COMPONENTS_KEY, PSEUDONYM_SECRET_SESSION_KEY, SESSION_BOX_COOKIE, get_components
from escrow.identity.base import VerifiedIdentity
from escrow.identity.devidp import DevIdentityProvider, DevUser
from escrow.models import Base, Person
from escrow.services.oprf_keys import active_oprf_key
from tests import credentials_support
from tests.credentials_support import IDP_ISSUER, add_platform, sign_in
from tests.oidc_support import (
    PASSWORD,
    add_client,
    authorize_query,
    csrf_token_in,
    register_person,
    setup_provider,
)
from tests.oprf_support import OprfNetwork, unreachable_client

# The fixtures of tests/credentials_support.py this module uses (tests/web has no conftest of them).
dev_idp = credentials_support.dev_idp
escrow_key = credentials_support.escrow_key
oidc_app = credentials_support.oidc_app

HAL = DevUser("hal", "Hal Example", "1971-01-01")
IVY = DevUser("ivy", "Ivy Example", "1972-02-02")


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _issue(client: FlaskClient, platform_id: str = "forum") -> Any:
    return client.post("/api/v1/me/credentials", json={"platform_id": platform_id}, headers=_csrf(client))


def _secret_of(app: Flask, user: DevUser) -> PseudonymSecret:
    """What the person's sign-in evaluated: the OPRF on the dev provider's identity key for ``user``."""
    subject = "dev-" + hashlib.sha256(user.username.encode()).hexdigest()[:16]
    identity = VerifiedIdentity("oidc", IDP_ISSUER, subject, user.name, user.birthdate, "low")
    components = get_components(app)
    with components.session_factory() as session:
        key = active_oprf_key(session)
    return person_keys(components.oprf.evaluate(key, [identity.identity_key]).outputs[0]).secret


def _encodings(secret: PseudonymSecret) -> list[str]:
    raw = bytes(secret)
    return [
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b32encode(raw).decode().rstrip("="),
        base64.b32encode(raw).decode().rstrip("=").lower(),
        repr(raw)[2:-1],
    ]


def _session_cookie(app: Flask, client: FlaskClient) -> tuple[str, dict[str, Any]]:
    """The session as stored on the server (issue 17: the cookie holds only its id): the cookie and
    every stored session file as text, and the session's entries."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    stored = Path(get_components(app).settings.instance_path, "sessions")
    raw = "".join(path.read_bytes().decode("latin-1") for path in stored.iterdir())
    with client.session_transaction() as session:
        return ("" if cookie is None else cookie.value) + raw, dict(session)


def _sign_in(client: FlaskClient, dev_idp: DevIdentityProvider, user: DevUser) -> FlaskClient:
    response = sign_in(client, dev_idp, user)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def hal(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session
) -> FlaskClient:
    add_platform(db_session, "forum")
    add_platform(db_session, "market")
    return _sign_in(client, dev_idp, HAL)


def test_the_session_holds_the_secret_sealed_never_in_clear(oidc_app: Flask, hal: FlaskClient) -> None:
    # Given a signed-in person and the secret their sign-in evaluated
    secret = _secret_of(oidc_app, HAL)
    assert _issue(hal).get_json()["pseudonym"] == secret.pseudonym("forum")  # the right secret

    # When the stored session is read, raw and decoded (the store is not encrypted)
    raw, decoded = _session_cookie(oidc_app, hal)

    # Then the secret is there only sealed: no encoding of its bytes appears
    assert PSEUDONYM_SECRET_SESSION_KEY in decoded
    for text in (raw, repr(decoded)):
        for encoded in _encodings(secret):
            assert encoded not in text


def test_a_copy_of_the_session_store_and_keys_opens_no_pseudonym_secret(
    oidc_app: Flask, hal: FlaskClient
) -> None:
    # Given a signed-in person, and a seized server's copy of the session store and of keys/ (the app's
    # secret key): everything the server holds at rest
    secret = _secret_of(oidc_app, HAL)
    with hal.session_transaction() as session:
        sealed = b64u_decode(session[PSEUDONYM_SECRET_SESSION_KEY])
    person_id = _issue(hal).get_json() and _person_id(oidc_app)
    aad = b"escrow/v2/session/pseudonym-secret\x00person:" + str(person_id).encode()
    app_secret = oidc_app.secret_key.encode() if isinstance(oidc_app.secret_key, str) else oidc_app.secret_key
    assert isinstance(app_secret, bytes)

    # When it tries to open the sealed secret with the key derived from the app's secret alone
    with pytest.raises(OpenFailedError):
        open_session_value(derive_session_box_key(app_secret), sealed, associated_data=aad)

    # Then it fails; only with the half the browser holds in its own cookie does it open
    browser = b64u_decode(hal.get_cookie(SESSION_BOX_COOKIE).value)  # type: ignore[union-attr]
    opened = open_session_value(derive_session_box_key(app_secret + browser), sealed, associated_data=aad)
    assert opened == bytes(secret)


def test_the_browser_half_of_the_session_key_is_an_httponly_cookie_deleted_at_logout(
    hal: FlaskClient,
) -> None:
    cookie = hal.get_cookie(SESSION_BOX_COOKIE)
    assert cookie is not None
    assert cookie.http_only

    hal.post("/account/logout", data={"csrf_token": _csrf(hal)["X-CSRFToken"]})

    assert hal.get_cookie(SESSION_BOX_COOKIE) is None


def _person_id(app: Flask) -> int:
    with get_components(app).session_factory() as session:
        return int(session.scalars(select(Person.id)).one())


def test_a_new_sign_in_gives_the_same_pseudonyms_so_bans_stick(
    hal: FlaskClient, dev_idp: DevIdentityProvider
) -> None:
    first = _issue(hal).get_json()["pseudonym"]
    hal.post("/account/logout", data={"csrf_token": _csrf(hal)["X-CSRFToken"]})

    assert sign_in(hal, dev_idp, HAL, intent="login").status_code == 302

    assert _issue(hal).get_json()["pseudonym"] == first
    assert _issue(hal, "market").get_json()["pseudonym"] != first


def test_logout_removes_the_secret(oidc_app: Flask, hal: FlaskClient) -> None:
    hal.post("/account/logout", data={"csrf_token": _csrf(hal)["X-CSRFToken"]})

    _, decoded = _session_cookie(oidc_app, hal)
    assert PSEUDONYM_SECRET_SESSION_KEY not in decoded


def _replace_sealed_secret(client: FlaskClient, value: object) -> None:
    with client.session_transaction() as session:
        if value is None:
            session.pop(PSEUDONYM_SECRET_SESSION_KEY, None)
        else:
            session[PSEUDONYM_SECRET_SESSION_KEY] = value


def _flip_a_middle_character(text: str) -> str:
    # A middle base64url character carries 6 full bits: the value still decodes, the AEAD must refuse it.
    middle = len(text) // 2
    return text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]


@pytest.mark.parametrize(
    "change",
    [None, "tampered", "truncated", "not-base64", 42, ""],
    ids=["old-session-without-secret", "tampered", "truncated", "not-base64", "not-text", "empty"],
)
def test_a_session_without_a_usable_secret_must_sign_in_again(hal: FlaskClient, change: object) -> None:
    # Given a signed-in person whose session's secret is missing or damaged
    with hal.session_transaction() as session:
        sealed = session[PSEUDONYM_SECRET_SESSION_KEY]
    value = {
        "tampered": _flip_a_middle_character(sealed),
        "truncated": sealed[:20],
        "not-base64": "*" * 60,
    }.get(change, change)  # type: ignore[call-overload]
    _replace_sealed_secret(hal, value)

    # When they use their credentials (JSON and pages)
    api = hal.get("/api/v1/me/credentials")
    page = hal.get("/account/credentials")

    # Then JSON says "sign in again" (401 problem), and the page sends them to sign in; never a 500
    assert (api.status_code, api.get_json()["code"]) == (401, "sign-in-again")
    assert api.mimetype == "application/problem+json"
    assert page.status_code == 302
    assert page.headers["Location"].endswith("/account/login")
    # ... signed out: the stale session is gone, and signing in again is offered with a message
    login = hal.get("/account/login").get_data(as_text=True)
    assert "Please sign in again" in login
    assert hal.get("/api/v1/me/credentials").status_code == 403


def test_a_secret_moved_from_another_persons_session_does_not_open(
    oidc_app: Flask, hal: FlaskClient, dev_idp: DevIdentityProvider
) -> None:
    # Given Ivy signed in in another browser, and her sealed secret copied into Hal's session
    ivy = _sign_in(oidc_app.test_client(), dev_idp, IVY)
    ivy_pseudonym = _issue(ivy).get_json()["pseudonym"]
    with ivy.session_transaction() as session:
        ivy_sealed = session[PSEUDONYM_SECRET_SESSION_KEY]
    _replace_sealed_secret(hal, ivy_sealed)

    # When Hal asks for a credential
    response = _issue(hal)

    # Then the secret is bound to Ivy's account: Hal must sign in again and gets nothing of Ivy's
    assert (response.status_code, response.get_json()["code"]) == (401, "sign-in-again")
    assert ivy_pseudonym not in response.get_data(as_text=True)


def test_person_rows_hold_no_column_from_which_a_pseudonym_can_be_computed(
    oidc_app: Flask, hal: FlaskClient, db_session: Session
) -> None:
    # Given a signed-in person with a credential
    secret = _secret_of(oidc_app, HAL)
    pseudonym = _issue(hal).get_json()["pseudonym"]

    # Then their row holds the lookup key, the seal, how they were verified: no pseudonym secret
    columns = {c.name for c in inspect(Person).columns}
    assert columns == {
        "id",
        "person_key",
        "provider_kind",
        "assurance",
        "escrow_key_id",
        "identity_seal",
        "password_hash",
        "created_at",
    }
    person = db_session.scalars(select(Person)).one()
    assert person.person_key != bytes(secret)
    assert PseudonymSecret(person.person_key).pseudonym("forum") != pseudonym
    # ... and no table anywhere holds the secret, in any encoding
    needles = [bytes(secret), *(e.encode() for e in _encodings(secret))]
    for table in Base.metadata.sorted_tables:
        for row in db_session.execute(select(table)).all():
            for value in row:
                blob = value if isinstance(value, bytes) else str(value).encode()
                assert not any(n in blob for n in needles), table.name


def test_the_secret_never_reaches_the_logs(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session, caplog: Any
) -> None:
    add_platform(db_session, "forum")
    caplog.set_level(logging.DEBUG)

    _sign_in(client, dev_idp, HAL)
    issued = _issue(client)
    client.get("/account/credentials")

    assert issued.status_code == 201
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "credential.issued" in text  # the logs were captured
    for encoded in _encodings(_secret_of(oidc_app, HAL)):
        assert encoded not in text


def test_password_sign_in_of_an_officer_verified_person_puts_the_secret_in_the_session(
    app: Flask, client: FlaskClient
) -> None:
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    add_platform(session, "forum")
    page = client.get("/account/login").get_data(as_text=True)

    response = client.post(
        "/account/login",
        data={
            "issuing_country": "BEL",
            "document_number": "P1234567",
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page),
        },
    )

    assert response.status_code == 302
    assert _issue(client).status_code == 201


def test_authorization_with_an_old_session_signs_in_again_then_resumes(
    app: Flask, client: FlaskClient
) -> None:
    # Given a person signed in by password whose session lost its secret (older than issue 13)
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    add_client(session, app, "forum")
    form = {"issuing_country": "BEL", "document_number": "P1234567", "password": PASSWORD}
    page = client.get("/account/login").get_data(as_text=True)
    client.post("/account/login", data={**form, "csrf_token": csrf_token_in(page)})
    _replace_sealed_secret(client, None)
    query = authorize_query("forum")

    # When a platform sends them to sign in with escrow
    first = client.get(f"/oidc/authorize?{query}")

    # Then they sign in first, and the authorization resumes after
    assert first.status_code == 302
    assert first.headers["Location"].endswith("/account/login")
    page = client.get("/account/login").get_data(as_text=True)
    login = client.post("/account/login", data={**form, "csrf_token": csrf_token_in(page)})
    assert login.headers["Location"] == f"/oidc/authorize?{query}"


# --- the OPRF nodes do not answer: 503, never a 500 --------------------------------------------------


def _nodes_down(app: Flask, network: OprfNetwork) -> None:
    """Points the app at nodes that are all down (a real client; nothing listens on their ports)."""
    components = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(components, oprf=unreachable_client(network))


def test_sign_in_while_the_nodes_are_down_is_a_503_page_with_retry_after(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, oprf_network: OprfNetwork
) -> None:
    _nodes_down(oidc_app, oprf_network)

    response = sign_in(client, dev_idp, HAL)

    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "5"
    page = response.get_data(as_text=True)
    assert "try again in 5 seconds" in page
    assert "Traceback" not in page


def test_password_sign_in_while_the_nodes_are_down_is_a_503_page(
    app: Flask, client: FlaskClient, oprf_network: OprfNetwork
) -> None:
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    _nodes_down(app, oprf_network)
    page = client.get("/account/login").get_data(as_text=True)

    response = client.post(
        "/account/login",
        data={
            "issuing_country": "BEL",
            "document_number": "P1234567",
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page),
        },
    )

    # (the login form's rate limiter sends its own Retry-After; tests/api checks its absence)
    assert response.status_code == 503
    assert "try again in 5 seconds" in response.get_data(as_text=True)
