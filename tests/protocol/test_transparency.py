"""The log's JSON formats (escrow.protocol.transparency): round trips and strict parsers."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.transcript import b64u_encode
from escrow.protocol.errors import ProtocolError
from escrow.protocol.transparency import (
    MAX_PAGE,
    ConsistencyProof,
    EntriesPage,
    InclusionProof,
    LogEntry,
    RangeProof,
)

HASHES = (bytes(32), bytes(range(32)))
EVENT = b'{"data":{"request":1},"kind":"disclosure.submitted"}'


def test_proofs_round_trip() -> None:
    assert InclusionProof.from_dict(InclusionProof(3, 8, HASHES).to_dict()) == InclusionProof(3, 8, HASHES)
    assert RangeProof.from_dict(RangeProof(2, 4, 8, HASHES).to_dict()) == RangeProof(2, 4, 8, HASHES)
    assert ConsistencyProof.from_dict(ConsistencyProof(4, 8, HASHES).to_dict()) == ConsistencyProof(
        4, 8, HASHES
    )


def test_entries_page_round_trips_and_decodes_its_events() -> None:
    page = EntriesPage(9, (LogEntry(5, EVENT), LogEntry(6, EVENT)))

    parsed = EntriesPage.from_dict(page.to_dict(), start=5)

    assert parsed == page
    assert parsed.entries[0].event()["kind"] == "disclosure.submitted"


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"index": 1, "tree_size": 2},  # no proof
        {"index": "1", "tree_size": 2, "proof": []},
        {"index": True, "tree_size": 2, "proof": []},  # a boolean is not a count
        {"index": -1, "tree_size": 2, "proof": []},
        {"index": 1, "tree_size": 2, "proof": "abc"},
        {"index": 1, "tree_size": 2, "proof": [b64u_encode(bytes(31))]},
        {"index": 1, "tree_size": 2, "proof": [b64u_encode(bytes(32)) + "="]},
        {"index": 1, "tree_size": 2, "proof": [5]},
    ],
)
def test_inclusion_proof_parser_refuses_malformed_input(data: Any) -> None:
    with pytest.raises(ProtocolError):
        InclusionProof.from_dict(data)


def _row(index: Any, body: Any = None) -> dict[str, Any]:
    return {"index": index, "body": b64u_encode(EVENT) if body is None else body}


@pytest.mark.parametrize(
    "data",
    [
        {"tree_size": 3},
        {"tree_size": 3, "entries": {}},
        {"tree_size": 3, "entries": [_row(6)]},  # not the entry asked for
        {"tree_size": 3, "entries": [_row(5), _row(7)]},  # a gap
        {"tree_size": 3, "entries": [_row(True)]},
        {"tree_size": 3, "entries": [_row(5, body="%%")]},
        {"tree_size": 3, "entries": [_row(5, body=7)]},
        {"tree_size": 3, "entries": ["x"]},
        {"tree_size": "3", "entries": []},
        {"tree_size": 3, "entries": [_row(5 + i) for i in range(MAX_PAGE + 1)]},
    ],
)
def test_entries_page_parser_refuses_malformed_or_out_of_order_pages(data: Any) -> None:
    with pytest.raises(ProtocolError):
        EntriesPage.from_dict(data, start=5)


@pytest.mark.parametrize("leaf", [b"not json", b"[1]", b'{"kind":"x"}', b'{"data":[]}', b"\xff"])
def test_a_leaf_that_is_not_an_event_is_refused(leaf: bytes) -> None:
    with pytest.raises(ProtocolError):
        LogEntry(0, leaf).event()


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_parsers_raise_only_protocol_errors_for_any_json(data: Any) -> None:
    for parse in (InclusionProof.from_dict, RangeProof.from_dict, ConsistencyProof.from_dict):
        with contextlib.suppress(ProtocolError):
            parse(data)
    with contextlib.suppress(ProtocolError):
        EntriesPage.from_dict(data, start=0)
