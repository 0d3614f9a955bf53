"""Review of issue 15 (commit 566774a): the escrow key in force, read in one statement and kept under the
keys generation. A database writer (no key file, no holder) brings back a retired escrow key: the
holders rotated to a new key (say the old one's holders are gone, or compromised), and the writer only
flips the `status` columns back, or also writes a `key.activated` row of its own outside the log's tree.

The retired key has a complete ceremony and its own activation entry, so the pin found it "proven":
every worker that re-proved it (one that starts, or after any move of the keys generation) sealed new
credentials and registrations to the key the log says was replaced, with nothing in the log. The key in
force is now the one the newest key entry of the log's tree names.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.transcript import canonical_json
from escrow.identity.base import VerifiedIdentity
from escrow.identity.devidp import DevIdentityProvider, DevUser
from escrow.keystore import load_keyring
from escrow.models import (
    KEY_STATUS_ACTIVE,
    KEY_STATUS_RETIRED,
    Credential,
    EscrowKey,
    LogEntry,
    LogState,
    SigningKey,
)
from escrow.protocol.credentials import DEFAULT_LEEWAY, StaticKeys, verify_credential
from escrow.services.credentials import issue_credential
from escrow.services.dev_ceremony import new_holder_secrets, record_simulated_ceremony
from escrow.services.read_cache import KEYS, bump_generation
from escrow.services.registration import register_person
from escrow.services.signing_keys import published_jwks, rotate_signing_key
from tests.credentials_support import (
    NOW,
    add_platform,
    install_key,
    make_log,
    make_oprf,
    sign_in,
    threshold_key,
)

IVY = DevUser("ivy", "Ivy Example", "1971-05-06")


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _issue(client: FlaskClient) -> Any:
    return client.post("/api/v1/me/credentials", json={"platform_id": "forum"}, headers=_csrf(client))


def _newest_envelope_key(db_session: Session) -> str:
    row = db_session.scalars(select(Credential).order_by(Credential.issued_at.desc())).first()
    assert row is not None
    return str(json.loads(row.envelope)["key_id"])


@pytest.fixture
def rotated(oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session) -> str:
    """Ivy signed in and got a credential under the test key; then the holders rotated to a new key
    (its own ceremony, new holders). Returns the new key's id."""
    add_platform(db_session, "forum")
    assert sign_in(client, dev_idp, IVY).status_code == 302
    assert _issue(client).status_code == 201
    new = record_simulated_ceremony(
        db_session, threshold=2, holders=new_holder_secrets(3), log=make_log(), now=NOW
    ).key
    assert _issue(client).status_code == 201
    assert _newest_envelope_key(db_session) == new.key_id
    return new.key_id


def _reactivate_retired_key(db_session: Session) -> str:
    """The database writer's two UPDATEs: the retired key active again, the key in force retired."""
    old = threshold_key()[0].key_id
    db_session.execute(update(EscrowKey).values(status=KEY_STATUS_RETIRED))
    db_session.execute(update(EscrowKey).where(EscrowKey.key_id == old).values(status=KEY_STATUS_ACTIVE))
    return old


def _copy_old_activation_outside_the_tree(db_session: Session) -> None:
    """Re-inserts the retired key's own activation entry as the newest row of log_entries, at an
    index beyond the tree's size (no checkpoint covers it; the sequencer never reaches it)."""
    old = threshold_key()[0].key_id
    entries = db_session.scalars(select(LogEntry).where(LogEntry.kind == "key.activated")).all()
    entry = next(e for e in entries if json.loads(e.body)["data"]["key_id"] == old)
    size = db_session.scalar(select(LogState.size))
    assert size is not None
    body = json.loads(entry.body)
    db_session.add(
        LogEntry(
            idx=size + 1_000_000, kind=entry.kind, body=canonical_json(body), created_at=entry.created_at
        )
    )


@pytest.mark.parametrize(
    "with_forged_entry", [False, True], ids=["status-flip", "status-flip-and-off-tree-entry"]
)
def test_retired_escrow_key_reactivated_by_a_database_writer_is_never_sealed_to(
    rotated: str, client: FlaskClient, db_session: Session, with_forged_entry: bool
) -> None:
    old = _reactivate_retired_key(db_session)
    if with_forged_entry:
        _copy_old_activation_outside_the_tree(db_session)
    # Moved by the writer, or by any honest key change later; a worker that starts proves it anyway.
    bump_generation(db_session, KEYS)
    db_session.commit()
    issued_before = db_session.scalar(select(func.count()).select_from(Credential))

    response = _issue(client)

    assert response.status_code == 503, (response.status_code, _newest_envelope_key(db_session))
    problem = response.get_json()
    assert problem["code"] == "escrow-key-unpinned"
    assert old in problem["detail"]
    assert "names another key or ceremony" in problem["detail"]
    assert db_session.scalar(select(func.count()).select_from(Credential)) == issued_before


