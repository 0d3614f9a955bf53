"""Rate limits that hold with several workers (issue 17 finding 5): memory:// is refused with more than
one worker, a lost store fails closed (503, logged once), and the platform API and the OIDC token
endpoint are limited too, with X-RateLimit-* and Retry-After headers."""

from __future__ import annotations

import dataclasses
import logging
import socket
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from escrow.app import create_app
from escrow.config import Settings
from escrow.errors import ConfigError
from escrow.httpkit import COMPONENTS_KEY, get_components
from tests.credentials_support import add_api_key, add_platform
from tests.staff_support import csrf_token_from

PROBLEM = "application/problem+json"


def _app(settings: Settings, connection: Connection, **changes: Any) -> Flask:
    """An app with changed settings whose requests use the test's rolled-back connection."""
    app = create_app(dataclasses.replace(settings, **changes))
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        get_components(app),
        session_factory=sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
    )
    return app


@pytest.fixture
def dead_redis_url() -> str:
    """A redis:// URL on a loopback port where nothing listens (the shared Redis is left alone)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("variable", ["ESCROW_WORKERS", "WEB_CONCURRENCY"])
def test_memory_rate_limits_with_several_workers_are_refused_at_startup(variable: str) -> None:
    with pytest.raises(ConfigError, match="memory:// rate limits"):
        Settings.from_env({variable: "2"})

    shared = Settings.from_env({variable: "2", "ESCROW_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/3"})
    assert shared.workers == 2
    assert Settings.from_env({}).workers == 1


def test_create_app_refuses_memory_rate_limits_with_several_workers(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="ESCROW_RATELIMIT_STORAGE_URI"):
        create_app(dataclasses.replace(settings, workers=3))


def test_login_fails_closed_when_the_rate_limit_store_is_gone(
    settings: Settings, connection: Connection, dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the app counting logins in a Redis that does not answer
    app = _app(settings, connection, ratelimit_storage_uri=dead_redis_url)
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    form = {"username": "nobody", "password": "wrong password here", "csrf_token": token}

    # When wrong passwords are sent, as a page and as JSON
    with caplog.at_level(logging.WARNING, logger="escrow.app"):
        pages = [client.post("/login", data=form) for _ in range(3)]
        problem = client.post("/login", data=form, headers={"Accept": PROBLEM})

    # Then none is checked: 503 with Retry-After (a page that says so; a problem body for JSON)
    for response in [*pages, problem]:
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
    assert "try again" in pages[0].get_data(as_text=True).lower()
    assert problem.get_json()["code"] == "rate-limit-store-unavailable"
    # And the outage is one log line, not one a request
    lines = [r for r in caplog.records if "ratelimit.store_unavailable" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.ERROR


def test_platform_api_is_rate_limited_per_api_key(
    settings: Settings, connection: Connection, db_session: Session
) -> None:
    # Given a platform with an API key and a limit of 2 a minute
    app = _app(settings, connection, platform_rate_limit="2 per minute")
    add_platform(db_session, "forum")
    headers = {"Authorization": f"Bearer {add_api_key(db_session, 'forum')}"}
    client = app.test_client()

    # When it asks three times
    answers = [
        client.post("/api/v1/credentials/status", json={"credential_ids": ["unknown"]}, headers=headers)
        for _ in range(3)
    ]

    # Then the first two answer with the limit's headers and the third is a 429 problem with Retry-After
    assert answers[0].status_code == answers[1].status_code == 200
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert answers[0].headers["X-RateLimit-Remaining"] == "1"
    assert "Retry-After" not in answers[0].headers  # only a refused request is told to retry
    assert answers[2].status_code == 429
    assert answers[2].mimetype == PROBLEM
    assert int(answers[2].headers["Retry-After"]) > 0
    # Another platform's key has its own budget
    add_platform(db_session, "market")
    other = {"Authorization": f"Bearer {add_api_key(db_session, 'market')}"}
    assert (
        client.post(
            "/api/v1/credentials/status", json={"credential_ids": ["unknown"]}, headers=other
        ).status_code
        != 429
    )


def test_token_endpoint_is_rate_limited(settings: Settings, connection: Connection) -> None:
    app = _app(settings, connection, token_rate_limit="2 per minute")
    client = app.test_client()
    form = {"grant_type": "authorization_code", "code": "guess", "client_id": "nobody"}

    answers = [client.post("/api/v1/oidc/token", data=form) for _ in range(3)]

    assert answers[0].status_code == answers[1].status_code == 400  # no client authentication
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert answers[2].status_code == 429
    assert int(answers[2].headers["Retry-After"]) > 0
