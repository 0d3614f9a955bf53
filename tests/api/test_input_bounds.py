"""Issue 17, finding 3: integers beyond their column's range and NUL characters are 4xx problems,
the same on SQLite and PostgreSQL (once OverflowError, DataError or a silently stored "c\\0")."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.models import Court
from tests.disclosure_support import World, build_world
from tests.staff_support import csrf_token_from

BEYOND_64_BITS = "99999999999999999999"
BEYOND_INT4 = str(2**31)  # an id column is int4 on PostgreSQL


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


@pytest.mark.parametrize("number", [BEYOND_64_BITS, BEYOND_INT4])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/ceremonies/{n}"),
        ("POST", "/api/v1/ceremonies/{n}/messages"),
        ("GET", "/keyholder/disclosures/{n}"),
        ("GET", "/api/v1/holder/disclosures/{n}"),
        ("POST", "/api/v1/disclosures/{n}/submit"),
        ("GET", "/officer/disclosures/{n}"),
        ("GET", "/keyholders/{n}"),
    ],
)
def test_an_id_beyond_its_columns_range_is_a_404_problem_not_a_500(
    client: FlaskClient, method: str, path: str, number: str
) -> None:
    response = client.open(path.format(n=number), method=method, headers={"Accept": "application/json"})

    assert response.status_code == 404, response.status_code
    assert response.mimetype == "application/problem+json"


def test_a_checkpoint_size_beyond_64_bits_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get(f"/api/v1/log/checkpoints/{BEYOND_64_BITS}")
    in_range = client.get(f"/api/v1/log/checkpoints/{2**63 - 1}")

    assert response.status_code == 404
    assert response.get_json()["code"] == "not-found"
    assert in_range.status_code == 404  # within the column: asked, and not there


def test_a_nul_in_a_court_name_is_a_422_and_nothing_is_stored(world: World, db_session: Session) -> None:
    root = world.client("root")
    courts_before = len(db_session.scalars(select(Court.id)).all())

    response = root.post(
        "/api/v1/courts", json={"name": "c\u0000", "jurisdiction": "EX"}, headers=world.csrf("root")
    )

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["code"] == "validation-failed"
    assert len(db_session.scalars(select(Court.id)).all()) == courts_before


def test_a_nul_in_a_path_id_is_a_422(client: FlaskClient) -> None:
    response = client.post("/api/v1/credentials/a%00b/revoke", headers={"Authorization": "Bearer esk_x"})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_a_nul_in_a_query_parameter_is_a_422(client: FlaskClient) -> None:
    response = client.get("/api/v1/log/entries?start=0%00&end=1")

    assert response.status_code == 422


def test_a_nul_in_a_form_field_is_a_422_page(client: FlaskClient) -> None:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))

    response = client.post("/login", data={"username": "ad\u0000min", "password": "x", "csrf_token": token})

    assert response.status_code == 422
    assert "text/html" in response.content_type


def test_an_integer_beyond_64_bits_in_a_json_body_is_a_422(world: World) -> None:
    root = world.client("root")

    response = root.post(
        "/api/v1/admin/ceremonies",
        json={"threshold": 10**30, "holders": []},
        headers=world.csrf("root"),
    )

    assert 400 <= response.status_code < 500, response.status_code


@pytest.mark.parametrize("path", ["/login", "/api/v1/me/credentials", "/api/v1/disclosures"])
def test_a_multipart_part_without_a_field_name_is_a_422_not_a_csrf_crash(
    client: FlaskClient, path: str
) -> None:
    body = b"--B\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--B--\r\n"

    response = client.post(path, data=body, content_type="multipart/form-data; boundary=B")

    assert response.status_code == 422, response.status_code
