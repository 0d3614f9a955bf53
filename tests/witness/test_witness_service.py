"""`escrow witness serve` as a real process: c2sp.org/tlog-witness add-checkpoint, every status code
the spec gives, cosignatures that verify, and a state that never rolls back (kill -9 included)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import nacl.signing
import pytest

from escrow.cli.dev_nodes import free_port
from escrow.client.witness import WitnessEndpoint, WitnessPool
from escrow.crypto.merkle import MemoryNodeStore, consistency_proof, leaf_hash, root_hash
from escrow.crypto.note import (
    add_signature_lines,
    format_checkpoint,
    parse_checkpoint,
    parse_cosigner_vkey,
    sign_note,
    split_note,
    verifier_key_string,
    verify_cosignatures,
)
from escrow.protocol.witness import AddCheckpoint
from tests.witness_support import Witnesses, start_test_witnesses

ORIGIN = "log.test/witnessed"
LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
OTHER_KEY = nacl.signing.SigningKey(bytes(range(1, 33)))
ORIGINS = 40  # the witness trusts LOG_KEY for ORIGIN0..ORIGIN39: each test its own log


_counter = iter(range(ORIGINS))


def _fresh_origin() -> str:
    # Each test its own log (origin) on the shared witness, so no test sees another's state.
    return f"{ORIGIN}{next(_counter)}"


class Tree:
    """A log kept in memory by the test: its entries, and checkpoints signed with a chosen key."""

    def __init__(self, entries: list[bytes] | None = None, origin: str | None = None) -> None:
        self.origin = origin or _fresh_origin()
        self.store = MemoryNodeStore()
        for entry in entries or []:
            self.append(entry)

    def append(self, entry: bytes) -> None:
        self.store.append(leaf_hash(entry))

    @property
    def size(self) -> int:
        return self.store.size

    def checkpoint(self, key: nacl.signing.SigningKey = LOG_KEY, origin: str | None = None) -> str:
        origin = origin or self.origin
        return sign_note(format_checkpoint(origin, self.size, root_hash(self.store, self.size)), origin, key)

    def proof(self, old: int) -> tuple[bytes, ...]:
        return tuple(consistency_proof(self.store, old, self.size)) if 0 < old < self.size else ()


@pytest.fixture(scope="module")
def witnesses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnesses]:
    keys = [verifier_key_string(f"{ORIGIN}{i}", LOG_KEY.verify_key) for i in range(ORIGINS)]
    running = start_test_witnesses(tmp_path_factory.mktemp("witnesses"), keys, count=1)
    yield running
    running.stop()


def _post(url: str, body: bytes) -> tuple[int, str, bytes]:
    request = urllib.request.Request(f"{url}/add-checkpoint", data=body, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def _add(url: str, tree: Tree, old: int, *, note: str | None = None, proof: tuple[bytes, ...] | None = None):
    request = AddCheckpoint(old, tree.proof(old) if proof is None else proof, note or tree.checkpoint())
    return _post(url, request.to_bytes())


def test_a_first_checkpoint_is_cosigned_and_the_cosignature_verifies(witnesses: Witnesses) -> None:
    url, cosigner = witnesses.processes[0].url, parse_cosigner_vkey(witnesses.vkeys[0])
    tree = Tree([b"a", b"b", b"c"])

    status, _, body = _add(url, tree, 0)

    assert status == 200
    line = body.decode()
    assert line.startswith(f"\u2014 {cosigner.name} ")
    assert line.endswith("\n")
    found = verify_cosignatures(add_signature_lines(tree.checkpoint(), [line]), [cosigner])
    assert set(found) == {cosigner.name}
    # The signature is a timestamped_signature: key ID, u64 timestamp, 64-byte Ed25519 signature.
    raw = base64.b64decode(line.split(" ")[2])
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == cosigner.key_hash


def test_a_checkpoint_extending_the_cosigned_one_with_a_valid_proof_is_cosigned(witnesses: Witnesses) -> None:
    url = witnesses.processes[0].url
    tree = Tree([b"a", b"b", b"c"])
    assert _add(url, tree, 0)[0] == 200
    for entry in (b"d", b"e", b"f", b"g"):
        tree.append(entry)

    assert _add(url, tree, 3)[0] == 200
    # The same checkpoint again (old size = its size, same root) is cosigned too.
    assert _add(url, tree, 7)[0] == 200


def test_a_stale_old_size_is_409_with_the_witness_size_as_text_x_tlog_size(witnesses: Witnesses) -> None:
    url = witnesses.processes[0].url
    tree = Tree([b"x"] * 5)
    assert _add(url, tree, 0)[0] == 200
    tree.append(b"y")

    status, content_type, body = _add(url, tree, 2)

    assert (status, content_type, body) == (409, "text/x.tlog.size", b"5\n")


def test_a_consistency_proof_that_does_not_verify_is_422_and_nothing_moves(witnesses: Witnesses) -> None:
    url = witnesses.processes[0].url
    tree = Tree([b"p", b"q", b"r"])
    assert _add(url, tree, 0)[0] == 200
    tree.append(b"s")
    forged = tuple(bytes(32) for _ in tree.proof(3))

    assert _add(url, tree, 3, proof=forged)[0] == 422
    # The witness still holds size 3: the honest request is cosigned.
    assert _add(url, tree, 3)[0] == 200


def test_a_checkpoint_of_an_unknown_origin_is_404(witnesses: Witnesses) -> None:
    tree = Tree([b"a"])
    note = tree.checkpoint(origin="unknown.test/log")

    assert _add(witnesses.processes[0].url, tree, 0, note=note)[0] == 404


def test_a_checkpoint_signed_by_another_key_is_403(witnesses: Witnesses) -> None:
    tree = Tree([b"a"])

    assert _add(witnesses.processes[0].url, tree, 0, note=tree.checkpoint(OTHER_KEY))[0] == 403


def test_an_old_size_above_the_checkpoint_is_400(witnesses: Witnesses) -> None:
    tree = Tree([b"a", b"b"])

    assert _add(witnesses.processes[0].url, tree, 3, proof=())[0] == 400


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 01\n\nx\n",
        b"old -1\n\n",
        b"new 0\n\n",
        b"old 0\nnot base64!\n\n",
        b"old 0\n" + b"AAAA\n" + b"\n",
        b"old 0\n\n" + b"\xff\xfe",
        b"old 0\n" + b"A" * 44 + b"\n" * 64 + b"\n",
    ],
)
def test_malformed_requests_are_400_with_a_problem_body(witnesses: Witnesses, body: bytes) -> None:
    status, content_type, answer = _post(witnesses.processes[0].url, body)

    assert status == 400
    assert content_type == "application/problem+json"
    assert json.loads(answer)["status"] == 400


def test_forked_log_a_second_root_for_a_cosigned_size_is_refused(witnesses: Witnesses) -> None:
    # The attack: the log key is stolen and a rewritten history of the same size is signed with it.
    url = witnesses.processes[0].url
    honest = Tree([b"one", b"two", b"three", b"four"])
    forged = Tree([b"one", b"TWO", b"three", b"four"], origin=honest.origin)
    assert _add(url, honest, 0)[0] == 200

    same_size = _add(url, forged, 4, proof=())
    forged.append(b"five")
    longer = _add(url, forged, 4)

    assert same_size[:2] == (409, "text/x.tlog.size")
    assert same_size[2] == b"4\n"
    assert longer[0] == 422
    honest.append(b"five")
    assert _add(url, honest, 4)[0] == 200


def test_the_witness_never_rolls_back_even_across_kill_9(witnesses: Witnesses) -> None:
    process = witnesses.processes[0]
    tree = Tree([bytes([i]) for i in range(9)])
    note = tree.checkpoint()
    assert _add(process.url, tree, 0)[0] == 200

    process.kill()
    process.restart()

    small = Tree([bytes([i]) for i in range(4)], origin=tree.origin)
    assert _add(process.url, small, 0) == (409, "text/x.tlog.size", b"9\n")
    assert _add(process.url, small, 9, proof=())[0] == 400
    assert _add(process.url, tree, 9, note=note)[0] == 200


def _pool(witnesses: Witnesses) -> WitnessPool:
    return WitnessPool(
        [WitnessEndpoint(parse_cosigner_vkey(witnesses.vkeys[0]), witnesses.processes[0].url)], timeout=5
    )


def test_the_log_side_pool_learns_the_witness_size_from_a_409_and_sends_the_proof_from_it(
    witnesses: Witnesses,
) -> None:
    # Given a witness that already cosigned size 3 (say, before the service restarted)
    tree = Tree([b"a", b"b", b"c"])
    assert _add(witnesses.processes[0].url, tree, 0)[0] == 200
    tree.append(b"d")
    pool = _pool(witnesses)
    checkpoint = parse_checkpoint(split_note(tree.checkpoint())[0])
    asked: list[int] = []

    def proof_from(old: int) -> tuple[bytes, ...]:
        asked.append(old)
        return tree.proof(old)

    # When a fresh pool (which asks with old 0 first) asks it to cosign size 4
    (answer,) = pool.cosign(tree.checkpoint(), checkpoint, proof_from)

    # Then it retried once with the proof from size 3, and the cosignature verifies
    assert answer.ok, answer
    assert asked == [3]
    assert pool.cosign(tree.checkpoint(), checkpoint, proof_from) == []  # asked once per size
    pool.close()


def test_a_witness_ahead_of_an_older_checkpoint_is_reported_with_the_size_it_holds(
    witnesses: Witnesses,
) -> None:
    tree = Tree([bytes([i]) for i in range(6)])
    old_note = Tree([bytes([i]) for i in range(4)], origin=tree.origin).checkpoint()
    # Two gunicorn workers: the first has size 6 cosigned, the second still serves size 4.
    first, second = _pool(witnesses), _pool(witnesses)
    newest = parse_checkpoint(split_note(tree.checkpoint())[0])
    assert first.cosign(tree.checkpoint(), newest, tree.proof)[0].ok

    (answer,) = second.cosign(old_note, parse_checkpoint(split_note(old_note)[0]), tree.proof)

    assert (answer.ok, answer.status, answer.held) == (False, 409, 6)
    first.close()
    second.close()


def test_a_witness_that_is_down_is_reported_within_the_timeout(witnesses: Witnesses) -> None:
    tree = Tree([b"z"])
    key = parse_cosigner_vkey(witnesses.vkeys[0])
    pool = WitnessPool([WitnessEndpoint(key, f"http://127.0.0.1:{free_port()}")], timeout=0.5)

    (answer,) = pool.cosign(tree.checkpoint(), parse_checkpoint(split_note(tree.checkpoint())[0]), tree.proof)

    assert (answer.ok, answer.status) == (False, None)
    assert pool.health.snapshot()[key.name]["failed"] == 1
    pool.close()
