"""Server-side pagination of every list page (issue 8): ?page=N, Previous/Next, 400/404 for bad pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.httpkit import get_components
from escrow.services.keyholders import invite_keyholder
from escrow.services.pagination import PAGE_SIZE
from escrow.services.platforms import create_api_key, register_platform
from tests.conftest import STAFF_PASSWORD, csrf_token_from
from tests.oidc_support import PASSWORD, csrf_token_in, register_person, setup_provider

# (role of the viewer, list page) for every paginated staff page
STAFF_LISTS = [
    ("admin", "/admin/platforms"),
    ("admin", "/admin/officers"),
    ("admin", "/admin/keyholders"),
    ("admin", "/admin/ceremonies"),
    ("admin", "/admin/courts"),
    ("legal_officer", "/officer/disclosures"),
]


def _session(app: Flask) -> Session:
    return get_components(app).session_factory()


def _platforms(app: Flask, count: int) -> None:
    extension = get_components(app)
    with _session(app) as session:
        for i in range(count):
            register_platform(
                session,
                platform_id=f"p{i:03d}",
                name=f"Platform {i:03d}",
                contact="abuse@example.org",
                redirect_uris=[],
                log=extension.log,
                now=datetime.now(UTC),
            )


def _rows(html: str, pattern: str) -> list[str]:
    return re.findall(pattern, html)


def _pager(html: str) -> str:
    match = re.search(r'<nav class="pagination" aria-label="Pages">(.*?)</nav>', html, re.S)
    assert match, "the page has a pager"
    return match.group(1)


def test_admin_platforms_page_two_holds_the_item_past_a_full_page(
    app: Flask, client: FlaskClient, login_as
) -> None:  # type: ignore[no-untyped-def]
    # Given one platform more than fits on a page
    _platforms(app, PAGE_SIZE + 1)
    login_as("ada", "admin")
    # When the admin opens the list
    first = client.get("/admin/platforms").get_data(as_text=True)
    # Then page 1 has a full page, a Next link and no Previous link
    assert len(_rows(first, r'href="/admin/platforms/p\d{3}"')) == PAGE_SIZE
    pager = _pager(first)
    assert "Page 1 of 2" in pager
    assert 'href="/admin/platforms?page=2" rel="next" aria-label="Next page, page 2 of 2"' in pager
    assert 'rel="prev"' not in pager
    # and page 2 the one left over, with a Previous link
    second = client.get("/admin/platforms?page=2").get_data(as_text=True)
    assert _rows(second, r'href="/admin/platforms/(p\d{3})"') == [f"p{PAGE_SIZE:03d}"]
    pager = _pager(second)
    assert "Page 2 of 2" in pager
    assert 'href="/admin/platforms?page=1" rel="prev"' in pager
    assert 'rel="next"' not in pager


def test_a_single_page_has_no_pager(client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("ada", "admin")
    assert 'class="pagination"' not in client.get("/admin/platforms").get_data(as_text=True)


@pytest.mark.parametrize(("role", "path"), STAFF_LISTS)
@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "", "01", "99999999999"])
def test_a_malformed_page_is_a_400_page(
    client: FlaskClient, login_as, role: str, path: str, page: str
) -> None:  # type: ignore[no-untyped-def]
    login_as("someone", role)
    response = client.get(f"{path}?page={page}")
    assert response.status_code == 400
    assert "Invalid page number" in response.get_data(as_text=True)


@pytest.mark.parametrize(("role", "path"), STAFF_LISTS)
def test_a_page_past_the_last_is_a_404_page(client: FlaskClient, login_as, role: str, path: str) -> None:  # type: ignore[no-untyped-def]
    login_as("someone", role)
    assert client.get(f"{path}?page=1").status_code == 200
    response = client.get(f"{path}?page=2")
    assert response.status_code == 404
    assert "No such page" in response.get_data(as_text=True)


def test_bad_page_as_json_is_a_problem(client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as("ada", "admin")
    response = client.get("/admin/platforms?page=x", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid-page"


def test_keyholders_and_officers_paginate(app: Flask, client: FlaskClient, login_as, make_staff) -> None:  # type: ignore[no-untyped-def]
    extension = get_components(app)
    with _session(app) as session:
        for i in range(PAGE_SIZE + 1):
            invite_keyholder(
                session,
                name=f"Holder {i}",
                organisation="Org",
                contact="x@example.org",
                log=extension.log,
                now=datetime.now(UTC),
            )
    for i in range(PAGE_SIZE + 1):
        make_staff(f"officer{i:03d}", "verification_officer")
    make_staff("olga", "legal_officer")  # another role: not in the officers' list
    login_as("ada", "admin")
    assert "Page 2 of 2" in client.get("/admin/keyholders?page=2").get_data(as_text=True)
    second = client.get("/admin/officers?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert f"officer{PAGE_SIZE:03d}" in second
    assert "olga" not in second
    assert client.get("/admin/officers?page=3").status_code == 404


def test_platform_api_keys_paginate(app: Flask, client: FlaskClient, make_staff) -> None:  # type: ignore[no-untyped-def]
    _platforms(app, 1)
    extension = get_components(app)
    with _session(app) as session:
        prefixes = [
            create_api_key(session, platform_id="p000", log=extension.log, now=datetime.now(UTC)).info.prefix
            for _ in range(PAGE_SIZE + 1)
        ]
    make_staff("p-staff", "platform", platform="p000")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "p-staff", "password": STAFF_PASSWORD, "csrf_token": token})
    first = client.get("/platform/api-keys").get_data(as_text=True)
    assert prefixes[-1] in first  # newest first
    assert prefixes[0] not in first
    second = client.get("/platform/api-keys?page=2").get_data(as_text=True)
    assert prefixes[0] in second
    assert 'href="/platform/api-keys?page=1" rel="prev"' in _pager(second)
    assert client.get("/platform/api-keys?page=3").status_code == 404
    assert client.get("/platform/api-keys?page=two").status_code == 400


def test_admin_platform_page_paginates_its_api_keys(app: Flask, client: FlaskClient, login_as) -> None:  # type: ignore[no-untyped-def]
    _platforms(app, 1)
    extension = get_components(app)
    with _session(app) as session:
        for _ in range(PAGE_SIZE + 1):
            create_api_key(session, platform_id="p000", log=extension.log, now=datetime.now(UTC))
    login_as("ada", "admin")
    first = client.get("/admin/platforms/p000").get_data(as_text=True)
    assert 'href="/admin/platforms/p000?page=2" rel="next"' in _pager(first)
    assert client.get("/admin/platforms/p000?page=2").status_code == 200
    assert client.get("/admin/platforms/p000?page=x").status_code == 400


def test_person_credentials_paginate(app: Flask, client: FlaskClient) -> None:
    # Given a person with one credential more than fits on a page
    session = _session(app)
    setup_provider(session, app)
    register_person(session, app)
    _platforms(app, 1)
    page = client.get("/account/login").get_data(as_text=True)
    client.post(
        "/account/login",
        data={
            "issuing_country": "BEL",
            "document_number": "P1234567",
            "password": PASSWORD,
            "csrf_token": csrf_token_in(page),
        },
    )
    token = csrf_token_in(client.get("/account/credentials").get_data(as_text=True))
    for _ in range(PAGE_SIZE + 1):
        assert (
            client.post("/account/credentials", data={"platform_id": "p000", "csrf_token": token}).status_code
            == 200
        )
    # Then the list has two pages
    first = client.get("/account/credentials").get_data(as_text=True)
    assert 'href="/account/credentials?page=2" rel="next"' in _pager(first)
    second = client.get("/account/credentials?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert len(_rows(second, r"<td>p000</td>")) == 1
    assert client.get("/account/credentials?page=3").status_code == 404
    assert client.get("/account/credentials?page=-3").status_code == 400
