"""The ceremony header's purpose member (issue 13): present only for the OPRF key, so every stored
escrow-key header keeps its canonical bytes and transcript hash; and (issue 16) what the header binds
into the signed transcript hash, the published minimum access structure, the confirmed structure."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.crypto.ceremony_messages import b64, fingerprint
from escrow.crypto.transcript import canonical_json
from escrow.protocol.ceremony import (
    AccessBelowFloorError,
    AccessStructure,
    CeremonyHeader,
    CeremonyProtocolError,
    Participant,
    ceremony_transcript_hash,
    check_access_floor,
    check_confirmed_access,
)

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


# Issue 16, item 2: what each recipient signs covers the access structure it was shown.


def _header(**changes: Any) -> CeremonyHeader:
    return CeremonyHeader.from_dict({**_STORED_ESCROW_HEADER, **changes})


def _with_participant(index: int, **changes: Any) -> list[dict[str, Any]]:
    participants = [p.to_dict() for p in _PARTICIPANTS]
    participants[index] = {**participants[index], **changes}
    return participants


@pytest.mark.parametrize(
    "changes",
    [
        {"threshold": 3},
        {"participants": _with_participant(2, name="Mallory")},
        {"participants": _with_participant(2, signing_key=b64(b"\x63" * 32))},
        {"participants": _with_participant(2, exchange_key=b64(b"\x64" * 32))},
        {"participants": _with_participant(2, recipient_index=None)},
        {"participants": [p.to_dict() for p in _PARTICIPANTS[:2]]},
        {"purpose": "oprf"},
    ],
    ids=["threshold", "name", "signing-key", "exchange-key", "recipient", "roster", "purpose"],
)
def test_the_signed_transcript_hash_covers_the_threshold_the_roster_and_the_purpose(
    changes: dict[str, Any],
) -> None:
    # The header is in the transcript hash each recipient signs as its success message: a service
    # that changed t, a holder or the purpose after the holder saw them gets another hash.
    assert ceremony_transcript_hash(_header(**changes), []) != ceremony_transcript_hash(_header(), [])


@pytest.mark.parametrize(("threshold", "holders"), [(1, 1), (1, 2), (1, 3), (2, 4), (3, 6), (3, 2), (0, 2)])
def test_an_access_structure_below_the_published_minimum_is_refused(threshold: int, holders: int) -> None:
    with pytest.raises(AccessBelowFloorError, match="below the published minimum"):
        check_access_floor(threshold, holders)


@pytest.mark.parametrize(("threshold", "holders"), [(2, 2), (2, 3), (3, 4), (3, 5), (4, 7)])
def test_an_access_structure_at_or_above_the_minimum_is_accepted(threshold: int, holders: int) -> None:
    check_access_floor(threshold, holders)


def test_a_confirmed_access_structure_must_be_the_headers() -> None:
    header = _header()
    confirmed = AccessStructure(header, {1: "A", 2: "B", 3: "C"}).to_dict()
    check_confirmed_access(header, confirmed)
    assert [m["signing_fingerprint"] for m in confirmed["members"]] == [
        fingerprint(p.signing_key) for p in _PARTICIPANTS
    ]

    lowered = {**confirmed, "threshold": 1}
    fewer = {**confirmed, "members": confirmed["members"][:2], "holders": 2}
    renamed = {
        **confirmed,
        "members": [{**confirmed["members"][0], "name": "Mallory"}, *confirmed["members"][1:]],
    }
    for wrong in (lowered, fewer, renamed, None, {"members": "x"}, {**confirmed, "members": [1, 2, 3]}):
        with pytest.raises(CeremonyProtocolError):
            check_confirmed_access(header, wrong)
