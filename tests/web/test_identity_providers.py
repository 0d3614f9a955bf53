"""Two OIDC issuers by configuration only (issue 12): generic routes, a button each, no mixing.

Both issuers are real development providers served over loopback HTTP and configured the way an
operator would (ESCROW_IDENTITY_PROVIDERS, one secret in another variable); the escrow reaches them
through urllib, as it reaches a real provider.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.identity.devidp import DevClient, DevIdentityProvider, DevUser
from escrow.identity.provider_config import parse_identity_providers
from escrow.models import Person
from tests.credentials_support import escrow_key, log_in_over_http, served_dev_idp  # noqa: F401

ESCROW_URL = "http://escrow.test"  # Settings.for_tests().issuer_url
ADA = DevUser("ada", "Ada Example", "1990-02-03")
LABELS = {"gov": "GovID", "bank": "Bank ID"}

pytestmark = pytest.mark.usefixtures("escrow_key")  # registration seals to it


@pytest.fixture
def idps() -> Iterator[dict[str, DevIdentityProvider]]:
    """Two outside providers that both know a user "ada" (a different person at each)."""
    with contextlib.ExitStack() as stack:
        served = {}
        for provider_id in LABELS:
            callback = f"{ESCROW_URL}/account/idp/{provider_id}/callback"
            client = DevClient(f"escrow-at-{provider_id}", f"secret-of-{provider_id}", (callback,))
            served[provider_id] = stack.enter_context(served_dev_idp(users=(ADA,), clients=(client,)))
        yield served


@pytest.fixture
def settings(settings: Settings, idps: dict[str, DevIdentityProvider]) -> Settings:
    """The test settings plus ESCROW_IDENTITY_PROVIDERS naming both issuers: configuration only."""
    assert settings.issuer_url == ESCROW_URL
    entries = [
        {
            "id": "gov",
            "label": LABELS["gov"],
            "issuer": idps["gov"].issuer,
            "client_id": "escrow-at-gov",
            "client_secret_env": "GOV_OIDC_SECRET",
            "assurance": "high",
        },
        {
            "id": "bank",
            "label": LABELS["bank"],
            "issuer": idps["bank"].issuer,
            "client_id": "escrow-at-bank",
            "client_secret": "secret-of-bank",
        },
    ]
    env = {"GOV_OIDC_SECRET": "secret-of-gov"}
    return dataclasses.replace(
        settings, identity_providers=parse_identity_providers(json.dumps(entries), env)
    )


def _start(client: FlaskClient, provider_id: str, intent: str = "register") -> str:
    start = client.get(f"/account/idp/{provider_id}/start?intent={intent}")
    assert start.status_code == 302, start.status_code
    return str(start.headers["Location"])


def _come_back(client: FlaskClient, location: str) -> Any:
    back = urllib.parse.urlsplit(location)
    return client.get(f"{back.path}?{back.query}")


def _sign_in(client: FlaskClient, provider_id: str, intent: str = "register") -> Any:
    return _come_back(client, log_in_over_http(_start(client, provider_id, intent), ADA.username))


def test_register_and_login_pages_show_a_button_for_each_provider(app: Flask, client: FlaskClient) -> None:
    register = client.get("/account/register").get_data(as_text=True)
    login = client.get("/account/login").get_data(as_text=True)

    for provider_id, label in LABELS.items():
        assert f"/account/idp/{provider_id}/start?intent=register" in register
        assert f"Register with {label}" in register
        assert f"Log in with {label}" in login


def test_the_same_username_at_two_issuers_is_two_persons(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given "ada" registered at the first issuer
    first = _sign_in(client, "gov")
    assert first.status_code == 302
    assert first.headers["Location"].endswith("/account/credentials")

    # When "ada" of the second issuer registers (another browser)
    second = _sign_in(app.test_client(), "bank")

    # Then that is a second person: identity keys are scoped by issuer, not by username
    assert second.status_code == 302
    persons = db_session.scalars(select(Person).order_by(Person.id)).all()
    assert len(persons) == 2
    assert persons[0].person_key != persons[1].person_key
    assert [p.assurance for p in persons] == ["high", "substantial"]  # as each entry configures


def test_a_person_logs_in_again_through_the_issuer_they_registered_with(
    app: Flask, client: FlaskClient
) -> None:
    assert _sign_in(client, "bank").status_code == 302

    again = _sign_in(app.test_client(), "bank", intent="login")
    elsewhere = _sign_in(app.test_client(), "gov", intent="login")

    assert again.status_code == 302
    assert elsewhere.status_code == 404  # nobody registered through gov


def test_a_login_started_at_one_provider_cannot_finish_at_another(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given a login started and answered at gov
    answer = urllib.parse.urlsplit(log_in_over_http(_start(client, "gov"), ADA.username))

    # When the browser brings gov's code and state to bank's callback
    response = client.get(f"/account/idp/bank/callback?{answer.query}")

    # Then it is refused, nobody is registered, and the attempt is spent
    assert response.status_code == 422
    assert "another identity provider" in response.get_data(as_text=True)
    assert db_session.scalars(select(Person)).all() == []
    assert client.get(f"/account/idp/gov/callback?{answer.query}").status_code == 422


@pytest.mark.parametrize("step", ["start", "callback"])
def test_an_unknown_provider_id_is_a_404_page_or_problem(app: Flask, client: FlaskClient, step: str) -> None:
    page = client.get(f"/account/idp/nope/{step}")
    problem = client.get(f"/account/idp/nope/{step}", headers={"Accept": "application/problem+json"})

    assert page.status_code == 404
    assert "no identity provider with this id" in page.get_data(as_text=True)
    assert problem.status_code == 404
    assert problem.mimetype == "application/problem+json"
    assert problem.get_json()["status"] == 404


def test_the_old_start_url_sends_the_browser_to_the_first_provider(
    app: Flask, client: FlaskClient, idps: dict[str, DevIdentityProvider]
) -> None:
    location = client.get("/account/oidc/start?intent=register").headers["Location"]

    assert location.startswith(idps["gov"].issuer + "/authorize?")
    assert _come_back(client, log_in_over_http(location, ADA.username)).status_code == 302
