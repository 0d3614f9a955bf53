"""Strict parsing of the witness wire formats (add-checkpoint, 409 sizes, answers) and of policy files."""

from __future__ import annotations

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.note import CosignerKey
from escrow.protocol.errors import ProtocolError
from escrow.protocol.witness import AddCheckpoint, WitnessPolicy, parse_cosignature_lines, parse_size

NOTE = "log.test/a\n1\n" + "A" * 43 + "=\n\n\u2014 log.test/a AAAA\n"
KEYS = [
    CosignerKey.from_verify_key(f"w{i}.test/w", nacl.signing.SigningKey(bytes([i]) * 32).verify_key)
    for i in (1, 2, 3)
]


@given(old=st.integers(0, 2**63 - 1), proof=st.lists(st.binary(min_size=32, max_size=32), max_size=63))
def test_add_checkpoint_round_trips(old: int, proof: list[bytes]) -> None:
    request = AddCheckpoint(old, tuple(proof), NOTE)

    assert AddCheckpoint.parse(request.to_bytes()) == request


def test_the_request_body_is_byte_for_byte_the_spec_format() -> None:
    body = AddCheckpoint(5, (bytes(32),), NOTE).to_bytes()

    assert body == b"old 5\n" + b"A" * 43 + b"=\n\n" + NOTE.encode()


@pytest.mark.parametrize(
    "body",
    [
        b"old 5\n\n",
        b"old 05\n\n" + NOTE.encode(),
        b"old +5\n\n" + NOTE.encode(),
        b"old 5\nAAA=\n\n" + NOTE.encode(),
    ],
)
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        AddCheckpoint.parse(body)


def test_more_than_63_proof_lines_are_refused_both_ways() -> None:
    with pytest.raises(ProtocolError):
        AddCheckpoint(1, (bytes(32),) * 64, NOTE).to_bytes()
    with pytest.raises(ProtocolError):
        AddCheckpoint.parse(b"old 1\n" + (b"A" * 43 + b"=\n") * 64 + b"\n" + NOTE.encode())


def test_sizes_and_answers_are_parsed_strictly() -> None:
    assert parse_size(b"12\n") == 12
    for bad in (b"12", b"012\n", b"-1\n", b"\n"):
        with pytest.raises(ProtocolError):
            parse_size(bad)
    assert parse_cosignature_lines("\u2014 w x\n".encode()) == ("\u2014 w x\n",)
    with pytest.raises(ProtocolError):
        parse_cosignature_lines(b"not a signature line\n")


def _policy(*lines: str) -> str:
    witnesses = [f"witness w{i} {k.vkey}" for i, k in enumerate(KEYS, start=1)]
    return "\n".join([*witnesses, *lines, ""])


def test_a_k_of_m_group_is_met_by_k_witnesses_and_not_fewer() -> None:
    policy = WitnessPolicy.parse(_policy("group g 2 w1 w2 w3", "quorum g"))

    assert policy.is_satisfied(["w1.test/w", "w3.test/w"])
    assert not policy.is_satisfied(["w2.test/w"])
    assert not policy.is_satisfied(["stranger.test/w", "other.test/w"])
    assert policy.describe() == "2 of 3 (w1, w2, w3)"


def test_nested_groups_all_any_and_none() -> None:
    nested = WitnessPolicy.parse(_policy("group a any w1 w2", "group b all a w3", "quorum b"))
    assert nested.is_satisfied(["w2.test/w", "w3.test/w"])
    assert not nested.is_satisfied(["w1.test/w", "w2.test/w"])
    assert WitnessPolicy.parse("quorum none\n").is_satisfied([])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "quorum g\n",
        _policy("group g 4 w1 w2 w3", "quorum g"),
        _policy("group g 0 w1", "quorum g"),
        _policy("group g 1 w1 w1", "quorum g"),
        _policy("group g 1 w9", "quorum g"),
        _policy("quorum w1", "quorum w2"),
        _policy("frobnicate w1", "quorum w1"),
        _policy("witness w1 " + KEYS[0].vkey, "quorum w1"),
        "witness w1 not-a-vkey\nquorum w1\n",
        _policy("group  g 1 w1", "quorum g"),
    ],
)
def test_malformed_policies_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        WitnessPolicy.parse(text)
