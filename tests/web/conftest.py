"""Fixtures of the Sign in with escrow pages (issue 19): a movable clock, a provider with a person and
two confidential platforms, and that person signed in."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.httpkit import COMPONENTS_KEY, get_components
from tests.oidc_support import (
    CLOCK_START,
    MovableClock,
    add_client,
    log_in,
    register_person,
    setup_provider,
    use_clock,
)


@pytest.fixture
def oidc_clock(app: Flask) -> MovableClock:
    clock = MovableClock(CLOCK_START)
    use_clock(app, clock)
    # These tests move the clock by hours while the person stays signed in: sessions that outlast
    # them (tests/web/test_server_sessions.py checks the default timeouts).
    components = get_components(app)
    long_sessions = dataclasses.replace(
        components.settings, session_idle_minutes=7 * 24 * 60, session_absolute_hours=7 * 24
    )
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(components, settings=long_sessions)
    return clock


@pytest.fixture
def oidc_provider(app: Flask, oidc_clock: MovableClock) -> Session:
    """The provider with a key and a registered person (on the movable clock)."""
    session = get_components(app).session_factory()
    setup_provider(session, app)
    register_person(session, app)
    return session


@pytest.fixture
def oidc_platforms(app: Flask, oidc_provider: Session) -> dict[str, str]:
    """Two confidential platforms, forum and market: their client secrets."""
    forum, market = add_client(oidc_provider, app, "forum"), add_client(oidc_provider, app, "market")
    assert forum is not None
    assert market is not None
    return {"forum": forum, "market": market}


@pytest.fixture
def oidc_person(client: FlaskClient, oidc_provider: Session) -> FlaskClient:
    """The test client with the person signed in."""
    assert log_in(client).status_code == 302
    return client
