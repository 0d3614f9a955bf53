"""What the bounded schemathesis run (tests/fuzz, `make fuzz`) found, one regression test each: every
answer below is a status the server really gives, and /openapi.json now documents it for that
operation (status-code conformance: an undocumented status fails the fuzz run)."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from escrow.app import create_app
from escrow.config import Settings
from escrow.httpkit import COMPONENTS_KEY, get_components
from tests.credentials_support import add_api_key, add_platform

PROBLEM = "application/problem+json"


def _documented(client: FlaskClient, method: str, path: str) -> set[str]:
    document: dict[str, Any] = client.get("/openapi.json").get_json()
    return set(document["paths"][path][method]["responses"])


def _limited_app(settings: Settings, connection: Connection) -> Flask:
    """The app with a limit of one request a minute on the platform API and the token endpoint."""
    app = create_app(
        dataclasses.replace(settings, platform_rate_limit="1 per minute", token_rate_limit="1 per minute")
    )
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        get_components(app),
        session_factory=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
    )
    return app


def test_fuzz_finding_a_malformed_after_on_log_checkpoints_is_a_documented_422(client: FlaskClient) -> None:
    # Schemathesis sent after=null twice; the document promised only 200 and 400
    answer = client.get("/api/v1/log/checkpoints?after=null&after=null")

    assert answer.status_code == 422
    assert answer.mimetype == PROBLEM
    assert "422" in _documented(client, "get", "/api/v1/log/checkpoints")
    assert "400" not in _documented(client, "get", "/api/v1/log/checkpoints")  # it never answers 400


def test_fuzz_finding_a_form_field_without_a_name_on_the_token_endpoint_is_a_documented_422(
    client: FlaskClient,
) -> None:
    # A form with an empty field name ("=x") is refused before any view (httpkit.refuse_malformed_input)
    answer = client.post(
        "/api/v1/oidc/token",
        data="=x&grant_type=refresh_token&refresh_token=",
        content_type="application/x-www-form-urlencoded",
    )

    assert answer.status_code == 422
    assert answer.get_json()["detail"] == "a form field has no name"
    assert "422" in _documented(client, "post", "/api/v1/oidc/token")


def test_fuzz_finding_every_operation_documents_the_422_of_a_nul_in_its_query(client: FlaskClient) -> None:
    document: dict[str, Any] = client.get("/openapi.json").get_json()

    answer = client.get("/api/v1/transparency/report?x=%00")

    assert answer.status_code == 422
    assert [
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "422" not in operation["responses"]
    ] == []


def test_fuzz_finding_the_token_endpoint_past_its_rate_limit_is_a_documented_429(
    settings: Settings, connection: Connection
) -> None:
    client = _limited_app(settings, connection).test_client()
    form = {"grant_type": "authorization_code", "code": "guess", "client_id": "nobody"}

    answers = [client.post("/api/v1/oidc/token", data=form) for _ in range(2)]

    assert answers[1].status_code == 429
    assert {"429", "503"} <= _documented(client, "post", "/api/v1/oidc/token")


def test_fuzz_finding_every_platform_api_operation_documents_its_rate_limit_429(
    settings: Settings, connection: Connection, db_session: Session
) -> None:
    client = _limited_app(settings, connection).test_client()
    add_platform(db_session, "forum")
    calls = [
        ("post", "/api/v1/credentials/verify", "/api/v1/credentials/verify", {"credential": "x"}),
        ("post", "/api/v1/credentials/status", "/api/v1/credentials/status", {"credential_ids": []}),
        ("post", "/api/v1/credentials/{credential_id}/revoke", "/api/v1/credentials/unknown/revoke", None),
    ]
    for method, path, url, body in calls:
        # The limit is per API key and shared by the blueprint: a fresh key for each operation
        headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}
        answers = [client.post(url, json=body, headers=headers) for _ in range(2)]

        assert answers[1].status_code == 429, (url, answers[1].get_json())
        assert {"429", "503"} <= _documented(client, method, path), path
