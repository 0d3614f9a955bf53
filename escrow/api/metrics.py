"""Prometheus metrics at ``GET /metrics`` (issue 17), not public: off unless ``ESCROW_METRICS_TOKEN`` is
set, and then only with ``Authorization: Bearer <token>``.

Per process (each gunicorn worker answers for itself; scrape each, or put them behind one exporter):
- ``escrow_http_requests_total{method, endpoint, status}`` and
  ``escrow_http_request_duration_seconds{endpoint}``: the route's endpoint name, never the path, so
  no id, pseudonym or code becomes a label;
- ``escrow_log_entries``: the transparency log's size, read at scrape time; ``escrow_log_queued`` and
  ``escrow_log_queue_lag_seconds``: events waiting for the sequencer and the oldest one's age (issue 15);
- ``escrow_oprf_node_answers_total{node}``, ``escrow_oprf_node_skips_total{node}``: the OPRF client's
  health (escrow.client.oprf.NodeHealth), the metric that names a node that is down, slow or lying;
- ``escrow_witness_cosignatures_total{witness}``, ``escrow_witness_refusals_total{witness}``,
  ``escrow_witness_failures_total{witness}``: cosignatures gathered, refusals (an alarm: the witness
  saw another history, or the proof failed) and unanswered requests, per witness (issue 15).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Final

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from escrow.errors import AuthenticationError, NotFoundError
from escrow.httpkit import bearer_challenge, get_components
from escrow.services.transparency import oldest_queued_at, queued_count, tree_size

bp = Blueprint("metrics", __name__)
EXTENSION_KEY: Final = "escrow_metrics"
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class _Live(Collector):
    """What is read when scraped: the log's size and the OPRF nodes' health."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        components = get_components(self._app)
        size = GaugeMetricFamily("escrow_log_entries", "Entries in the transparency log")
        queued = GaugeMetricFamily("escrow_log_queued", "Log events queued, not yet in the tree")
        lag = GaugeMetricFamily(
            "escrow_log_queue_lag_seconds",
            "Age of the oldest queued log event (0: none; alarm above a few s)",
        )
        with components.session_factory() as session:
            size.add_metric([], tree_size(session))
            queued.add_metric([], queued_count(session))
            oldest = oldest_queued_at(session)
        lag.add_metric([], 0.0 if oldest is None else max(0.0, (components.clock() - oldest).total_seconds()))
        yield size
        yield queued
        yield lag
        answers = CounterMetricFamily(
            "escrow_oprf_node_answers", "OPRF answers used, per node", labels=["node"]
        )
        skips = CounterMetricFamily(
            "escrow_oprf_node_skips", "OPRF nodes skipped (down, slow, refusing or lying)", labels=["node"]
        )
        health = components.oprf.health.snapshot()
        for node in components.oprf.nodes:
            counts = health.get(str(node.index), {})
            answers.add_metric([str(node.index)], float(counts.get("answered", 0)))  # type: ignore[arg-type]
            skips.add_metric([str(node.index)], float(counts.get("skipped", 0)))  # type: ignore[arg-type]
        yield answers
        yield skips
        witness_health = components.witnesses.health.snapshot()
        for metric, key, text in (
            ("escrow_witness_cosignatures", "cosigned", "Cosignatures gathered, per witness"),
            ("escrow_witness_refusals", "refused", "Checkpoints a witness refused to cosign (an alarm)"),
            ("escrow_witness_failures", "failed", "Requests a witness did not answer in time"),
        ):
            family = CounterMetricFamily(metric, text, labels=["witness"])
            for witness in components.witnesses.witnesses:
                family.add_metric([witness.name], float(witness_health.get(witness.name, {}).get(key, 0)))
            yield family


class Metrics:
    """One app's registry (never the process-global one: tests build many apps in one process)."""

    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "escrow_http_requests",
            "HTTP requests answered",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "escrow_http_request_duration_seconds",
            "Time to answer, per route",
            ["endpoint"],
            registry=self.registry,
        )
        self.registry.register(_Live(app))


def init_metrics(app: Flask) -> None:
    """Counts every request of `app` (by endpoint) and mounts /metrics."""
    metrics = Metrics(app)
    app.extensions[EXTENSION_KEY] = metrics

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics_text() -> Response:
    """The Prometheus text format; 404 unless ESCROW_METRICS_TOKEN is set, 401 without that bearer token."""
    token = get_components().settings.metrics_token
    if token is None:
        raise NotFoundError("not found")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise AuthenticationError(
            "metrics need the bearer token (ESCROW_METRICS_TOKEN)",
            challenge=bearer_challenge("escrow-metrics", presented=bool(given)),
        )
    metrics: Metrics = current_app.extensions[EXTENSION_KEY]
    return Response(generate_latest(metrics.registry), mimetype=None, content_type=CONTENT_TYPE)
