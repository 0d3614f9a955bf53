"""The OpenAPI document is good enough to generate clients from (issue 19): valid OpenAPI 3.1 by a
third-party validator (openapi-spec-validator), a unique operationId on every operation, a real
schema for every success response and every request body, and ``servers``."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate

_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    value: dict[str, Any] = client.get("/openapi.json").get_json()
    return value


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _is_bare(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and not (
        schema.get("properties") or schema.get("additionalProperties") or "maxProperties" in schema
    )


def test_document_is_valid_openapi_3_1_for_a_third_party_validator(document: dict[str, Any]) -> None:
    validate(document)  # raises OpenAPIValidationError with the path of the first fault


def test_every_operation_has_a_unique_operation_id(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId") for _method, _path, operation in _operations(document)]

    assert None not in ids
    assert len(ids) == len(set(ids))
    assert (
        document["paths"]["/api/v1/log/checkpoints/{size}"]["get"]["operationId"] == "getLogCheckpointsBySize"
    )
    assert document["paths"]["/api/v1/oidc/token"]["post"]["operationId"] == "postOidcToken"


def test_success_responses_have_real_schemas(document: dict[str, Any]) -> None:
    bare = set()
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            response = _resolve(document, response)
            for content in (response.get("content") or {}).values():
                if str(status).startswith("2") and _is_bare(_resolve(document, content.get("schema", {}))):
                    bare.add((method, path))

    assert sorted(bare) == []


def test_request_bodies_have_real_schemas(document: dict[str, Any]) -> None:
    bare = set()
    for method, path, operation in _operations(document):
        body = _resolve(document, operation.get("requestBody") or {})
        for media_type, content in (body.get("content") or {}).items():
            if _is_bare(_resolve(document, content.get("schema", {}))):
                bare.add((method, path, media_type))

    assert sorted(bare) == []


def test_request_schemas_name_the_members_they_require(document: dict[str, Any]) -> None:
    """Every required member of a request body is described (a typo in `required` would refuse every
    body a client sends)."""
    undescribed = set()
    for method, path, operation in _operations(document):
        body = _resolve(document, operation.get("requestBody") or {})
        for content in (body.get("content") or {}).values():
            schema = _resolve(document, content.get("schema", {}))
            missing = set(schema.get("required", [])) - set(schema.get("properties", {}))
            if missing:
                undescribed.add((method, path, tuple(sorted(missing))))

    assert sorted(undescribed) == []


def test_document_names_its_server(document: dict[str, Any]) -> None:
    assert document["servers"] == [
        {"url": "http://escrow.test", "description": "this escrow instance (its issuer URL)"}
    ]


def test_parameters_are_described(document: dict[str, Any]) -> None:
    undescribed = [
        (method, path, parameter["name"])
        for method, path, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]

    assert undescribed == []


def test_every_body_can_be_too_large_and_json_bodies_can_be_the_wrong_media_type(
    document: dict[str, Any],
) -> None:
    for _method, _path, operation in _operations(document):
        body = operation.get("requestBody")
        if body is None:
            continue
        assert "413" in operation["responses"]
        if "application/json" in body["content"]:
            assert {"400", "415"} <= set(operation["responses"])
