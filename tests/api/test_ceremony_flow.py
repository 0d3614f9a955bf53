"""The whole key ceremony through the HTTP API, driven by five holder clients (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from escrow.crypto.seal import combine_and_open, partial_decrypt, seal
from escrow.services import ceremony as ceremony_service
from escrow.services.escrow_keys import active_escrow_key
from escrow.web.session import get_extension
from tests.api.holders import enrol_holders, run_ceremony

NOW = datetime.now(UTC)


def test_full_3_of_5_ceremony_activates_a_key_every_holder_can_use(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given five enrolled holders and an open 3-of-5 ceremony
    holders = enrol_holders(app, client, db_session, 5)
    ceremony_id = ceremony_service.open_ceremony(
        db_session, threshold=3, holder_ids=[h.id for h in holders], log=get_extension(app).log, now=NOW
    )

    # When every holder runs the tool
    status = run_ceremony(client, holders, ceremony_id)

    # Then the key is active, and any three new shares open an envelope sealed to it
    assert status == "active"
    key = active_escrow_key(db_session)
    envelope = seal(key, b"Jane Doe", {"platform": "p"})
    digest = b"\x01" * 32
    partials = [
        partial_decrypt(h.secrets.share_for(key.key_id).share, envelope, digest) for h in holders[1:4]
    ]
    assert combine_and_open(key, envelope, digest, partials).identity == b"Jane Doe"
