"""Issue 17, finding 8: the Host header is never trusted. Pages that print commands name the server
by ESCROW_ISSUER_URL only, whatever Host a request (or a poisoned cache in front) carries."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from escrow.httpkit import get_components
from escrow.models import Ceremony
from tests.disclosure_support import World, build_world
from tests.staff_support import csrf_token_from

EVIL = {"Host": "evil.example"}


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def _as_evil(client: FlaskClient) -> FlaskClient:
    """The signed-in client's cookies, also sent to evil.example (a proxy passing any Host on)."""
    session = client.get_cookie("session", domain="localhost")
    assert session is not None
    client.set_cookie("session", session.value, domain="evil.example")
    return client


def _assert_configured_server(page: str, app: Flask) -> None:
    issuer = get_components(app).settings.issuer_url.rstrip("/")
    assert "evil.example" not in page
    assert page.count("--server ") == page.count(f"--server {issuer}"), page


def test_host_header_does_not_change_the_server_in_printed_commands(world: World) -> None:
    # Given a ceremony, a key-holder and a cosigned disclosure request
    app = world.app
    with get_components(app).session_factory() as session:
        ceremony_id = session.scalars(select(Ceremony.id)).first()
    request_id = world.cosigned_request()
    anonymous = app.test_client()

    # When each page that prints a command is asked for with Host: evil.example
    pages = [
        anonymous.get(f"/ceremonies/{ceremony_id}", headers=EVIL),
        anonymous.get(f"/keyholders/{world.holders[0].id}", headers=EVIL),
        anonymous.get(f"/keyholder/disclosures/{request_id}", headers=EVIL),
        _as_evil(world.client("alice")).get(f"/officer/disclosures/{request_id}", headers=EVIL),
    ]

    # Then every command names the configured server (the key-holder page, enrolled and with no
    # ceremony running, prints none)
    for response in pages:
        assert response.status_code == 200, response.status_code
        _assert_configured_server(response.get_data(as_text=True), app)
    assert all("--server " in r.get_data(as_text=True) for r in (pages[0], pages[2], pages[3]))


def test_host_header_does_not_change_the_server_on_the_invitation_page(world: World) -> None:
    admin = world.client("root")
    token = csrf_token_from(admin.get("/admin/keyholders").get_data(as_text=True))

    response = _as_evil(admin).post(
        "/admin/keyholders",
        data={"name": "New Holder", "organisation": "Org", "contact": "n@example.org", "csrf_token": token},
        headers=EVIL,
    )

    assert response.status_code == 200
    assert "--server " in response.get_data(as_text=True)
    _assert_configured_server(response.get_data(as_text=True), world.app)
