"""The threshold OPRF client (issue 13): blind, ask t nodes (more when one fails or is slow), keep
the first t answers whose RFC 9497 proofs verify (checked as they arrive, none past the t-th),
combine them by Lagrange at zero, unblind and finalise. No request to a node outlives the call.

Used by the escrow service (a person's identity key at registration and sign-in) and, later, by an
officer's tool (checking that a revealed identity is the person behind a pseudonym). Nodes see only
blinded elements. A node that is down, slow, refuses or answers with a wrong share is skipped, named in
a log line and counted in `NodeHealth`; fewer than t valid answers is OprfUnavailableError (a 503).
Pure stdlib HTTP (http.client), so it runs in the light install.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import logging
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Final

from escrow.crypto.ceremony_messages import NONCE_BYTES, public_keys
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import CryptoError
from escrow.crypto.oprf import MAX_BATCH, Mode, blind, finalize
from escrow.crypto.ristretto import Element, from_edwards
from escrow.crypto.threshold_oprf import NodeAnswer, combine, verify_answer
from escrow.errors import OprfUnavailableError, ValidationError
from escrow.protocol.errors import ProtocolError
from escrow.protocol.oprf import EvaluateRequest, EvaluateResponse, sign_service_request

log = logging.getLogger("escrow.oprf")
DEFAULT_TIMEOUT_S: Final = 2.0
# After this long without t answers, every node not yet asked is asked too (a slow node costs this).
DEFAULT_HEDGE_S: Final = 0.25
RETRY_AFTER_S: Final = 5
EVALUATE_PATH: Final = "/evaluate"
_MAX_ANSWER_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class NodeEndpoint:
    """Where node `index` (its share index in the key) answers."""

    index: int
    url: str

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
            raise ValidationError(f"OPRF node {self.index}: {self.url!r} is not an http(s)://host[:port] URL")


class NodeFailure(Exception):
    """One node gave no usable answer (down, slow, refused, malformed or a proof that fails).

    `counted` is False only when the node certainly counted nothing: it refused with a 4xx problem
    (docs/oprf.md: nothing is counted for a refusal), the connection was refused, or it was never sent.
    """

    def __init__(self, reason: str, *, counted: bool = True) -> None:
        super().__init__(reason)
        self.counted = counted


@dataclass(slots=True)
class NodeHealth:
    """Per-node counts since start: answers used, and skips by reason (the metric the issue names)."""

    answered: dict[int, int] = field(default_factory=dict)
    skipped: dict[int, int] = field(default_factory=dict)
    last_error: dict[int, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_answer(self, node: int) -> None:
        with self._lock:
            self.answered[node] = self.answered.get(node, 0) + 1

    def record_skip(self, node: int, reason: str) -> None:
        with self._lock:
            self.skipped[node] = self.skipped.get(node, 0) + 1
            self.last_error[node] = reason

    def snapshot(self) -> dict[str, dict[str, object]]:
        with self._lock:
            nodes = sorted(set(self.answered) | set(self.skipped))
            return {
                str(i): {
                    "answered": self.answered.get(i, 0),
                    "skipped": self.skipped.get(i, 0),
                    "last_error": self.last_error.get(i),
                }
                for i in nodes
            }


class _Call:
    """One request to one node, which `evaluate` aborts when it returns: the socket timeout bounds each
    read, not the request, so a node that trickles its answer a byte at a time would otherwise hold a
    worker thread for as long as it likes (and with the pool full, no node is asked at all)."""

    __slots__ = ("_lock", "_sock", "aborted")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.aborted = False

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if self.aborted:
                raise NodeFailure("not needed any more", counted=False)
            self._sock = sock

    def detach(self) -> None:
        with self._lock:
            self._sock = None

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)  # the worker's blocked read returns at once


class _Connections:
    """One keep-alive HTTP connection per (thread, node): a request costs no new TCP handshake."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._local = threading.local()

    def post(
        self, node: NodeEndpoint, path: str, body: bytes, headers: dict[str, str], call: _Call
    ) -> tuple[int, bytes]:
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        for attempt in (1, 2):  # a kept-alive connection the node closed is retried once, fresh
            connection = pool.get(node.url)
            if connection is None:
                parts = urllib.parse.urlsplit(node.url)
                factory = (
                    http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                )
                connection = factory(parts.hostname or "", parts.port, timeout=self._timeout)
                connection.connect()
                # A request is small and answered at once: send it now, never wait for Nagle's ACK.
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pool[node.url] = connection
            try:
                call.attach(connection.sock)
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read(_MAX_ANSWER_BYTES + 1)
                call.detach()
                if response.will_close or not response.isclosed():  # or an unread rest: never reuse it
                    connection.close()
                    pool.pop(node.url, None)
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                pool.pop(node.url, None)
                if attempt == 2 or call.aborted:
                    raise
            except BaseException:
                connection.close()
                pool.pop(node.url, None)
                raise
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class OprfResult:
    """The outputs, in input order, and which nodes were sent the batch and may have counted it (the
    service logs these per node, to be held against each node's /stats)."""

    outputs: list[bytes]
    asked: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BlindedResult:
    """The t verified node answers to a batch of blinded elements, by node index, and the nodes asked."""

    answers: tuple[NodeAnswer, ...]
    asked: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Key:
    key: ThresholdPublicKey
    public_shares: dict[int, Element]


