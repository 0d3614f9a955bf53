"""When the OPRF nodes do not answer (issue 13), JSON clients get a 503 problem with Retry-After."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.httpkit import COMPONENTS_KEY, get_components
from escrow.models import Person
from tests.oprf_support import OprfNetwork, unreachable_client

BODY = {
    "document_type": "id_card",
    "issuing_country": "DEU",
    "document_number": "L01X00T47",
    "name": "Ida Example",
    "birthdate": "1977-07-07",
    "password": "another long password",
}


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def test_registering_in_person_while_the_nodes_are_down_is_a_503_problem(
    app: Flask,
    login_as: Any,
    db_session: Session,
    escrow_key: ThresholdPublicKey,
    oprf_network: OprfNetwork,
) -> None:
    # Given an officer, and OPRF nodes that do not answer
    officer = login_as("olga", "verification_officer")
    components = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(components, oprf=unreachable_client(oprf_network))

    # When the officer registers a person
    response = officer.post("/api/v1/officer/persons", json=BODY, headers=_csrf(officer))

    # Then the answer is a 503 problem that says to try again, and nobody was registered
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers.get("Retry-After") == "5"
    problem = response.get_json()
    assert (problem["status"], problem["code"], problem["title"]) == (
        503,
        "oprf-unavailable",
        "Service Unavailable",  # type about:blank: the status phrase (RFC 9457 4.2.1); code says which
    )
    assert "try again" in problem["detail"]
    assert db_session.scalar(select(func.count()).select_from(Person)) == 0
