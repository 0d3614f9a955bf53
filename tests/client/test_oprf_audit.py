"""`escrow audit oprf`: an auditor holds each OPRF node's key and hourly counts against the verified
transparency log (issue 13). A seized server that asks a node with the service's key, without logging
it, shows as an excess on that node; a node serving another key is named."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.cli.main import cli
from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.config import Settings
from escrow.crypto.ceremony_messages import NONCE_BYTES
from escrow.crypto.oprf import Mode, blind
from escrow.db import upgrade_database
from escrow.httpkit import get_components
from escrow.protocol.oprf import EvaluateRequest, sign_service_request
from escrow.services.oprf import derive_person_keys
from escrow.services.oprf_keys import install_oprf_key, record_evaluations
from escrow.services.transparency import LogSigner, integrate
from tests.node.test_oprf_nodes import _post
from tests.oprf_support import OprfNetwork, start_network


@dataclasses.dataclass
class Service:
    url: str
    session: Session
    log: LogSigner
    network: OprfNetwork


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A live escrow service with nodes of its own (their counts are this test's alone), whose OPRF
    key was installed and logged as its ceremony would."""
    network = start_network(tmp_path / "nodes")
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    upgrade_database(url)
    app = create_app(Settings.for_tests(url, tmp_path / "keys", instance_path=tmp_path))
    components = get_components(app)
    session = components.session_factory()
    install_oprf_key(session, network.key, log=components.log, now=datetime.now(UTC))
    session.commit()
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield Service(f"http://127.0.0.1:{http.server_port}", session, components.log, network)
    finally:
        http.shutdown()
        thread.join(timeout=5)
        session.close()
        components.close()
        network.stop()


def _audit(service: Service, state: Path, nodes: dict[int, str] | None = None) -> tuple[int, str]:
    args = ["audit", "oprf", "--server", service.url, "--state", str(state)]
    for index, url in (nodes or dict(service.network.endpoints)).items():
        args += ["--node", f"{index}={url}"]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _an_hour_of_use(service: Service, *, unlogged_to_node_1: int = 0) -> None:
    """Three evaluations through the service (and, as a seized server would, `unlogged_to_node_1`
    elements asked of node 1 directly with the service's key), then the hour is closed and logged.
    Repeats once if the clock crossed an hour meanwhile: nodes and service both count by this clock."""
    network = service.network
    oprf = ThresholdOprfClient(
        nodes=[NodeEndpoint(i, u) for i, u in network.endpoints], signing_seed=network.client_seed
    )
    try:
        for _ in range(2):
            hour = _hour(datetime.now(UTC))
            for n in range(3):
                derive_person_keys(
                    service.session, oprf, f"person {n}".encode(), log=service.log, now=datetime.now(UTC)
                )
            for _ in range(unlogged_to_node_1):
                body = EvaluateRequest(
                    network.key.key_id, 1, (blind(b"guess", mode=Mode.VOPRF)[1],)
                ).to_json()
                auth = sign_service_request(
                    network.client_seed,
                    oprf.signing_key,
                    method="POST",
                    path="/evaluate",
                    timestamp_ms=int(time.time() * 1000),
                    nonce=os.urandom(NONCE_BYTES),
                    body=body,
                )
                headers = {"Content-Type": "application/json", "Authorization": auth.to_header()}
                assert _post(network.node(1).url, "/evaluate", body, headers)[0] == 200
            if _hour(datetime.now(UTC)) == hour:
                break
    finally:
        oprf.close()
    record_evaluations(service.session, elements=0, nodes=(), log=service.log, now=hour + timedelta(hours=1))
    # The service's sequencer gives the queued oprf.usage entries their place (issue 15).
    integrate(service.session, service.log, now=datetime.now(UTC))
    service.session.commit()


def test_nodes_that_evaluated_only_what_the_log_says_pass_the_audit(service: Service, tmp_path: Path) -> None:
    _an_hour_of_use(service)

    code, output = _audit(service, tmp_path / "state.json")

    assert code == 0, output
    assert "1 finished hour(s)" in output
    assert output.count("key and public share match the log; 1 hour(s) compared") == 3


def test_a_seized_server_asking_a_node_unlogged_is_named_by_the_audit(
    service: Service, tmp_path: Path
) -> None:
    _an_hour_of_use(service, unlogged_to_node_1=4)

    code, output = _audit(service, tmp_path / "state.json")

    assert code == 1, output
    assert "FAILED: node 1: evaluated" in output
    assert "someone else asked this node" in output
    assert "FAILED: node 2" not in output
    assert "FAILED: node 3" not in output


def test_a_node_serving_another_key_is_named_by_the_audit(service: Service, tmp_path: Path) -> None:
    other = start_network(tmp_path / "other")
    try:
        nodes = {**dict(service.network.endpoints), 2: other.node(2).url}
        code, output = _audit(service, tmp_path / "state.json", nodes)
    finally:
        other.stop()

    assert code == 1, output
    assert f"FAILED: node 2: serves node 2 of key {other.key.key_id}" in output


def test_a_malformed_node_argument_is_a_usage_error(service: Service) -> None:
    result = CliRunner().invoke(cli, ["audit", "oprf", "--server", service.url, "--node", "nodeone"])
    assert result.exit_code == 2
    assert "expected INDEX=URL" in result.output
