"""The disclosure and ceremony routes' answers and request bodies match the schemas /openapi.json gives
them (issue 19: real schemas instead of bare objects): a whole disclosure, from draft to reveal and a
withdrawal, and the ceremony transcripts, each answer validated with jsonschema against its operation's
schema, and every body the test's clients and the officer and key-holder tools sent (through the test
client: ValidatingClient) against its operation's request schema."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.exceptions import MethodNotAllowed, NotFound

from escrow.client.disclosure import reject
from escrow.client.disclosure.officers import certify_officer
from escrow.client.holder import HolderClient, enrol, new_holder_secrets
from escrow.crypto.disclosure import new_officer_secrets, public_key
from escrow.crypto.transcript import b64u_encode
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


def _errors(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    """jsonschema's messages for ``value`` against ``schema`` (a schema of ``document``), and for any
    member that carries JSON text (contentMediaType application/json) against its contentSchema."""
    validator = Draft202012Validator(
        {**schema, "components": document["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]
    for name, member in schema.get("properties", {}).items():
        if member.get("contentMediaType") == "application/json" and isinstance(value, dict) and name in value:
            errors += [
                f"{name}: {e}" for e in _errors(document, member["contentSchema"], json.loads(value[name]))
            ]
    return errors


def _conforms(document: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """Fails with jsonschema's message unless ``body`` matches what the document says ``method path``
    answers with ``status``."""
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    errors = _errors(document, schema, body)
    assert errors == [], (method, path, status)


def _documented_path(app: Flask, method: str, path: str) -> str:
    rule, _ = app.url_map.bind("escrow.test").match(path.split("?")[0], method, return_rule=True)
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)


class RequestBodies:
    """What every test client of the app sent: per request, the documented operation, the server's status
    and the request schema's complaints about the body (ValidatingClient records them)."""

    def __init__(self, app: Flask, document: dict[str, Any]) -> None:
        self.app, self.document = app, document
        self.seen: list[tuple[str, str, int, list[str]]] = []

    def record(self, method: str, path: str, kwargs: Mapping[str, Any], status: int) -> None:
        try:
            documented = _documented_path(self.app, method, path)
        except (NotFound, MethodNotAllowed):
            return
        operation = self.document["paths"].get(documented, {}).get(method.lower())
        body = (operation or {}).get("requestBody")
        if body is None:
            return  # a web form, or an operation without a body
        media_type, value = _sent(kwargs)
        content = body["content"].get(media_type)
        if content is None:
            errors = [f"{media_type} is not a documented media type"]
        else:
            errors = _errors(self.document, content["schema"], value)
        self.seen.append((method, documented, status, errors))

    def accepted(self) -> set[tuple[str, str]]:
        """The operations the server accepted a body for (2xx)."""
        return {(method, path) for method, path, status, _ in self.seen if status < 300}

    def refused_by_schema(self) -> list[tuple[str, str, int, list[str]]]:
        """The bodies the server accepted but their request schema refuses (each a schema bug)."""
        return [(m, p, status, errors) for m, p, status, errors in self.seen if status < 300 and errors]


def _sent(kwargs: Mapping[str, Any]) -> tuple[str, Any]:
    """The media type and the body a test-client call sends: JSON as its value, a multipart form as a
    mapping of its fields (a file part as its file name: the schema only says it is a string)."""
    if "json" in kwargs:
        return "application/json", kwargs["json"]
    headers = dict(kwargs.get("headers") or {})
    media_type = str(kwargs.get("content_type") or headers.get("Content-Type") or "").split(";")[0]
    data = kwargs.get("data")
    if isinstance(data, Mapping):
        return media_type, {k: v[1] if isinstance(v, tuple) else v for k, v in data.items()}
    if media_type == "application/json" and isinstance(data, bytes | str):
        return media_type, json.loads(data)
    return media_type or "(none)", data


class ValidatingClient(FlaskClient):
    """The app's test client (what the officer and key-holder tools' transports use here, and the
    test's own calls), recording each body it sends against the operation's request schema. The
    request itself goes to the app unchanged."""

    bodies: RequestBodies

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        if args and isinstance(args[0], str):  # not a redirect Werkzeug follows with a builder
            self.bodies.record(str(kwargs.get("method", "GET")), args[0], kwargs, response.status_code)
        return response


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    value: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return value


@pytest.fixture
def bodies(app: Flask, document: dict[str, Any]) -> Iterator[RequestBodies]:
    """Makes every test client of `app` a ValidatingClient; yields what they record."""
    recorded = RequestBodies(app, document)
    app.test_client_class = type("ValidatingTestClient", (ValidatingClient,), {"bodies": recorded})
    yield recorded
    app.test_client_class = None


@pytest.fixture
def client(app: Flask, bodies: RequestBodies) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def world(app: Flask, bodies: RequestBodies) -> World:
    return build_world(app)


