"""Disclosure input rules (issue 6): every malformed or forbidden draft, key or court is a 4xx problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from escrow.crypto.transcript import b64u_encode
from tests.disclosure_support import World, build_world


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


@pytest.mark.parametrize(
    ("overrides", "status", "detail"),
    [
        ({"expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}, 422, "expiry"),
        ({"expires_at": "tomorrow"}, 422, "ISO 8601"),
        ({"notify_delay_days": "99999"}, 422, "notification delay"),
        ({"notify_delay_days": "-1"}, 422, "whole number"),
        ({"court_id": "999999"}, 404, "no such court"),
        ({"court_id": "x"}, 422, "court_id"),
        ({"case_number": ""}, 422, "case_number"),
        ({"legal_basis": "x" * 5000}, 422, "legal_basis"),
        ({"scope": []}, 422, "1 to 50"),
        ({"scope": {"a": 1}}, 422, "JSON list"),
        ({"scope": ["x"]}, 422, "each scope entry"),
        ({"court_signature": "short"}, 422, "court_signature"),
    ],
)
def test_malformed_drafts_are_refused(
    world: World, overrides: dict[str, object], status: int, detail: str
) -> None:
    response = world.draft(**overrides)

    assert response.status_code == status, response.get_json()
    assert detail in response.get_json()["detail"]


def test_scope_naming_one_envelope_twice_is_refused(world: World) -> None:
    response = world.draft(scope=world.scope() * 2)
    assert response.status_code == 422
    assert "twice" in response.get_json()["detail"]


def test_courts_are_listed_and_duplicates_or_bad_keys_refused(world: World) -> None:
    root = world.client("root")
    assert [c["name"] for c in root.get("/api/v1/courts").get_json()] == ["District Court of Example"]
    again = {"name": "District Court of Example", "jurisdiction": "EX"}
    assert root.post("/api/v1/courts", json=again, headers=world.csrf("root")).status_code == 409
    bad_key = {"name": "Other", "jurisdiction": "EX", "public_key": "abc"}
    assert root.post("/api/v1/courts", json=bad_key, headers=world.csrf("root")).status_code == 422
    assert (
        world.client("alice").post("/api/v1/courts", json=again, headers=world.csrf("alice")).status_code
        == 403
    )


def test_officer_key_rules(world: World) -> None:
    root = world.client("root")
    taken = b64u_encode(world.officers["alice"].public_key)
    in_use = {"username": "bob", "public_key": taken}
    assert root.post("/api/v1/officers/key", json=in_use, headers=world.csrf("root")).status_code == 409
    not_officer = {"username": "root", "public_key": b64u_encode(b"\x05" * 32)}
    assert root.post("/api/v1/officers/key", json=not_officer, headers=world.csrf("root")).status_code == 422
    nobody = {"username": "nobody", "public_key": b64u_encode(b"\x05" * 32)}
    assert root.post("/api/v1/officers/key", json=nobody, headers=world.csrf("root")).status_code == 404
    assert root.post("/api/v1/officers/key", json=[], headers=world.csrf("root")).status_code == 422


def test_cosigning_twice_or_after_cosigned_is_refused(app: Flask) -> None:
    import dataclasses

    from escrow.client.holder import HolderClientError
    from escrow.httpkit import COMPONENTS_KEY, get_components

    extension = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        extension, settings=dataclasses.replace(extension.settings, disclosure_cosigners=2)
    )
    world = build_world(app)
    request_id = world.draft().get_json()["id"]
    world.sign(request_id, "alice", "submit")
    assert world.sign(request_id, "bob", "cosign")["status"] == "submitted"  # one of two co-signers
    with pytest.raises(HolderClientError, match="already co-signed"):
        world.sign(request_id, "bob", "cosign")
    assert world.sign(request_id, "dave", "cosign")["status"] == "cosigned"
    with pytest.raises(HolderClientError, match="not awaiting co-signatures"):
        world.sign(request_id, "carol", "cosign")


def test_order_larger_than_the_limit_is_refused(world: World) -> None:
    # Called on the service: the test client would spool a body this large to an unclosed temp file.
    from escrow.errors import ValidationError
    from escrow.httpkit import get_components
    from escrow.services.disclosure import MAX_ORDER_BYTES, create_draft
    from escrow.services.staff import StaffView

    officer = StaffView(0, "alice", "Alice", "Forum Legal", frozenset({"legal_officer"}))
    with (
        get_components(world.app).session_factory() as session,
        pytest.raises(ValidationError, match="larger"),
    ):
        create_draft(
            session,
            officer=officer,
            court_id=world.court_id,
            case_number="1",
            order=b"%PDF-" + b"0" * MAX_ORDER_BYTES,
            court_signature_b64=None,
            legal_basis="x",
            scope=world.scope(),
            expires_at=datetime.now(UTC) + timedelta(days=1),
            notify_delay_days=0,
            is_emergency=False,
            now=datetime.now(UTC),
        )
