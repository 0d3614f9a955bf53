"""The pre-issue-12 callback /account/oidc/callback belongs to the ESCROW_OIDC_*
issuer only; it must not finish a login started at any other provider (IdP mix-up, RFC 9700 4.4)."""

from __future__ import annotations

import urllib.parse

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.models import Person
from tests.credentials_support import escrow_key, log_in_over_http, served_dev_idp  # noqa: F401
from tests.web.test_identity_providers import ADA, _start, idps, settings  # noqa: F401

pytestmark = __import__("pytest").mark.usefixtures("escrow_key")


def test_the_old_oidc_callback_does_not_finish_a_login_started_at_another_provider(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given a login started at "bank" (an ESCROW_IDENTITY_PROVIDERS entry, not the ESCROW_OIDC_* issuer)
    answer = urllib.parse.urlsplit(log_in_over_http(_start(client, "bank"), ADA.username))

    # When the browser brings a code and that state to the ESCROW_OIDC_* issuer's callback URL
    response = client.get(f"/account/oidc/callback?{answer.query}")

    # Then it is refused: a code delivered to one issuer's redirect URI is never sent to another's
    # token endpoint, and nobody is registered
    assert response.status_code in (404, 422), response.status_code
    assert db_session.scalars(select(Person)).all() == []
