"""The disclosure and ceremony routes' answers match the schemas /openapi.json gives them (issue 19:
real schemas instead of bare objects): a whole disclosure, from draft to reveal and a withdrawal,
and the ceremony transcripts, each answer validated with jsonschema against its operation's schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from escrow.client.holder import HolderClient, enrol, new_holder_secrets
from tests.api.holders import FlaskTransport, Holder, run_ceremony
from tests.disclosure_support import World, build_world


class RecordingTransport(FlaskTransport):
    """The holder tool's transport over the test client, keeping every answer it got."""

    def __init__(self, client: FlaskClient, answers: list[tuple[str, str, int, Any]]) -> None:
        super().__init__(client)
        self.answers = answers

    def __call__(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        status, answer = super().__call__(method, path, body, headers)
        self.answers.append((method, path, status, answer))
        return status, answer


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    value: dict[str, Any] = client.get("/openapi.json").get_json()
    return value


def _conforms(document: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """Fails with jsonschema's message unless ``body`` matches what the document says ``method path``
    answers with ``status``."""
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    validator = Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert errors == [], (method, path, status)


def test_a_disclosure_from_draft_to_reveal_answers_as_documented(
    world: World, document: dict[str, Any]
) -> None:
    alice = world.client("alice")
    policy = world.app.test_client().get("/api/v1/disclosures/policy")
    _conforms(document, "get", "/api/v1/disclosures/policy", 200, policy.get_json())
    courts = alice.get("/api/v1/courts")
    _conforms(document, "get", "/api/v1/courts", 200, courts.get_json())

    draft = world.draft()
    _conforms(document, "post", "/api/v1/disclosures", 201, draft.get_json())
    request_id = draft.get_json()["id"]
    submitted = world.sign(request_id, "alice", "submit")
    _conforms(document, "post", "/api/v1/disclosures/{request_id}/submit", 200, submitted)
    cosigned = world.sign(request_id, "bob", "cosign")
    _conforms(document, "post", "/api/v1/disclosures/{request_id}/cosign", 200, cosigned)
    extended = world.extend(request_id, "alice", 30)
    _conforms(document, "post", "/api/v1/disclosures/{request_id}/extensions", 201, extended)

    holder = world.holders[0].client
    _conforms(
        document,
        "get",
        "/api/v1/holder/disclosures",
        200,
        holder.request("GET", "/api/v1/holder/disclosures"),
    )
    package = holder.request("GET", f"/api/v1/holder/disclosures/{request_id}")
    _conforms(document, "get", "/api/v1/holder/disclosures/{request_id}", 200, package)
    for h in world.holders[:3]:
        approved = world.approve(h, request_id)
        _conforms(document, "post", "/api/v1/holder/disclosures/{request_id}/approve", 200, approved)
    assert approved["status"] == "disclosed"

    _conforms(document, "get", "/api/v1/disclosures/{request_id}", 200, world.document(request_id))
    _conforms(document, "get", "/api/v1/disclosures", 200, alice.get("/api/v1/disclosures").get_json())
    reveal = world.reveal_post(request_id)
    assert reveal.status_code == 200, reveal.get_json()
    _conforms(document, "post", "/api/v1/disclosures/{request_id}/reveal", 200, reveal.get_json())


def test_a_withdrawn_disclosure_answers_as_documented(world: World, document: dict[str, Any]) -> None:
    request_id = world.cosigned_request()

    withdrawn = world.withdraw(request_id, "alice")

    assert withdrawn["status"] == "withdrawn"
    _conforms(document, "post", "/api/v1/disclosures/{request_id}/withdraw", 200, withdrawn)


def test_ceremony_summaries_and_transcripts_answer_as_documented(
    world: World, document: dict[str, Any]
) -> None:
    client = world.app.test_client()
    summaries = client.get("/api/v1/ceremonies").get_json()
    assert summaries, "the world's escrow key came from a recorded ceremony"
    _conforms(document, "get", "/api/v1/ceremonies", 200, summaries)
    for summary in summaries:
        transcript = client.get(f"/api/v1/ceremonies/{summary['id']}")
        assert transcript.status_code == 200
        _conforms(document, "get", "/api/v1/ceremonies/{ceremony_id}", 200, transcript.get_json())


def _documented_path(app: Flask, method: str, path: str) -> str:
    rule, _ = app.url_map.bind("escrow.test").match(path.split("?")[0], method, return_rule=True)
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)


def test_key_holder_enrolment_and_a_ceremony_answer_as_documented(
    app: Flask,
    client: FlaskClient,
    document: dict[str, Any],
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    login_as("ada", "admin")
    csrf = {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}
    answers: list[tuple[str, str, int, Any]] = []
    holders = []
    for i in range(2):
        invited = client.post(
            "/api/v1/admin/keyholders",
            json={"name": f"Holder {i}", "organisation": f"Org {i}", "contact": f"h{i}@example.org"},
            headers=csrf,
        )
        _conforms(document, "post", "/api/v1/admin/keyholders", 201, invited.get_json())
        secrets = new_holder_secrets(f"Holder {i}")
        transport = RecordingTransport(client, answers)
        record = enrol(transport, invited.get_json()["invitation"], secrets)
        holders.append(Holder(record["id"], secrets, HolderClient(transport, secrets.signing_seed)))
    opened = client.post(
        "/api/v1/admin/ceremonies", json={"threshold": 2, "holders": [h.id for h in holders]}, headers=csrf
    )
    _conforms(document, "post", "/api/v1/admin/ceremonies", 201, opened.get_json())

    assert run_ceremony(client, holders, opened.get_json()["id"]) == "active"
    holders[0].client.request("GET", "/api/v1/keyholders/me")
    second = client.post(
        "/api/v1/admin/ceremonies", json={"threshold": 2, "holders": [h.id for h in holders]}, headers=csrf
    )
    cancelled = client.post(
        f"/api/v1/admin/ceremonies/{second.get_json()['id']}/cancel", json={"reason": "drill"}, headers=csrf
    )
    _conforms(document, "post", "/api/v1/admin/ceremonies/{ceremony_id}/cancel", 200, cancelled.get_json())

    # Every answer the holders' tool got (enrolment, messages, its own record) matches its schema
    checked = set()
    for method, path, status, answer in answers:
        assert status < 300, (method, path, answer)
        documented = _documented_path(app, method, path)
        _conforms(document, method.lower(), documented, status, answer)
        checked.add((method, documented))
    assert {
        ("POST", "/api/v1/keyholders/enrol"),
        ("GET", "/api/v1/keyholders/me"),
        ("POST", "/api/v1/ceremonies/{ceremony_id}/messages"),
        ("GET", "/api/v1/ceremonies/{ceremony_id}"),
    } <= checked
