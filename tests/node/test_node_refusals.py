"""Every bad request to an OPRF node is a 4xx problem naming the fault, and nothing is evaluated or
counted for it (issue 13, "Bad input"); quotas answer 429 with Retry-After; the ledger is append-only."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from escrow.crypto.ceremony_messages import NONCE_BYTES
from escrow.crypto.oprf import MAX_BATCH
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.node.settings import LEDGER_FILE
from escrow.protocol.oprf import EvaluateRequest
from tests.node.test_oprf_nodes import _count, _elements, _post, _signed
from tests.oprf_support import OprfNetwork, start_network

IDENTITY_B64 = b64u_encode(bytes(32))
NOT_ON_CURVE_B64 = b64u_encode(b"\xff" * 32)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OprfNetwork]:
    net = start_network(
        tmp_path_factory.mktemp("refusals"), limits={"minute": 40, "hour": 1000, "day": 10000}
    )
    yield net
    net.stop()


def _body(network: OprfNetwork, **changes: object) -> bytes:
    data: dict[str, object] = {
        "version": 1,
        "key_id": network.key.key_id,
        "node": 1,
        "elements": [b64u_encode(bytes(e)) for e in _elements(1)],
    }
    data.update(changes)
    return canonical_json(data)


def _refused(network: OprfNetwork, body: bytes, headers: dict[str, str], status: int, words: str) -> None:
    before = _count(network, 1)
    got, answer_headers, data = _post(network.node(1).url, "/evaluate", body, headers)
    assert got == status, data
    assert answer_headers["Content-Type"] == "application/problem+json"
    problem = json.loads(data)
    assert problem["status"] == status, problem
    assert words in problem["detail"], problem
    assert _count(network, 1) == before  # nothing evaluated, nothing counted


def test_unsigned_request_is_refused(network: OprfNetwork) -> None:
    _refused(network, _body(network), {"Content-Type": "application/json"}, 401, "Escrow-Service")


def test_request_signed_by_another_key_is_refused(network: OprfNetwork) -> None:
    body = _body(network)
    _refused(network, body, _signed(os.urandom(32), body), 401, "configured with")


def test_tampered_body_does_not_verify(network: OprfNetwork) -> None:
    body = _body(network)
    headers = _signed(network.client_seed, body)
    _refused(network, _body(network), headers, 401, "does not verify")


def test_stale_request_is_refused(network: OprfNetwork) -> None:
    body = _body(network)
    old = int(time.time() * 1000) - 10 * 60 * 1000
    _refused(network, body, _signed(network.client_seed, body, ts_ms=old), 401, "stale")


def test_replayed_request_is_refused(network: OprfNetwork) -> None:
    body = _body(network)
    headers = _signed(network.client_seed, body)
    assert _post(network.node(1).url, "/evaluate", body, headers)[0] == 200
    _refused(network, body, headers, 401, "already answered")


def test_request_for_another_node_or_key_is_refused(network: OprfNetwork) -> None:
    for body in (_body(network, node=2), _body(network, key_id="0" * 64)):
        _refused(network, body, _signed(network.client_seed, body), 409, "this is node 1")


@pytest.mark.parametrize(
    ("elements", "words"),
    [
        ([IDENTITY_B64], "not a valid ristretto255 element"),
        ([NOT_ON_CURVE_B64], "not a valid ristretto255 element"),
        (["AAAA"], "not a valid ristretto255 element"),
        ([b64u_encode(bytes(32)) + "A"], "not a valid ristretto255 element"),
        ([], "non-empty list"),
        ("not a list", "non-empty list"),
        ([7], "not a valid ristretto255 element"),
    ],
)
def test_malformed_elements_are_refused(network: OprfNetwork, elements: object, words: str) -> None:
    body = _body(network, elements=elements)
    _refused(network, body, _signed(network.client_seed, body), 422, words)


def test_oversized_batch_is_refused(network: OprfNetwork) -> None:
    one = b64u_encode(bytes(_elements(1)[0]))
    body = _body(network, elements=[one] * (MAX_BATCH + 1))
    _refused(network, body, _signed(network.client_seed, body), 422, f"at most {MAX_BATCH}")


def test_unknown_version_and_members_are_refused(network: OprfNetwork) -> None:
    for body, words in ((_body(network, version=2), "version"), (_body(network, extra=1), "unknown member")):
        _refused(network, body, _signed(network.client_seed, body), 422, words)


def test_body_that_is_not_json_is_refused(network: OprfNetwork) -> None:
    body = b"\xff\xfe not json"
    _refused(network, body, _signed(network.client_seed, body), 422, "not JSON")


def test_body_too_large_is_refused(network: OprfNetwork) -> None:
    body = b"[" + b"1," * 40_000 + b"1]"
    got, _, _ = _post(network.node(1).url, "/evaluate", body, _signed(network.client_seed, body))
    assert got == 413


def test_wrong_media_type_is_refused(network: OprfNetwork) -> None:
    body = _body(network)
    headers = {**_signed(network.client_seed, body), "Content-Type": "text/plain"}
    _refused(network, body, headers, 415, "application/json")


def test_duplicate_authorization_fields_are_refused(network: OprfNetwork) -> None:
    body = _body(network)
    headers = _signed(network.client_seed, body)
    headers["Authorization"] += f", nonce={b64u_encode(os.urandom(NONCE_BYTES))}"
    _refused(network, body, headers, 401, "once each")


def test_quota_answers_429_with_retry_after_and_counts_nothing(tmp_path: Path) -> None:
    net = start_network(tmp_path / "quota", limits={"minute": 3, "hour": 100, "day": 1000})
    try:
        asked = EvaluateRequest(net.key.key_id, 1, _elements(2))
        body = asked.to_json()
        assert _post(net.node(1).url, "/evaluate", body, _signed(net.client_seed, body))[0] == 200
        body = EvaluateRequest(net.key.key_id, 1, _elements(2)).to_json()
        status, headers, data = _post(net.node(1).url, "/evaluate", body, _signed(net.client_seed, body))
        assert status == 429, data
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert "per minute" in json.loads(data)["detail"]
        assert _count(net, 1) == 2
    finally:
        net.stop()


def test_the_ledger_refuses_to_forget_or_rewrite_an_evaluation(network: OprfNetwork) -> None:
    body = _body(network)
    assert _post(network.node(1).url, "/evaluate", body, _signed(network.client_seed, body))[0] == 200
    db = sqlite3.connect(network.directory / "data" / "node-1" / LEDGER_FILE)
    try:
        for statement in ("UPDATE evaluations SET elements = 0", "DELETE FROM evaluations"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    finally:
        db.close()