def test_the_rotated_to_key_keeps_sealing_after_a_bump(
    rotated: str, client: FlaskClient, db_session: Session
) -> None:
    # An honest change elsewhere (say a new signing key) moves the generation: the key is proven again.
    bump_generation(db_session, KEYS)
    db_session.commit()

    assert _issue(client).status_code == 201
    assert _newest_envelope_key(db_session) == rotated


# Item 1 of the review, second part: a value cached under a generation it does not belong to. The first
# issuance that finds no signing key makes one (its row, its file, a move of the keys generation); with an
# Idempotency-Key the whole request is one transaction (httpkit.one_transaction), and the cache kept that
# key under the generation read before it was made. A fault that rolls the request back after the key
# was made (here a database writer's trigger on idempotency_keys; a dropped connection does the same)
# left the worker signing with a key whose row never committed: every later credential's row names it
# (a foreign key), so the worker failed every issuance until some other change moved the generation.

_FAULT_SQLITE = (
    "CREATE TRIGGER review15_fault BEFORE UPDATE ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'fault'); END"
)
_FAULT_PG = (
    "CREATE FUNCTION review15_fault() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'fault'; END $$",
    "CREATE TRIGGER review15_fault BEFORE UPDATE ON idempotency_keys FOR EACH ROW "
    "EXECUTE FUNCTION review15_fault()",
)


def _install_fault(db_session: Session) -> None:
    statements = _FAULT_PG if db_session.get_bind().dialect.name == "postgresql" else (_FAULT_SQLITE,)
    for statement in statements:
        db_session.execute(text(statement))
    db_session.commit()


def _remove_fault(db_session: Session) -> None:
    db_session.execute(
        text(
            "DROP TRIGGER review15_fault"
            + (" ON idempotency_keys" if db_session.get_bind().dialect.name == "postgresql" else "")
        )
    )
    db_session.commit()


def test_signing_key_made_in_a_rolled_back_issuance_is_not_kept_by_the_worker(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session
) -> None:
    add_platform(db_session, "forum")
    assert sign_in(client, dev_idp, IVY).status_code == 302
    assert db_session.scalar(select(func.count()).select_from(SigningKey)) == 0
    _install_fault(db_session)
    headers = {**_csrf(client), "Idempotency-Key": '"review15-rolled-back-issuance"'}
    try:
        failed = client.post("/api/v1/me/credentials", json={"platform_id": "forum"}, headers=headers)
        assert failed.status_code == 500
    except DBAPIError:  # the test app may propagate it
        pass
    _remove_fault(db_session)
    assert db_session.scalar(select(func.count()).select_from(SigningKey)) == 0  # it rolled back

    response = _issue(client)  # the fault is gone

    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    assert db_session.scalar(select(func.count()).select_from(SigningKey)) == 1


# Item 3 of the review: a retired signing key's publication. It is extended to the next whole hour after
# each credential's expiry, and verifiers (the SDK, verify_and_redeem) accept a credential until its
# expiry plus DEFAULT_LEEWAY. A credential whose expiry fell on the hour left its key published exactly
# until then: a verifier fetching the JWKS in the leeway met a valid credential it had no key for.


def test_retired_signing_key_stays_published_through_the_leeway_of_its_last_credential(
    db_session: Session, tmp_path: Path
) -> None:
    keyring = load_keyring(Settings.for_tests("sqlite://", tmp_path / "keys"))
    install_key(db_session)
    add_platform(db_session, "hourly", credential_lifetime_s=3600)
    person = register_person(
        db_session,
        identity=VerifiedIdentity("oidc", "https://idp.example", "h", "Hal Example", "1990-01-02", "low"),
        oprf=make_oprf(),
        log=make_log(),
        now=NOW,
    )
    top = NOW.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # expiry on the hour too
    issued = issue_credential(
        db_session,
        person_id=person.account.id,
        platform_id="hourly",
        secret=person.secret,
        keyring=keyring,
        issuer="http://escrow.test",
        log=make_log(),
        now=top,
    )
    rotate_signing_key(db_session, keyring, log=make_log(), now=top)
    in_leeway = issued.expires_at + DEFAULT_LEEWAY / 2

    keys = StaticKeys(published_jwks(db_session, now=in_leeway))

    credential = verify_credential(
        issued.token, keys, issuer="http://escrow.test", platform_id="hourly", now=in_leeway
    )
    assert credential.credential_id == issued.credential_id
