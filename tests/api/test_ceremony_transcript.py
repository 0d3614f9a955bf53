"""Offline verification of a ceremony transcript refuses every kind of tampering (issue 4)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.crypto.ceremony_messages import sign_message
from escrow.errors import EscrowError
from escrow.httpkit import get_components
from escrow.protocol.ceremony import CheatingHolderError, SignedMessage, WrongSignerError, verify_transcript
from escrow.services import ceremony as ceremony_service
from tests.api.holders import enrol_holders, run_ceremony

NOW = datetime.now(UTC)


@pytest.fixture
def transcript(app: Flask, client: FlaskClient, db_session: Session) -> dict[str, Any]:
    """The public transcript of a completed 2-of-3 ceremony."""
    holders = enrol_holders(app, client, db_session, 3)
    ceremony_id = ceremony_service.open_ceremony(
        db_session,
        threshold=2,
        holder_ids=[h.id for h in holders],
        log=get_components(app).log,
        now=datetime.now(UTC),
    )
    assert run_ceremony(client, holders, ceremony_id) == "active"
    data: dict[str, Any] = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()
    return data


def test_untouched_transcript_verifies_and_recomputes_the_key(transcript: dict[str, Any]) -> None:
    report = verify_transcript(transcript)

    assert report.is_complete
    assert report.key is not None
    assert report.key.to_dict() == transcript["key"]


@pytest.mark.parametrize("index", range(12))
def test_changed_message_body_is_not_signed_by_its_sender(transcript: dict[str, Any], index: int) -> None:
    tampered = copy.deepcopy(transcript)
    tampered["messages"][index]["body"]["tampered"] = True

    with pytest.raises(WrongSignerError):
        verify_transcript(tampered)


@pytest.mark.parametrize("index", range(12))
def test_message_moved_to_another_sender_is_refused(transcript: dict[str, Any], index: int) -> None:
    tampered = copy.deepcopy(transcript)
    body = tampered["messages"][index]["body"]
    ids = [p["holder"] for p in tampered["header"]["participants"]]
    body["holder"] = ids[(ids.index(body["holder"]) + 1) % len(ids)]

    with pytest.raises(WrongSignerError):
        verify_transcript(tampered)


def test_swapped_participant_key_breaks_every_success_signature(transcript: dict[str, Any]) -> None:
    # The header is not signed message by message, but every holder signed its hash.
    tampered = copy.deepcopy(transcript)
    participants = tampered["header"]["participants"]
    participants[0]["exchange_key"] = participants[1]["exchange_key"]

    with pytest.raises(CheatingHolderError, match="signed another transcript"):
        verify_transcript(tampered)


def test_replaced_drill_envelope_is_refused(transcript: dict[str, Any]) -> None:
    tampered = copy.deepcopy(transcript)
    tampered["drill_envelope"]["nonce"] = tampered["drill_envelope"]["r"][:32]

    with pytest.raises(EscrowError, match="drill envelope"):
        verify_transcript(tampered)


def test_dropped_message_leaves_the_ceremony_incomplete(transcript: dict[str, Any]) -> None:
    tampered = copy.deepcopy(transcript)
    tampered["messages"] = [m for m in tampered["messages"] if m["body"]["kind"] != "drill"][:-1] + [
        m for m in tampered["messages"] if m["body"]["kind"] == "drill"
    ][1:]

    report = verify_transcript(tampered)

    assert not report.is_complete


def test_a_success_message_signing_another_access_structure_names_its_holder(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given a completed 2-of-3 ceremony (issue 16: each success message carries what its holder saw)
    holders = enrol_holders(app, client, db_session, 3)
    ceremony_id = ceremony_service.open_ceremony(
        db_session, threshold=2, holder_ids=[h.id for h in holders], log=get_components(app).log, now=NOW
    )
    assert run_ceremony(client, holders, ceremony_id) == "active"
    transcript: dict[str, Any] = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()

    # When holder 2's success message is replaced by one it signed over a 1-of-3 structure
    index, message = next(
        (i, m)
        for i, m in enumerate(transcript["messages"])
        if m["body"]["kind"] == "confirm" and m["body"]["holder"] == holders[1].id
    )
    body = {**message["body"], "access": {**message["body"]["access"], "threshold": 1}}
    transcript["messages"][index] = SignedMessage(
        body, sign_message(holders[1].secrets.signing_seed, body)
    ).to_dict()

    # Then the offline check names holder 2
    with pytest.raises(CheatingHolderError, match="signed another access structure") as caught:
        verify_transcript(transcript)
    assert caught.value.holder == holders[1].id
