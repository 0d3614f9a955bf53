"""The OpenAPI document describes every JSON endpoint the app serves, and only those."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

JSON_PREFIXES = ("/api/", "/.well-known/", "/healthz", "/readyz", "/openapi.json")


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_json_route_and_method_is_documented(app: Flask, client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    served = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(JSON_PREFIXES)
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == documented


def test_every_reference_resolves(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    text = str(document)
    for ref in set(re.findall(r"#/components/([a-zA-Z]+)/([a-zA-Z]+)", text)):
        assert ref[1] in document["components"][ref[0]], ref


def test_api_reference_page_renders_every_documented_operation_without_external_assets(
    client: FlaskClient,
) -> None:
    document = client.get("/openapi.json").get_json()
    response = client.get("/docs/api")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    operations = [(path, method) for path, item in document["paths"].items() for method in item]
    assert f"Endpoints ({len(operations)})" in html
    for path, method in operations:
        assert f"<code>{method.upper()}</code>" in html
        assert f"<code>{path.replace('&', '&amp;')}</code>" in html
    summary = document["paths"]["/api/v1/log/checkpoint"]["get"]["summary"]
    assert summary.split("'")[0] in html
    assert "http://" not in html.replace("http://localhost", "")
    assert "https://" not in html


def test_landing_page_links_to_the_api_reference(client: FlaskClient) -> None:
    assert 'href="/docs/api"' in client.get("/").get_data(as_text=True)
