"""The ceremony header's purpose member (issue 13): present only for the OPRF key, so every stored
escrow-key header keeps its canonical bytes and transcript hash."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.crypto.transcript import canonical_json
from escrow.protocol.ceremony import CeremonyHeader, CeremonyProtocolError, Participant

_PARTICIPANTS = tuple(
    Participant(
        holder=i,
        name=f"H{i}",
        signing_key=bytes([i]) * 32,
        exchange_key=bytes([i + 10]) * 32,
        dealer_index=i,
        recipient_index=i,
    )
    for i in (1, 2, 3)
)
# A header as the service stored and holders signed it before issue 13 (no purpose member).
_STORED_ESCROW_HEADER: dict[str, Any] = {
    "ceremony": 4,
    "kind": "create",
    "context": "0123456789abcdef0123456789abcdef",
    "threshold": 2,
    "participants": [p.to_dict() for p in _PARTICIPANTS],
    "old_key": None,
}


def test_a_stored_escrow_header_reads_as_escrow_and_encodes_to_the_same_bytes() -> None:
    header = CeremonyHeader.from_dict(_STORED_ESCROW_HEADER)

    assert header.purpose == "escrow"
    assert canonical_json(header.to_dict()) == canonical_json(_STORED_ESCROW_HEADER)


def test_an_oprf_header_carries_its_purpose_and_round_trips() -> None:
    header = CeremonyHeader.from_dict({**_STORED_ESCROW_HEADER, "purpose": "oprf"})

    assert header.purpose == "oprf"
    assert header.to_dict()["purpose"] == "oprf"
    assert CeremonyHeader.from_dict(header.to_dict()) == header


@pytest.mark.parametrize("purpose", ["signing", "", "OPRF"])
def test_an_unknown_purpose_is_refused(purpose: str) -> None:
    with pytest.raises(CeremonyProtocolError, match="unknown ceremony purpose"):
        CeremonyHeader.from_dict({**_STORED_ESCROW_HEADER, "purpose": purpose})


def test_an_explicit_escrow_purpose_is_refused_as_a_second_encoding() -> None:
    with pytest.raises(CeremonyProtocolError, match="no purpose member"):
        CeremonyHeader.from_dict({**_STORED_ESCROW_HEADER, "purpose": "escrow"})
