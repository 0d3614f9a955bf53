"""Idempotency-Key on issuance and redemption (issue 17 finding 6, draft-ietf-httpapi-idempotency-key-
header): a retry gets the same answer, another body with the same key 422, a duplicate in flight 409,
keys expire after 24 hours, and the stored answer is sealed under a key only the caller holds."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.idempotency import derive_idempotency_keys
from escrow.errors import IdempotencyKeyReusedError
from escrow.identity.devidp import DevIdentityProvider, DevUser
from escrow.models import Credential, IdempotencyRecord
from escrow.services.idempotency import KEY_TTL, claim_key
from tests.credentials_support import add_api_key, add_platform, sign_in
from tests.oidc_support import MovableClock, use_clock

GUS = DevUser("gus", "Gus Example", "1960-03-04")
KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'
OTHER_KEY = '"0b7a4f4e-5d1c-4c1e-9d7e-1f6f0c1b2a3d"'
VERIFY = "/api/v1/credentials/verify"


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _issue(client: FlaskClient, key: str | None, platform_id: str = "forum") -> Any:
    headers = _csrf(client) | ({"Idempotency-Key": key} if key else {})
    return client.post("/api/v1/me/credentials", json={"platform_id": platform_id}, headers=headers)


def _verify(client: FlaskClient, body: bytes, api_key: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {api_key}"} | ({"Idempotency-Key": key} if key else {})
    return client.post(VERIFY, data=body, headers=headers, content_type="application/json")


@pytest.fixture
def clock(oidc_app: Flask) -> MovableClock:
    clock = MovableClock()
    use_clock(oidc_app, clock)
    return clock


@pytest.fixture
def person(
    oidc_app: Flask,
    clock: MovableClock,
    client: FlaskClient,
    dev_idp: DevIdentityProvider,
    db_session: Session,
) -> FlaskClient:
    add_platform(db_session, "forum")
    add_platform(db_session, "market")
    assert sign_in(client, dev_idp, GUS).status_code == 302
    return client


def _credentials(db_session: Session) -> int:
    return len(db_session.scalars(select(Credential)).all())


def test_retried_issuance_gets_the_same_credential_once(person: FlaskClient, db_session: Session) -> None:
    # Given a credential issued with an Idempotency-Key
    first = _issue(person, KEY)
    assert first.status_code == 201

    # When the request is sent again with the same key (its answer was lost)
    again = _issue(person, KEY)

    # Then it gets the same status and body, and no second credential was made
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _credentials(db_session) == 1
    # And another key is another request
    assert _issue(person, OTHER_KEY).get_json()["credential_id"] != first.get_json()["credential_id"]


def test_same_key_with_another_body_is_422(person: FlaskClient) -> None:
    assert _issue(person, KEY).status_code == 201

    other = _issue(person, KEY, platform_id="market")

    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency-key-reused"


def test_stored_answer_does_not_hold_the_credential_in_clear(
    person: FlaskClient, db_session: Session
) -> None:
    token = _issue(person, KEY).get_json()["credential"]

    rows = db_session.scalars(select(IdempotencyRecord)).all()

    assert len(rows) == 1
    stored = rows[0].response or b""
    assert token.encode() not in stored
    assert token.split(".")[1].encode() not in stored  # not even the claims part
    assert KEY.strip('"').encode() not in rows[0].lookup + stored


def test_keys_expire_after_24_hours(person: FlaskClient, db_session: Session, clock: MovableClock) -> None:
    # Given a key used for an issuance
    assert _issue(person, KEY).status_code == 201
    (row,) = db_session.scalars(select(IdempotencyRecord)).all()
    lookup = row.lookup

    # Then within 24 hours another body with it is refused, and after them it is a new key
    with pytest.raises(IdempotencyKeyReusedError):
        claim_key(db_session, lookup=lookup, request_digest=b"\x01" * 32, now=clock.now + timedelta(hours=23))
    later = clock.now + KEY_TTL + timedelta(seconds=1)
    assert timedelta(hours=24) == KEY_TTL
    assert claim_key(db_session, lookup=lookup, request_digest=b"\x01" * 32, now=later) is None


def test_malformed_idempotency_key_is_400(person: FlaskClient) -> None:
    for bad in ('"short"', '"' + "x" * 300 + '"', '"bad\\\\key-0123456789"'):
        answer = _issue(person, bad)
        assert answer.status_code == 400, bad
        assert answer.get_json()["code"] == "idempotency-key-malformed"


def test_retried_redemption_gets_its_answer_not_409(person: FlaskClient, db_session: Session) -> None:
    # Given a platform that redeemed a credential with an Idempotency-Key
    token = _issue(person, None).get_json()["credential"]
    api_key = add_api_key(db_session, "forum")
    body = json.dumps({"credential": token}).encode()
    first = _verify(person, body, api_key, KEY)
    assert first.status_code == 200

    # When it retries (the answer was lost) with the same key, and then without one
    again = _verify(person, body, api_key, KEY)
    without = _verify(person, body, api_key, None)

    # Then the retry gets the redemption's answer; only a request without the key is a second redemption
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert without.status_code == 409


def test_keys_are_scoped_per_caller(person: FlaskClient, db_session: Session) -> None:
    # Two platforms using the same key do not see each other's answers
    forum_token = _issue(person, None).get_json()["credential"]
    market_token = _issue(person, None, platform_id="market").get_json()["credential"]
    forum, market = add_api_key(db_session, "forum"), add_api_key(db_session, "market")

    first = _verify(person, json.dumps({"credential": forum_token}).encode(), forum, KEY)
    second = _verify(person, json.dumps({"credential": market_token}).encode(), market, KEY)

    assert first.status_code == second.status_code == 200
    assert first.get_json()["platform_id"] == "forum"
    assert second.get_json()["platform_id"] == "market"


def test_concurrent_duplicate_in_flight_is_409(
    oidc_app: Flask, person: FlaskClient, db_session: Session, clock: MovableClock
) -> None:
    # Given a claim on this key committed without its answer (only versions before claim, operation and
    # answer shared one transaction left such rows: tests/test_kill9_gunicorn.py)
    token = _issue(person, None).get_json()["credential"]
    api_key = add_api_key(db_session, "forum")
    body = json.dumps({"credential": token}).encode()
    keys = derive_idempotency_keys(KEY.strip('"').encode(), b"credentials.verify\x00platform:forum")
    digest = hashlib.sha256(VERIFY.encode() + b"\x00" + body).digest()
    assert claim_key(db_session, lookup=keys.lookup, request_digest=digest, now=clock.now) is None
    db_session.commit()

    # When the duplicate arrives
    duplicate = _verify(person, body, api_key, KEY)

    # Then it is refused while the lease runs, and nothing was redeemed by it
    assert duplicate.status_code == 409
    assert duplicate.get_json()["code"] == "idempotency-key-in-flight"
    # And once the lease has run out, a retry runs the operation
    clock.advance(minutes=3)
    assert _verify(person, body, api_key, KEY).status_code == 200