class ThresholdOprfClient:
    """Evaluates the OPRF with the nodes in `nodes`, under the key the caller names (the one the
    service's database and the transparency log record: escrow.services.oprf_keys)."""

    def __init__(
        self,
        *,
        nodes: Sequence[NodeEndpoint],
        signing_seed: bytes,
        timeout: float = DEFAULT_TIMEOUT_S,
        hedge: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        indices = [n.index for n in nodes]
        if len(set(indices)) != len(indices):
            raise ValidationError("two OPRF nodes are configured with the same index")
        self._nodes = tuple(nodes)
        self._seed = signing_seed
        self._signing_key = public_keys(signing_seed, bytes(32)).signing_key
        self._clock = clock
        self._connections = _Connections(timeout)
        self._timeout = timeout
        self._hedge_s = hedge if hedge is not None else min(DEFAULT_HEDGE_S, timeout / 4)
        self._turns = itertools.count()
        self._pool: ThreadPoolExecutor | None = None  # made on first use: most commands never evaluate
        self._key: _Key | None = None
        self._key_lock = threading.Lock()
        self.health = NodeHealth()

    @property
    def signing_key(self) -> bytes:
        """The Ed25519 key every node pins (ESCROW_NODE_SERVICE_KEY)."""
        return self._signing_key

    def _public_shares(self, key: ThresholdPublicKey) -> _Key:
        # from_edwards costs field arithmetic in Python: convert once per key (a reshare changes it).
        with self._key_lock:
            if self._key is None or self._key.key != key:
                shares = {i: from_edwards(key.verification_key(i)) for i in sorted(key.verification_keys)}
                self._key = _Key(key, shares)
            return self._key

    @property
    def nodes(self) -> tuple[NodeEndpoint, ...]:
        return self._nodes

    def evaluate(self, key: ThresholdPublicKey, inputs: Sequence[bytes]) -> OprfResult:
        """Returns the RFC 9497 output for each input (64 bytes each) and the nodes that were asked.

        Asks t nodes at once (taking turns, so the load is spread), and one more for each that fails,
        and all the rest if the t answers are not in after the hedge delay: a node that is down costs
        nothing, a slow one costs the hedge delay, and nodes beyond t are asked only when needed.

        Raises OprfUnavailableError if fewer than the key's threshold of nodes give a valid answer
        within the timeout, ValidationError for an empty or oversized batch.
        """
        if not inputs or len(inputs) > MAX_BATCH:
            raise ValidationError(f"evaluate between 1 and {MAX_BATCH} inputs at once")
        blinds = [blind(x, mode=Mode.VOPRF) for x in inputs]
        result = self.evaluate_blinded(key, tuple(b for _, b in blinds))
        combined = combine({a.index: a.evaluated for a in result.answers}, key.threshold)
        outputs = [finalize(x, b, z) for x, (b, _), z in zip(inputs, blinds, combined, strict=True)]
        return OprfResult(outputs, result.asked)

    def evaluate_blinded(self, key: ThresholdPublicKey, blinded: tuple[Element, ...]) -> BlindedResult:
        """Returns t verified node answers for elements someone else blinded (an officer's tool checking
        a revealed identity, issue 14: it verifies them again and unblinds), and the nodes asked.

        Raises what evaluate raises.
        """
        if not blinded or len(blinded) > MAX_BATCH:
            raise ValidationError(f"evaluate between 1 and {MAX_BATCH} elements at once")
        shares = self._public_shares(key)
        threshold = key.threshold
        candidates = [n for n in self._nodes if n.index in shares.public_shares]
        if len(candidates) < threshold:
            raise OprfUnavailableError(
                f"only {len(candidates)} of the {threshold} OPRF nodes needed are configured "
                "(ESCROW_OPRF_NODES)",
                retry_after_s=RETRY_AFTER_S,
            )
        turn = next(self._turns) % len(candidates)
        reserve = candidates[turn:] + candidates[:turn]
        pool = self._executor()
        pending: dict[Future[NodeAnswer], NodeEndpoint] = {}
        calls: dict[Future[NodeAnswer], _Call] = {}
        asked: list[int] = []

        def ask(count: int) -> None:
            for node in reserve[:count]:
                call = _Call()
                future = pool.submit(self._ask, node, shares, blinded, call)
                pending[future], calls[future] = node, call
                asked.append(node.index)
            del reserve[:count]

        ask(threshold)
        answers: dict[int, NodeAnswer] = {}
        uncounted: set[int] = set()  # asked, but certainly counted nothing (refused, or never sent)
        started = time.monotonic()
        deadline, hedge_at = started + self._timeout, started + self._hedge_s
        while pending and len(answers) < threshold:
            now = time.monotonic()
            wake = min(deadline, hedge_at) if reserve else deadline
            done, _ = wait(pending, timeout=max(0.0, wake - now), return_when=FIRST_COMPLETED)
            for future in done:
                node = pending.pop(future)
                if len(answers) >= threshold:  # enough verified answers: the rest need no proof check
                    self._late(node, future)
                    continue
                try:
                    answers[node.index] = self._verified(node, shares, blinded, future.result())
                    self.health.record_answer(node.index)
                except NodeFailure as e:
                    if not e.counted:
                        uncounted.add(node.index)
                    self._skip(node, str(e))
                    ask(1)  # a failed node is replaced at once
            if not done and reserve and time.monotonic() >= hedge_at:
                ask(len(reserve))  # slow answers: ask everyone left
            elif not done and time.monotonic() >= deadline:
                break
        for future, node in pending.items():
            if len(answers) < threshold:
                self._skip(node, f"no answer within {self._timeout:g} s")
            # Not needed (or too late): no request outlives this call, so its worker thread is free
            # again at once; a node slower than the t answers used is not at fault, and not named.
            if future.cancel():  # never started, so never sent
                uncounted.add(node.index)
            calls[future].abort()
        sent = tuple(sorted(i for i in asked if i not in uncounted))
        if len(answers) < threshold:
            # The nodes that did answer counted the batch: the service logs them all the same, or each
            # one's /stats would show more than the log and look like someone else had asked it.
            raise OprfUnavailableError(
                f"only {len(answers)} of the {threshold} OPRF nodes needed answered; try again shortly",
                retry_after_s=RETRY_AFTER_S,
                asked=sent,
            )
        chosen = tuple(answer for _, answer in sorted(answers.items())[:threshold])
        return BlindedResult(chosen, sent)

    def _late(self, node: NodeEndpoint, future: Future[NodeAnswer]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, NodeFailure):
            self._skip(node, str(error))

    def _skip(self, node: NodeEndpoint, reason: str) -> None:
        # Names the node and the reason, never an input or an element.
        log.warning("oprf node %d (%s) skipped: %s", node.index, node.url, reason)
        self.health.record_skip(node.index, reason)

    def _ask(self, node: NodeEndpoint, key: _Key, blinded: tuple[Element, ...], call: _Call) -> NodeAnswer:
        asked = EvaluateRequest(key_id=key.key.key_id, node=node.index, elements=blinded)
        body = asked.to_json()
        auth = sign_service_request(
            self._seed,
            self._signing_key,
            method="POST",
            path=EVALUATE_PATH,
            timestamp_ms=int(self._clock() * 1000),
            nonce=os.urandom(NONCE_BYTES),
            body=body,
        )
        headers = {"Content-Type": "application/json", "Authorization": auth.to_header()}
        try:
            status, data = self._connections.post(node, EVALUATE_PATH, body, headers, call)
        except (OSError, http.client.HTTPException) as e:
            refused = isinstance(e, ConnectionRefusedError)
            raise NodeFailure(f"unreachable ({e.__class__.__name__}: {e})", counted=not refused) from e
        if status != 200:
            raise NodeFailure(
                f"answered HTTP {status}: {data[:200].decode('utf-8', 'replace')!r}",
                counted=not 400 <= status < 500,
            )
        try:
            response = EvaluateResponse.parse(data, expected=asked)
            return NodeAnswer(node.index, response.evaluated, response.proof)
        except (ProtocolError, CryptoError) as e:
            raise NodeFailure(f"gave an answer that does not verify ({e})") from e

    @staticmethod
    def _verified(
        node: NodeEndpoint, key: _Key, blinded: tuple[Element, ...], answer: NodeAnswer
    ) -> NodeAnswer:
        # Proofs are checked here, in the caller's thread, only until t answers verify: a proof check
        # is two scalar multiplications per element plus hashing, and the answers beyond the t-th
        # (asked for availability) are not used, so checking them would only compete for the GIL.
        try:
            verify_answer(key.public_shares[node.index], blinded, answer)
        except CryptoError as e:
            raise NodeFailure(f"gave an answer that does not verify ({e})") from e
        return answer

    def _executor(self) -> ThreadPoolExecutor:
        with self._key_lock:
            if self._pool is None:
                workers = max(1, 4 * len(self._nodes))
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oprf-node")
            return self._pool

    def close(self) -> None:
        """Stops the worker threads (answers still on their way are dropped)."""
        with self._key_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
