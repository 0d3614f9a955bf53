"""Hostile inputs to the JSON API are 4xx problems, never a 500.

Found by the adversarial review of issue 12 (all five were 500s at 7c744f7 too)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.disclosure_support import World, build_world


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def _status(call: Any) -> int:
    try:
        return int(call().status_code)
    except Exception:  # noqa: BLE001 - a propagated exception is the 500 this test looks for
        return 500


@pytest.mark.parametrize(
    "overrides",
    [
        {"court_id": "\u00b2"},  # str.isdigit() is true for superscript two; int() refuses it
        {"notify_delay_days": "\u00b2"},
        {"expires_at": "9999-12-31T23:00:00-05:00"},  # in the future, but year 10000 in UTC
    ],
    ids=["court-id-superscript", "delay-superscript", "expiry-overflows-in-utc"],
)
def test_malformed_draft_fields_are_a_4xx(world: World, overrides: dict[str, object]) -> None:
    status = _status(lambda: world.draft(**overrides))
    assert 400 <= status < 500, status


def test_a_deeply_nested_json_body_is_a_4xx(world: World) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    status = _status(
        lambda: world.app.test_client().post(
            "/api/v1/keyholders/enrol", data=deep, content_type="application/json"
        )
    )
    assert 400 <= status < 500, status


def test_a_lone_surrogate_in_a_court_name_is_a_4xx(world: World) -> None:
    root = world.client("root")
    body = '{"name": "Court \\ud800", "jurisdiction": "EX"}'
    status = _status(
        lambda: root.post(
            "/api/v1/courts", data=body, content_type="application/json", headers=world.csrf("root")
        )
    )
    assert 400 <= status < 500, status