def test_a_disclosure_from_draft_to_reveal_answers_and_is_sent_as_documented(
    world: World, document: dict[str, Any], bodies: RequestBodies
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
    assert [r.verdict for r in world.reveal(request_id)] == ["verified"]

    # Every body the officer and key-holder tools (and the test's own draft) sent matches its schema
    assert bodies.refused_by_schema() == []
    assert {
        ("POST", "/api/v1/keyholders/enrol"),
        ("POST", "/api/v1/ceremonies/{ceremony_id}/messages"),
        ("POST", "/api/v1/holder/roster/{version}/sign"),
        ("POST", "/api/v1/disclosures"),
        ("POST", "/api/v1/disclosures/{request_id}/submit"),
        ("POST", "/api/v1/disclosures/{request_id}/cosign"),
        ("POST", "/api/v1/disclosures/{request_id}/extensions"),
        ("POST", "/api/v1/holder/disclosures/{request_id}/approve"),
        ("POST", "/api/v1/disclosures/{request_id}/reveal"),
        ("POST", "/api/v1/disclosures/{request_id}/oprf-check"),
    } <= bodies.accepted()


def test_a_withdrawn_disclosure_answers_and_is_sent_as_documented(
    world: World, document: dict[str, Any], bodies: RequestBodies
) -> None:
    request_id = world.cosigned_request()
    world.extend(request_id, "alice", 30)
    cosigned = world.cosign_extension(request_id, 1, "bob")
    _conforms(
        document, "post", "/api/v1/disclosures/{request_id}/extensions/{sequence}/cosign", 200, cosigned
    )

    withdrawn = world.withdraw(request_id, "alice")

    assert withdrawn["status"] == "withdrawn"
    _conforms(document, "post", "/api/v1/disclosures/{request_id}/withdraw", 200, withdrawn)
    assert bodies.refused_by_schema() == []
    assert {
        ("POST", "/api/v1/disclosures/{request_id}/extensions/{sequence}/cosign"),
        ("POST", "/api/v1/disclosures/{request_id}/withdraw"),
    } <= bodies.accepted()


def test_a_rejection_is_sent_as_documented(world: World, bodies: RequestBodies) -> None:
    request_id = world.cosigned_request()

    rejected = reject(
        world.holders[0].client, world.holders[0].secrets, world.check(world.holders[0], request_id), "no"
    )

    assert rejected["rejections"] == 1
    assert bodies.refused_by_schema() == []
    assert ("POST", "/api/v1/holder/disclosures/{request_id}/reject") in bodies.accepted()


def test_keys_courts_certificates_and_rosters_are_sent_as_documented(
    world: World, document: dict[str, Any], bodies: RequestBodies
) -> None:
    """What `escrow officer init` and `escrow org certify` make, and an admin's court and roster, posted
    to the API as their instructions say."""
    carol = world.client("carol")
    new_key = new_officer_secrets("carol")
    registered = carol.post(
        "/api/v1/officers/key",
        json={"public_key": b64u_encode(new_key.public_key)},
        headers=world.csrf("carol"),
    )
    assert registered.status_code == 201, registered.get_json()
    _conforms(document, "post", "/api/v1/officers/key", 201, registered.get_json())
    record = certify_officer(
        world.org_seeds["Forum Legal"],
        username="carol",
        organisation="Forum Legal",
        officer_key_b64=b64u_encode(new_key.public_key),
        not_before=world.now() - timedelta(minutes=5),
        not_after=world.now() + timedelta(days=365),
    )
    certified = carol.post("/api/v1/officers/certificate", json=record, headers=world.csrf("carol"))
    assert certified.status_code == 201, certified.get_json()
    _conforms(document, "post", "/api/v1/officers/certificate", 201, certified.get_json())

    root = world.client("root")
    court_key = b64u_encode(public_key(os.urandom(32)))
    court = root.post(
        "/api/v1/courts",
        json={"name": "Court of Appeal of Example", "jurisdiction": "EX", "public_key": court_key},
        headers=world.csrf("root"),
    )
    assert court.status_code == 201, court.get_json()
    _conforms(document, "post", "/api/v1/courts", 201, court.get_json())
    current = world.roster()
    proposal = {
        "courts": [c.to_dict() for c in current.courts]
        + [{"name": "Court of Appeal of Example", "jurisdiction": "EX", "public_key": court_key}],
        "organisations": [o.to_dict() for o in current.organisations],
    }
    proposed = root.post("/api/v1/admin/roster", json=proposal, headers=world.csrf("root"))
    assert proposed.status_code == 201, proposed.get_json()
    _conforms(document, "post", "/api/v1/admin/roster", 201, proposed.get_json())

    assert bodies.refused_by_schema() == []
    assert {
        ("POST", "/api/v1/officers/key"),
        ("POST", "/api/v1/officers/certificate"),
        ("POST", "/api/v1/courts"),
        ("POST", "/api/v1/admin/roster"),
    } <= bodies.accepted()


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


def test_key_holder_enrolment_and_a_ceremony_answer_and_are_sent_as_documented(
    app: Flask,
    client: FlaskClient,
    document: dict[str, Any],
    bodies: RequestBodies,
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
    # ... and every body the admin and the holders' tool sent matches its request schema
    assert bodies.refused_by_schema() == []
    assert {
        ("POST", "/api/v1/admin/keyholders"),
        ("POST", "/api/v1/keyholders/enrol"),
        ("POST", "/api/v1/admin/ceremonies"),
        ("POST", "/api/v1/ceremonies/{ceremony_id}/messages"),
        ("POST", "/api/v1/admin/ceremonies/{ceremony_id}/cancel"),
    } <= bodies.accepted()


@pytest.mark.parametrize("path", ["/api/v1/admin/ceremonies", "/api/v1/admin/reshares"])
def test_a_key_holder_id_beyond_the_documented_range_is_a_422_not_a_500(
    client: FlaskClient,
    document: dict[str, Any],
    path: str,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    """The schemas bound holder ids by the id column (1 to 2**31 - 1); a larger one once reached the
    database and failed there (500 on SQLite and PostgreSQL)."""
    login_as("ada", "admin")
    csrf = {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    beyond = schema["properties"]["holders"]["items"]["maximum"] + 1
    body = {"threshold": 2, "dealers": [1, 2], "holders": [beyond, 2**70]}

    response = client.post(path, json=body, headers=csrf)

    assert _errors(document, schema, body) != []
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["detail"] == "field 'holders' must be a list of key-holder ids"
