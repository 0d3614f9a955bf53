"""OPRF nodes as real processes over loopback HTTP (issue 13): each answers as a plain RFC 9497 VOPRF
server for its share, the threshold client combines any t, and every bad request is refused with a
problem and nothing evaluated."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import nacl.pwhash
import pytest

from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.crypto.ceremony_messages import NONCE_BYTES, public_keys
from escrow.crypto.dkg import KeyShare, ThresholdPublicKey
from escrow.crypto.group import Point, Scalar
from escrow.crypto.holderfile import HolderSecrets, ShareRecord, decrypt_holder_file, encrypt_holder_file
from escrow.crypto.oprf import Mode, blind, evaluate, verify_proof
from escrow.crypto.ristretto import Element, from_edwards
from escrow.crypto.vss import lagrange_at_zero
from escrow.errors import OprfUnavailableError
from escrow.keystore import write_secret_file
from escrow.protocol.oprf import EvaluateRequest, EvaluateResponse, NodeKey, NodeStats, sign_service_request
from tests.oprf_support import OprfNetwork, start_network


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def _get(url: str, path: str) -> bytes:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        connection.close()


def _signed(
    seed: bytes, body: bytes, *, ts_ms: int | None = None, nonce: bytes | None = None, path: str = "/evaluate"
) -> dict[str, str]:
    auth = sign_service_request(
        seed,
        public_keys(seed, bytes(32)).signing_key,
        method="POST",
        path=path,
        timestamp_ms=int(time.time() * 1000) if ts_ms is None else ts_ms,
        nonce=os.urandom(NONCE_BYTES) if nonce is None else nonce,
        body=body,
    )
    return {"Content-Type": "application/json", "Authorization": auth.to_header()}


def _elements(n: int) -> tuple[Element, ...]:
    return tuple(blind(os.urandom(16), mode=Mode.VOPRF)[1] for _ in range(n))


def _count(network: OprfNetwork, index: int) -> int:
    stats = NodeStats.parse(_get(network.node(index).url, "/stats"))
    return sum(n for _, n in stats.hours)


def _combined_secret(network: OprfNetwork, passphrase: str) -> Scalar:
    shares = {}
    for j in (1, 2, 3):
        record = decrypt_holder_file((network.directory / f"node-{j}.share").read_bytes(), passphrase).shares[
            0
        ]
        shares[j] = record.share.value
    weights = lagrange_at_zero(list(shares)[: network.key.threshold])
    total = Scalar.from_int(0)
    for j, w in weights.items():
        total = total + w * shares[j]
    return total


@pytest.fixture
def network(tmp_path: Path) -> Iterator[OprfNetwork]:
    """A network of its own (2 of 3), so killing nodes and counting elements touch no other test."""
    net = start_network(tmp_path / "net")
    yield net
    net.stop()


def _client(network: OprfNetwork, timeout: float = 2.0) -> ThresholdOprfClient:
    return ThresholdOprfClient(
        nodes=[NodeEndpoint(i, u) for i, u in network.endpoints],
        signing_seed=network.client_seed,
        timeout=timeout,
    )


def test_one_nodes_answer_verifies_with_the_rfc_9497_client_algorithm(network: OprfNetwork) -> None:
    node = network.node(2)
    asked = EvaluateRequest(network.key.key_id, 2, _elements(3))
    body = asked.to_json()
    status, _, data = _post(node.url, "/evaluate", body, _signed(network.client_seed, body))
    assert status == 200
    answer = EvaluateResponse.parse(data, expected=asked)
    public_share = from_edwards(network.key.verification_key(2))
    verify_proof(public_share, asked.elements, answer.evaluated, answer.proof)  # raises if it does not
    assert NodeKey.parse(_get(node.url, "/key")).public_share == public_share


def test_any_two_of_three_nodes_give_the_rfc_output_under_the_combined_key(network: OprfNetwork) -> None:
    passphrase = (network.directory / "PASSPHRASE").read_text()
    secret = _combined_secret(network, passphrase)
    inputs = [b"identity-a", b"identity-b"]
    expected = [evaluate(secret, x, mode=Mode.VOPRF) for x in inputs]
    client = _client(network)
    try:
        assert client.evaluate(network.key, inputs).outputs == expected
        for down in (1, 2, 3):  # every pair of nodes
            network.node(down).kill()
            assert client.evaluate(network.key, inputs).outputs == expected
            network.node(down).restart()
    finally:
        client.close()


def test_a_node_killed_mid_test_is_skipped_and_named_and_two_down_is_unavailable(
    network: OprfNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(network, timeout=1.0)
    try:
        first = client.evaluate(network.key, [b"someone"]).outputs
        network.node(3).kill()
        with caplog.at_level("WARNING", logger="escrow.oprf"):
            for _ in range(3):  # the client takes turns: node 3 is among the first t at least twice
                answer = client.evaluate(network.key, [b"someone"])
                assert answer.outputs == first
        assert client.health.snapshot()["3"]["skipped"] == 2
        assert client.health.snapshot()["3"]["answered"] == 0
        network.node(1).kill()
        with pytest.raises(OprfUnavailableError) as caught:
            client.evaluate(network.key, [b"someone"])
        assert caught.value.retry_after_s
        assert any("oprf node 1" in r.getMessage() for r in caplog.records)
        assert not any("someone" in r.getMessage() for r in caplog.records)
        network.node(1).restart()
        assert client.evaluate(network.key, [b"someone"]).outputs == first
    finally:
        client.close()


def test_a_node_answering_with_a_wrong_share_is_refused_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    network = start_network(tmp_path / "net")
    try:
        # Node 3 is restarted from a file whose share (and its own idea of its public share) is wrong:
        # its proofs are valid for that share, not for the public share the ceremony recorded.
        passphrase = (network.directory / "PASSPHRASE").read_text()
        path = network.directory / "node-3.share"
        honest = decrypt_holder_file(path.read_bytes(), passphrase)
        wrong = Scalar.random()
        record = honest.shares[0]
        lying_key = ThresholdPublicKey(
            public_key=record.key.public_key,
            threshold=record.key.threshold,
            verification_keys={**record.key.verification_keys, 3: Point.base_times(wrong)},
        )
        lying = HolderSecrets(
            honest.name,
            honest.signing_seed,
            honest.exchange_secret,
            (ShareRecord(lying_key, KeyShare(3, wrong)),),
        )
        network.node(3).stop()
        path.unlink()
        write_secret_file(
            path,
            encrypt_holder_file(
                lying,
                passphrase,
                opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
            ),
        )
        network.node(3).restart()
        network.node(1).kill()  # leave the liar as one of the only two nodes up
        client = _client(network)
        try:
            with caplog.at_level("WARNING", logger="escrow.oprf"), pytest.raises(OprfUnavailableError):
                client.evaluate(network.key, [b"someone"])
            assert "does not verify" in client.health.snapshot()["3"]["last_error"]
            assert any("oprf node 3" in r.getMessage() for r in caplog.records)
        finally:
            client.close()
    finally:
        network.stop()


def test_a_stalled_node_costs_the_hedge_delay_not_the_timeout(network: OprfNetwork) -> None:
    """SIGSTOP: node 1 accepts connections but never answers (a slow or hung node)."""
    client = ThresholdOprfClient(
        nodes=[NodeEndpoint(i, u) for i, u in network.endpoints],
        signing_seed=network.client_seed,
        timeout=5.0,
        hedge=0.2,
    )
    try:
        first = client.evaluate(network.key, [b"someone"]).outputs
        network.node(1).process.send_signal(signal.SIGSTOP)
        asked = []
        try:
            for _ in range(3):  # node 1 is among the first t in two of three turns
                started = time.monotonic()
                answer = client.evaluate(network.key, [b"someone"])
                assert answer.outputs == first
                assert time.monotonic() - started < 2.0  # the hedge, not the 5 s timeout
                asked.append(answer.asked)
        finally:
            network.node(1).process.send_signal(signal.SIGCONT)
    finally:
        client.close()
    assert asked.count((1, 2, 3)) == 2  # while node 1 held its answer, the third node was asked


def test_only_t_nodes_are_asked_while_they_answer(network: OprfNetwork) -> None:
    client = _client(network)
    try:
        asked = [client.evaluate(network.key, [b"someone"]).asked for _ in range(3)]
    finally:
        client.close()
    assert all(len(a) == network.key.threshold for a in asked)
    assert {i for a in asked for i in a} == {1, 2, 3}  # taking turns spreads the load


def test_no_nodes_configured_is_a_clear_unavailable_error(network: OprfNetwork) -> None:
    client = ThresholdOprfClient(nodes=[], signing_seed=network.client_seed)
    with pytest.raises(OprfUnavailableError, match="0 of the 2"):
        client.evaluate(network.key, [b"x"])


class _TricklingNode:
    """A hostile node: it accepts every request and answers a header byte every 0.2 s, forever, so
    that no single read ever times out. It stands in for node `index` at a loopback address."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self.connections = 0
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self._stop.wait(0.2):
                    conn.sendall(b"X")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def test_a_node_that_trickles_its_answer_cannot_exhaust_the_clients_threads(network: OprfNetwork) -> None:
    """Node 3 answers one byte at a time, each well within the socket timeout: without a bound on the
    whole request, every evaluation that asked it left a worker thread behind, and once the pool
    (4 per node) was full no node was asked at all."""
    hostile = _TricklingNode()
    network.node(3).stop()
    nodes = [NodeEndpoint(1, network.node(1).url), NodeEndpoint(2, network.node(2).url)]
    client = ThresholdOprfClient(
        nodes=[*nodes, NodeEndpoint(3, hostile.url)],
        signing_seed=network.client_seed,
        timeout=1.0,
        hedge=0.05,
    )
    try:
        first = client.evaluate(network.key, [b"someone"]).outputs
        for _ in range(30):  # 20 of them ask node 3 first: far more than the pool's 12 threads
            started = time.monotonic()
            assert client.evaluate(network.key, [b"someone"]).outputs == first
            assert time.monotonic() - started < 1.0
        assert hostile.connections >= 12
    finally:
        client.close()
        hostile.close()


def test_a_seized_server_gets_n_over_t_times_one_nodes_quota_not_one_nodes_quota(tmp_path: Path) -> None:
    """Each output needs t nodes, but not the same t: spread over 2-of-3 nodes that each allow 2
    elements, a holder of the client key derives 3 outputs (n * quota / t), not 2. docs/oprf.md's
    bound on guessing identities is therefore n * 30,000 / t a day, 45,000 for 2 of 3."""
    network = start_network(tmp_path / "net", limits={"minute": 2, "hour": 2, "day": 2})
    client = _client(network, timeout=1.0)
    try:
        outputs = [client.evaluate(network.key, [f"guess-{j}".encode()]).outputs for j in range(3)]
        assert len({o[0] for o in outputs}) == 3
        with pytest.raises(OprfUnavailableError):
            client.evaluate(network.key, [b"guess-3"])
        assert [_count(network, i) for i in (1, 2, 3)] == [2, 2, 2]
    finally:
        client.close()
        network.stop()
