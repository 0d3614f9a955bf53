"""Issue 17, finding 7: logs never join what the database keeps apart (security rule 6).

A registration, a credential issuance and an OIDC callback, with every log line captured: no line
names a person (their account id) near a credential or pseudonym, and none quotes the identity
provider's ``code``; the access log of ``escrow run``'s server shows no query string.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.config import Settings
from escrow.httpkit import RedactedAccessLogHandler
from escrow.identity.devidp import DevIdentityProvider, DevUser
from escrow.models import Person
from tests.credentials_support import add_platform, sign_in

IDA = DevUser("ida", "Ida Example", "1971-05-06")
# Anything that names a person in a log line: an id member or a Flask-Login session id.
_PERSON_MARKERS = re.compile(r"(person|account|user)(_id)?[=:]\s*\d+", re.IGNORECASE)
_LINKABLE = ("credential", "pseudonym")


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_registration_issuance_and_oidc_callback_logs_never_join_a_person_to_a_credential(
    oidc_app: Flask,
    client: FlaskClient,
    dev_idp: DevIdentityProvider,
    db_session: Session,
    captured: pytest.LogCaptureFixture,
) -> None:
    # Given a platform
    add_platform(db_session, "forum")

    # When a person registers through the identity provider (the OIDC callback) and asks for a
    # credential
    assert sign_in(client, dev_idp, IDA).status_code == 302
    csrf = {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}
    issued = client.post("/api/v1/me/credentials", json={"platform_id": "forum"}, headers=csrf)
    assert issued.status_code == 201

    # Then the log has the events, but no line names the person, none sits a person's id next to a
    # credential or pseudonym, and none quotes the provider's code
    lines = [record.getMessage() for record in captured.records]
    assert any(line.startswith("person.registered") for line in lines), lines
    assert any(line.startswith("credential.issued") for line in lines), lines
    person_ids = {str(i) for i in db_session.scalars(select(Person.id))}
    assert person_ids
    for line in lines:
        assert not _PERSON_MARKERS.search(line), line
        assert "code=" not in line, line
        if any(word in line for word in _LINKABLE):
            assert not any(re.search(rf"=\s*{pid}\b", line) for pid in person_ids), line


def test_access_log_of_the_oidc_callback_does_not_show_the_providers_code(
    settings: Settings, captured: pytest.LogCaptureFixture
) -> None:
    # Given the app served by escrow run's request handler on loopback
    server = make_server("127.0.0.1", 0, create_app(settings), request_handler=RedactedAccessLogHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # When a browser comes back from the identity provider with a code in the query
        url = f"http://127.0.0.1:{server.server_port}/account/oidc/callback?code=SECRET-CODE-42&state=s1"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url, timeout=10)  # noqa: S310 - loopback http in a test
    finally:
        server.shutdown()
        thread.join()

    # Then the access log names the path, not the query
    access = [r.getMessage() for r in captured.records if r.name == "werkzeug"]
    assert any("/account/oidc/callback?<redacted>" in line for line in access), access
    assert not any("SECRET-CODE-42" in r.getMessage() or "code=" in r.getMessage() for r in captured.records)
