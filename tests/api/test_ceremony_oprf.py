"""The OPRF key ceremony (issue 13): the same relayed dealerless ceremony, purpose ``oprf``, run by
enrolled holders (the node operators) through the HTTP API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import nacl.pwhash
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.holderfile import encrypt_holder_file
from escrow.crypto.ristretto import from_edwards
from escrow.crypto.transcript import b64u_decode
from escrow.errors import InvalidStateError, ValidationError
from escrow.httpkit import get_components
from escrow.models import KEY_STATUS_ACTIVE, KEY_STATUS_RETIRED, LogEntry, OprfKey, Person
from escrow.node.settings import NodeSettings, load_share
from escrow.protocol.ceremony import CheatingHolderError, verify_transcript
from escrow.services import ceremony as ceremony_service
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.oprf_keys import active_oprf_key, oprf_key_event
from tests.api.holders import Holder, enrol_holders, run_ceremony

NOW = datetime.now(UTC)
PASSPHRASE = "node operator passphrase"


def _open_oprf(app: Flask, session: Session, holders: list[Holder], threshold: int = 2) -> int:
    return ceremony_service.open_ceremony(
        session,
        threshold=threshold,
        holder_ids=[h.id for h in holders],
        log=get_components(app).log,
        now=NOW,
        purpose="oprf",
    )


def _logged(session: Session, kind: str) -> list[dict[str, object]]:
    rows = session.scalars(select(LogEntry.body).where(LogEntry.kind == kind).order_by(LogEntry.idx)).all()
    return [json.loads(body)["data"] for body in rows]


def test_oprf_ceremony_through_the_relay_installs_the_oprf_key_and_no_escrow_key(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given three enrolled node operators and a 2-of-3 OPRF ceremony (the test database already has
    # the test network's OPRF key active, and no person registered under it)
    holders = enrol_holders(app, client, db_session, 3)
    previous = db_session.scalars(select(OprfKey).where(OprfKey.status == KEY_STATUS_ACTIVE)).one().key_id
    ceremony_id = _open_oprf(app, db_session, holders)

    # When every operator runs the unchanged holder tool
    status = run_ceremony(client, holders, ceremony_id)

    # Then the new OPRF key is active (the old one retired), no escrow key was made, the purpose was
    # logged at opening, and the log holds the key with every node's public share
    assert status == "active"
    state = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()
    key = active_oprf_key(db_session)
    assert key.to_dict() == state["key"]
    assert db_session.get(OprfKey, previous).status == KEY_STATUS_RETIRED  # type: ignore[union-attr]
    with pytest.raises(InvalidStateError):
        active_escrow_key(db_session)
    assert _logged(db_session, "ceremony.opened")[-1]["purpose"] == "oprf"
    logged = _logged(db_session, "oprf.key_activated")[-1]
    assert logged == oprf_key_event(key)
    assert set(logged["public_shares"]) == {"1", "2", "3"}  # type: ignore[arg-type]
    # and the public listing says what the ceremony made
    listed = next(c for c in client.get("/api/v1/ceremonies").get_json() if c["id"] == ceremony_id)
    assert listed["purpose"] == "oprf"
    assert b"Makes the OPRF key" in client.get(f"/ceremonies/{ceremony_id}").data
    # and a share of the OPRF key approves nothing: its holders are no holders of any escrow key
    with pytest.raises(InvalidStateError):
        ceremony_service.holder_indices(db_session, key.key_id)


def test_oprf_transcript_verifies_offline_with_its_purpose_and_the_purpose_is_signed(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given a completed OPRF ceremony's public transcript
    holders = enrol_holders(app, client, db_session, 3)
    ceremony_id = _open_oprf(app, db_session, holders)
    assert run_ceremony(client, holders, ceremony_id) == "active"
    transcript = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()

    # When it is replayed offline, as is and with its purpose struck out
    report = verify_transcript(transcript)
    transcript["header"].pop("purpose")

    # Then it verifies as an OPRF ceremony, and without the purpose no success signature matches
    assert report.is_complete
    assert report.header.purpose == "oprf"
    assert report.key is not None
    assert report.key.to_dict() == transcript["key"]
    with pytest.raises(CheatingHolderError, match="signed another transcript"):
        verify_transcript(transcript)


def test_a_node_loads_its_share_from_the_operators_holder_file(
    app: Flask, client: FlaskClient, db_session: Session, tmp_path: Path
) -> None:
    # Given an OPRF ceremony run by three operators, each holder file as the tool saves it
    holders = enrol_holders(app, client, db_session, 3)
    ceremony_id = _open_oprf(app, db_session, holders)
    assert run_ceremony(client, holders, ceremony_id) == "active"
    key = active_oprf_key(db_session)
    logged = _logged(db_session, "oprf.key_activated")[-1]["public_shares"]

    for holder in holders:
        path = tmp_path / f"operator-{holder.id}.escrow"
        path.write_bytes(
            encrypt_holder_file(
                holder.secrets,
                PASSPHRASE,
                opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
            )
        )

        # When the node opens it by key id (what `escrow oprf-node serve --key-id` does)
        share = load_share(
            NodeSettings(
                share_file=path,
                passphrase=PASSPHRASE,
                service_key=bytes(32),
                data_dir=tmp_path,
                key_id=key.key_id,
            )
        )

        # Then its public share is the one the log recorded for its index
        assert share.key == key
        assert bytes(share.public_share) == bytes(from_edwards(key.verification_key(share.index)))
        assert bytes(share.public_share) == b64u_decode(logged[str(share.index)])  # type: ignore[index]


def test_escrow_ceremony_header_has_no_purpose_member(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Stored escrow-key transcripts must keep verifying: their header encodes exactly as before.
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = ceremony_service.open_ceremony(
        db_session, threshold=2, holder_ids=[h.id for h in holders], log=get_components(app).log, now=NOW
    )

    transcript = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()

    assert "purpose" not in transcript["header"]
    assert _logged(db_session, "ceremony.opened")[-1]["purpose"] == "escrow"


def test_open_ceremony_refuses_an_unknown_purpose(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    holders = enrol_holders(app, client, db_session, 2)

    with pytest.raises(ValidationError, match="purpose must be one of escrow, oprf"):
        ceremony_service.open_ceremony(
            db_session,
            threshold=2,
            holder_ids=[h.id for h in holders],
            log=get_components(app).log,
            now=NOW,
            purpose="signing",
        )


def test_admin_api_opens_an_oprf_ceremony_and_refuses_an_unknown_purpose(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    login_as,  # type: ignore[no-untyped-def]
) -> None:
    login_as("ada", "admin")
    holders = enrol_holders(app, client, db_session, 2)
    csrf = {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}
    body = {"threshold": 2, "holders": [h.id for h in holders]}

    bad = client.post("/api/v1/admin/ceremonies", json={**body, "purpose": "bogus"}, headers=csrf)
    not_text = client.post("/api/v1/admin/ceremonies", json={**body, "purpose": 1}, headers=csrf)
    opened = client.post("/api/v1/admin/ceremonies", json={**body, "purpose": "oprf"}, headers=csrf)

    assert bad.status_code == 422
    assert "purpose" in bad.get_json()["detail"]
    assert not_text.status_code == 422
    assert opened.status_code == 201
    header = client.get(f"/api/v1/ceremonies/{opened.get_json()['id']}").get_json()["header"]
    assert header["purpose"] == "oprf"


def test_reshare_of_the_oprf_key_is_refused(app: Flask, client: FlaskClient, db_session: Session) -> None:
    holders = enrol_holders(app, client, db_session, 2)
    ids = [h.id for h in holders]

    with pytest.raises(ValidationError, match="resharing the OPRF key is not supported"):
        ceremony_service.open_reshare(
            db_session,
            threshold=2,
            dealer_ids=ids,
            holder_ids=ids,
            log=get_components(app).log,
            now=NOW,
            purpose="oprf",
        )


def _add_person(session: Session) -> None:
    session.add(
        Person(
            person_key=b"\x01" * 32,
            provider_kind="oidc",
            assurance="high",
            escrow_key_id="ek1-test",
            identity_seal=b"sealed",
            created_at=NOW,
        )
    )
    session.commit()


def test_oprf_ceremony_is_refused_once_persons_are_registered(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    holders = enrol_holders(app, client, db_session, 2)
    _add_person(db_session)

    with pytest.raises(InvalidStateError, match="would lock them out"):
        _open_oprf(app, db_session, holders)


def test_oprf_ceremony_aborts_if_persons_registered_while_it_ran(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given an OPRF ceremony opened before anyone registered
    holders = enrol_holders(app, client, db_session, 2)
    previous = active_oprf_key(db_session)
    ceremony_id = _open_oprf(app, db_session, holders)

    # When a person registers under the old OPRF key before the ceremony completes
    _add_person(db_session)
    status = run_ceremony(client, holders, ceremony_id)

    # Then the ceremony aborts saying why, and the old key stays active
    assert status == "aborted"
    assert "would lock them out" in client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()["outcome"]
    assert active_oprf_key(db_session) == previous
