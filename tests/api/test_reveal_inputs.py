"""The reveal endpoints of issue 14 under bad input: 4xx problem bodies, never a 500, and the OPRF check
is no oracle for guessing other people's identities."""

from __future__ import annotations

import pytest
from flask import Flask

from escrow.crypto.disclosure import ROLE_OPRF_CHECK, oprf_check_digest, sign_officer
from escrow.crypto.oprf import Mode, blind
from escrow.crypto.transcript import b64u_decode, b64u_encode
from tests.disclosure_support import World, build_world


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def _disclosed(world: World) -> int:
    request_id = world.cosigned_request()
    for holder in world.holders[:3]:
        world.approve(holder, request_id)
    return request_id


def _check(world: World, request_id: int, inputs: list[bytes], username: str = "alice") -> object:
    blinded = [bytes(blind(x, mode=Mode.VOPRF)[1]) for x in inputs]
    digest = b64u_decode(world.document(request_id)["digest"])
    signature = sign_officer(
        world.officers[username].signing_seed, ROLE_OPRF_CHECK, oprf_check_digest(digest, blinded)
    )
    return world.app.test_client().post(
        f"/api/v1/disclosures/{request_id}/oprf-check",
        json={"blinded": [b64u_encode(b) for b in blinded], "signature": b64u_encode(signature)},
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"signature": "x"},
        {"signature": 5, "blinded": []},
        {"signature": "", "blinded": "not a list"},
        {"signature": "", "blinded": ["!!"]},
        {"signature": "", "blinded": [b64u_encode(b"\x00" * 32)]},
        {"signature": "", "blinded": [b64u_encode(b"\x01" * 32)] * 50},
        {"signature": "", "blinded": [{"x": 1}]},
    ],
)
def test_malformed_oprf_checks_get_a_problem_body_not_a_500(world: World, payload: object) -> None:
    request_id = _disclosed(world)
    response = world.app.test_client().post(f"/api/v1/disclosures/{request_id}/oprf-check", json=payload)
    assert 400 <= response.status_code < 500
    assert response.get_json()["status"] == response.status_code


@pytest.mark.parametrize("payload", [{}, {"signature": 7}, {"signature": "A" * 86}, [], "x"])
def test_malformed_reveal_fetches_get_a_problem_body_not_a_500(world: World, payload: object) -> None:
    request_id = _disclosed(world)
    response = world.app.test_client().post(f"/api/v1/disclosures/{request_id}/reveal", json=payload)
    assert 400 <= response.status_code < 500
    assert response.get_json()["status"] == response.status_code


def test_the_oprf_check_is_refused_to_anyone_but_the_submitter(world: World) -> None:
    request_id = _disclosed(world)
    assert _check(world, request_id, [b"a guess"], "bob").status_code == 404
    assert _check(world, request_id, [b"a guess"], "dave").status_code == 404


def test_the_oprf_check_is_no_oracle_for_guessing_identities(world: World) -> None:
    # A submitter (or a server replaying their signatures) may evaluate at most two identity keys per
    # pseudonym in scope: not a way to test other people's guessed identities through the nodes.
    request_id = _disclosed(world)
    assert _check(world, request_id, [b"guess 1"]).status_code == 200
    assert _check(world, request_id, [b"guess 2"]).status_code == 200
    refused = _check(world, request_id, [b"guess 3"])
    assert refused.status_code == 422
    assert "at most 2 evaluations" in refused.get_json()["detail"]


def test_the_oprf_check_is_refused_before_disclosure(world: World) -> None:
    request_id = world.cosigned_request()
    response = _check(world, request_id, [b"early"])
    assert response.status_code == 409
