"""Canonical encodings and Fiat-Shamir transcripts: unambiguous, strict, stable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.errors import EncodingError
from escrow.crypto.group import L
from escrow.crypto.transcript import Transcript, b64u_decode, b64u_encode, canonical_json, expand_message_xmd


def test_canonical_json_sorts_keys_and_has_no_whitespace() -> None:
    assert canonical_json({"b": [1, True, None], "a": "é"}) == '{"a":"é","b":[1,true,null]}'.encode()


@pytest.mark.parametrize("value", [1.5, b"x", {1: "a"}, {"a": {3.0}}, [object()]])
def test_canonical_json_refuses_ambiguous_types(value: object) -> None:
    with pytest.raises(EncodingError):
        canonical_json(value)


@given(st.binary(max_size=100))
def test_b64u_round_trips(data: bytes) -> None:
    text = b64u_encode(data)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert b64u_decode(text) == data


@pytest.mark.parametrize("text", ["AA==", "A", "AB", "a+b/", "ab!c", 5])
def test_b64u_decode_is_strict(text: object) -> None:
    with pytest.raises(EncodingError):
        b64u_decode(text)  # type: ignore[arg-type]


def test_b64u_decode_checks_length() -> None:
    with pytest.raises(EncodingError, match="expected 3 bytes"):
        b64u_decode(b64u_encode(b"ab"), length=3)


def test_transcript_is_injective_across_item_boundaries() -> None:
    one = Transcript(b"d").append(b"x", b"ab").append(b"x", b"c").digest()
    two = Transcript(b"d").append(b"x", b"a").append(b"x", b"bc").digest()
    other_domain = Transcript(b"e").append(b"x", b"ab").append(b"x", b"c").digest()
    assert len({one, two, other_domain}) == 3


def test_transcript_known_answer() -> None:
    # Fixed vector, computed independently with hashlib over the documented byte layout.
    t = Transcript(b"escrow/test").append(b"label", b"data").append_int(b"n", 7)
    assert t.digest().hex()[:32] == "96a07bf6585391bbfae8d995e08a2695"
    assert t.challenge().to_int() < L


# RFC 9380 expand_message_xmd (SHA-512), the expander behind ristretto255 HashToGroup and HashToScalar.

_XMD = json.loads(
    (Path(__file__).parents[1] / "vectors" / "rfc9380-expand-message-xmd-sha512.json").read_text()
)


@pytest.mark.parametrize("vector", _XMD["vectors"], ids=lambda v: f"{v['msg']!r}-{v['len_in_bytes']}")
def test_expand_message_xmd_matches_rfc9380_k3(vector: dict[str, Any]) -> None:
    out = expand_message_xmd(vector["msg"].encode(), _XMD["DST"].encode(), vector["len_in_bytes"])
    assert out.hex() == vector["uniform_bytes"]


@pytest.mark.parametrize("length", [1, 63, 64, 65, 255 * 64])
def test_expand_message_xmd_gives_the_asked_length_and_prefixes_agree(length: int) -> None:
    # Different lengths give unrelated outputs (the length is hashed in), but each has the right size.
    out = expand_message_xmd(b"msg", b"dst", length)
    assert len(out) == length


def test_expand_message_xmd_binds_the_length() -> None:
    assert expand_message_xmd(b"m", b"d", 64)[:32] != expand_message_xmd(b"m", b"d", 32)


@pytest.mark.parametrize(
    ("msg", "dst", "length"),
    [
        (b"m", b"", 32),  # empty DST
        (b"m", b"d" * 256, 32),  # DST over 255 bytes
        (b"m", b"d", 0),
        (b"m", b"d", 255 * 64 + 1),  # ell > 255
        (b"m", b"d", True),
        ("m", b"d", 32),
        (b"m", "d", 32),
    ],
)
def test_expand_message_xmd_refuses_what_rfc9380_aborts_on(msg: Any, dst: Any, length: Any) -> None:
    with pytest.raises(EncodingError):
        expand_message_xmd(msg, dst, length)
