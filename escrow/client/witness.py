"""Asking witnesses for cosignatures (c2sp.org/tlog-witness), as the escrow service does after each
new checkpoint: every configured witness in parallel, the whole round bounded by one timeout.

A witness's answer counts only if its cosignature verifies with the key configured for it. A witness
that holds another size answers 409 with that size; the pool then sends the consistency proof from
that size once (the first request to a witness after a restart is `old 0`, as the spec allows).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from escrow.crypto.errors import CryptoError
from escrow.crypto.note import Checkpoint, CosignerKey, add_signature_lines, verify_cosignatures
from escrow.protocol.errors import ProtocolError
from escrow.protocol.witness import (
    SIZE_MIMETYPE,
    AddCheckpoint,
    WitnessAnswer,
    parse_cosignature_lines,
    parse_size,
)

MAX_ANSWER_BYTES = 16 * 1024
ProofFrom = Callable[[int], Sequence[bytes]]
"""Returns the consistency proof from an old size to the checkpoint's size."""


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness the service asks: its cosigner key (pinned by configuration) and its URL prefix."""

    key: CosignerKey
    url: str

    @property
    def name(self) -> str:
        return self.key.name


@dataclass(slots=True)
class WitnessHealth:
    """Per-witness counts since start: cosignatures gathered, refusals, failures (no answer in time)."""

    cosigned: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, answer: WitnessAnswer) -> None:
        counts = self.cosigned if answer.ok else self.refused if answer.status is not None else self.failed
        with self._lock:
            counts[answer.witness] = counts.get(answer.witness, 0) + 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            names = sorted(set(self.cosigned) | set(self.refused) | set(self.failed))
            return {
                n: {
                    "cosigned": self.cosigned.get(n, 0),
                    "refused": self.refused.get(n, 0),
                    "failed": self.failed.get(n, 0),
                }
                for n in names
            }


class _Conflict(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"the witness holds size {size}")
        self.size = size


class WitnessPool:
    """The witnesses the service asks, and what it knows of each one's size."""

    def __init__(self, witnesses: Sequence[WitnessEndpoint], *, timeout: float) -> None:
        self.witnesses = tuple(witnesses)
        self.timeout = timeout
        self.health = WitnessHealth()
        self._sizes: dict[str, int] = {}  # the size each witness last said it holds
        self._asked: dict[str, int] = {}  # the largest checkpoint size asked of each witness
        self._lock = threading.Lock()
        self._round = threading.Lock()  # one round at a time per process
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, 2 * len(self.witnesses)), thread_name_prefix="witness"
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def cosign(
        self, note: str, checkpoint: Checkpoint, proof_from: ProofFrom, *, have: Collection[str] = ()
    ) -> list[WitnessAnswer]:
        """Asks, in parallel, every witness not in `have` and not yet asked about this size (or a larger
        one) to cosign the signed checkpoint `note`; returns one answer each within `timeout` seconds
        in all (none if no witness is left to ask). `proof_from` is called in this thread only."""
        with self._round:  # a second round for the same size waits for this one's answers
            return self._cosign(note, checkpoint, proof_from, have)

    def _cosign(
        self, note: str, checkpoint: Checkpoint, proof_from: ProofFrom, have: Collection[str]
    ) -> list[WitnessAnswer]:
        deadline = time.monotonic() + self.timeout
        with self._lock:
            size = checkpoint.size
            witnesses = [
                w for w in self.witnesses if w.name not in have and self._asked.get(w.name, -1) < size
            ]
            for w in witnesses:
                self._asked[w.name] = max(self._asked.get(w.name, -1), checkpoint.size)
            olds = {w.name: min(self._sizes.get(w.name, 0), checkpoint.size) for w in witnesses}
        if not witnesses:
            return []
        answers: dict[str, WitnessAnswer] = {}
        proofs: dict[int, Sequence[bytes]] = {}

        def proof(old: int) -> Sequence[bytes]:
            if old not in proofs:
                proofs[old] = proof_from(old) if 0 < old < checkpoint.size else ()
            return proofs[old]

        by_name = {w.name: w for w in witnesses}
        futures: dict[Future[WitnessAnswer], str] = {
            self._executor.submit(self._ask, by_name[n], note, checkpoint, old, proof(old), deadline): n
            for n, old in olds.items()
        }
        retried: set[str] = set()
        while futures:
            done, _ = wait(
                futures, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED
            )
            if not done:
                break
            for future in done:
                name = futures.pop(future)
                try:
                    answers[name] = future.result()
                except _Conflict as conflict:
                    with self._lock:
                        self._sizes[name] = conflict.size
                    if name in retried or conflict.size > checkpoint.size:
                        detail = (
                            f"it holds size {conflict.size}, which this checkpoint of size {checkpoint.size} "
                        )
                        detail += "does not extend" if conflict.size <= checkpoint.size else "is older than"
                        answers[name] = WitnessAnswer(
                            name, checkpoint.size, status=409, detail=detail, held=conflict.size
                        )
                        continue
                    retried.add(name)
                    old = conflict.size
                    again = self._executor.submit(
                        self._ask, by_name[name], note, checkpoint, old, proof(old), deadline
                    )
                    futures[again] = name
        for name in by_name:
            if name not in answers:
                answers[name] = WitnessAnswer(
                    name, checkpoint.size, detail=f"no answer within {self.timeout:g} s"
                )
        with self._lock:
            for answer in answers.values():
                if answer.ok:
                    self._sizes[answer.witness] = checkpoint.size
        result = [answers[name] for name in by_name]
        for answer in result:
            self.health.record(answer)
        return result

    def _ask(
        self,
        witness: WitnessEndpoint,
        note: str,
        checkpoint: Checkpoint,
        old: int,
        proof: Sequence[bytes],
        deadline: float,
    ) -> WitnessAnswer:
        body = AddCheckpoint(old, tuple(proof), note).to_bytes()
        request = urllib.request.Request(  # noqa: S310 - the URL comes from configuration
            witness.url.rstrip("/") + "/add-checkpoint", data=body, method="POST"
        )
        timeout = max(0.05, deadline - time.monotonic())
        size = checkpoint.size
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                answer = response.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as e:
            data = e.read(MAX_ANSWER_BYTES)
            if e.code == 409 and e.headers.get("Content-Type", "").startswith(SIZE_MIMETYPE):
                try:
                    raise _Conflict(parse_size(data)) from e
                except ProtocolError:
                    pass
            return WitnessAnswer(witness.name, size, status=e.code, detail=_detail(data) or f"HTTP {e.code}")
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            return WitnessAnswer(witness.name, size, detail=f"unreachable: {getattr(e, 'reason', e)}")
        try:
            lines = parse_cosignature_lines(answer)
            found = verify_cosignatures(add_signature_lines(note, lines), [witness.key])
        except (ProtocolError, CryptoError) as e:
            return WitnessAnswer(
                witness.name, size, status=200, detail=f"its answer is not a valid cosignature: {e}"
            )
        if witness.name not in found:
            return WitnessAnswer(
                witness.name, size, status=200, detail="its answer holds no cosignature by its key"
            )
        line = next(ln for ln in lines if ln.startswith(f"\u2014 {witness.name} "))
        return WitnessAnswer(witness.name, size, line=line)


def _detail(body: bytes) -> str:
    try:
        problem = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    return str(problem.get("detail", "")) if isinstance(problem, dict) else ""
