"""GET /metrics (issue 17): Prometheus text, off unless ESCROW_METRICS_TOKEN is set, then only with
that bearer token; request counts by endpoint (never a path), the log's size, and the OPRF nodes'
answers and skips (the metric that names a failing node, issue 13)."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient

from escrow.api.metrics import CONTENT_TYPE
from escrow.app import create_app
from escrow.cli.dev_nodes import free_port
from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.config import Settings
from escrow.errors import ConfigError
from escrow.httpkit import COMPONENTS_KEY, get_components
from tests.oprf_support import OprfNetwork

TOKEN = "metrics-token-for-tests-0123456789abcdef"


@pytest.fixture
def metered(settings: Settings, app: Flask) -> Flask:
    """The test app with a metrics token (its components, the rolled-back session included, kept)."""
    components = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        components, settings=dataclasses.replace(components.settings, metrics_token=TOKEN)
    )
    return app


def _scrape(client: FlaskClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == CONTENT_TYPE
    return response.get_data(as_text=True)


def test_metrics_are_not_served_without_a_configured_token(client: FlaskClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN])
def test_metrics_need_the_exact_bearer_token(metered: Flask, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}

    response = metered.test_client().get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "escrow_" not in response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]  # RFC 9110 15.5.2, RFC 6750 3
    assert challenge.startswith('Bearer realm="escrow-metrics"')
    assert ('error="invalid_token"' in challenge) is (header is not None)


def test_requests_are_counted_by_endpoint_never_by_path(metered: Flask) -> None:
    client = metered.test_client()
    client.get("/api/v1/log/checkpoints/12345")
    client.get("/no/such/page/with-a-pseudonym-abcdef")

    text = _scrape(client)

    assert (
        'escrow_http_requests_total{endpoint="transparency_api.checkpoint_at",method="GET",status="404"}'
        in text
        or ('endpoint="' in text and "12345" not in text)
    )
    assert "12345" not in text
    assert "with-a-pseudonym-abcdef" not in text
    assert 'endpoint="unmatched"' in text
    assert "escrow_http_request_duration_seconds_bucket" in text
    assert "escrow_log_entries " in text
    assert "escrow_log_queued " in text
    assert "escrow_log_queue_lag_seconds " in text


def test_oprf_node_answers_and_skips_are_metrics(metered: Flask, oprf_network: OprfNetwork) -> None:
    components = get_components(metered)
    nodes = [*components.oprf.nodes[:2], NodeEndpoint(3, f"http://127.0.0.1:{free_port()}")]  # node 3 down
    oprf = ThresholdOprfClient(nodes=nodes, signing_seed=oprf_network.client_seed, timeout=1.0)
    metered.extensions[COMPONENTS_KEY] = dataclasses.replace(components, oprf=oprf)
    try:
        for _ in range(3):
            oprf.evaluate(oprf_network.key, [b"someone"])
        text = _scrape(metered.test_client())
    finally:
        oprf.close()

    assert (
        'escrow_oprf_node_skips_total{node="3"} 2.0' in text
    )  # asked in two of three turns, down both times
    assert 'escrow_oprf_node_answers_total{node="3"} 0.0' in text
    answered = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("escrow_oprf_node_answers_total")
    )
    assert answered == 6.0


def test_a_short_metrics_token_is_refused_at_startup() -> None:
    with pytest.raises(ConfigError, match="ESCROW_METRICS_TOKEN"):
        Settings.from_env({"ESCROW_METRICS_TOKEN": "short"})


def test_two_apps_in_one_process_keep_their_own_counts(tmp_path: object, settings: Settings) -> None:
    first = create_app(dataclasses.replace(settings, metrics_token=TOKEN))
    second = create_app(dataclasses.replace(settings, metrics_token=TOKEN))
    first.test_client().get("/healthz")
    first.test_client().get("/healthz")

    text = _scrape(second.test_client())

    assert 'endpoint="health.healthz"' not in text
    get_components(first).close()
    get_components(second).close()
