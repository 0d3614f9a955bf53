"""Issue 14, part 3: the escrow key swap. A database writer (no key file, no holder) replaces the active
escrow key with one it holds, so that every new registration and credential would seal to it. The
service now seals only to a key its logged, complete ceremony transcript proves, so each variant of
the swap stops registration, and issuance wherever the key is proven again (a process that starts,
or a move of the keys generation), with a 503 problem naming the mismatch; a running worker that
proved the honest key keeps sealing to it. Nothing is ever sealed to the attacker's key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from escrow.cli.main import cli
from escrow.crypto.transcript import canonical_json
from escrow.db import make_engine, upgrade_database
from escrow.errors import EscrowKeyUnpinnedError
from escrow.identity.base import VerifiedIdentity
from escrow.identity.devidp import DevIdentityProvider, DevUser
from escrow.models import (
    KEY_STATUS_ACTIVE,
    KEY_STATUS_RETIRED,
    CeremonyMessage,
    Credential,
    EscrowKey,
    LogEntry,
    Person,
)
from escrow.services.key_pinning import pinned_escrow_key
from escrow.services.read_cache import KEYS, bump_generation
from escrow.services.registration import register_person
from tests.credentials_support import (
    NOW,
    add_platform,
    install_key,
    make_log,
    make_oprf,
    sign_in,
    threshold_key,
)
from tests.crypto.support import run_dkg

IVY = DevUser("ivy", "Ivy Example", "1971-05-06")
KIM = DevUser("kim", "Kim Example", "1982-07-08")


def _csrf(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/v1/session").get_json()["csrf_token"]}


def _issue(client: FlaskClient) -> Any:
    return client.post("/api/v1/me/credentials", json={"platform_id": "forum"}, headers=_csrf(client))


def _attacker_key_row(db_session: Session) -> str:
    """Writes, as a database writer would, an active escrow_keys row for a key the attacker holds."""
    key, _shares = run_dkg(3, 5, context=b"the attacker's own key")
    db_session.execute(update(EscrowKey).values(status=KEY_STATUS_RETIRED))
    db_session.add(
        EscrowKey(
            key_id=key.key_id,
            threshold=3,
            holder_count=5,
            public_key=bytes(key.public_key),
            status=KEY_STATUS_ACTIVE,
            created_at=func.now(),
            activated_at=func.now(),
            key_record=canonical_json(key.to_dict()).decode(),
        )
    )
    db_session.commit()
    return key.key_id


def _swap_verification_keys(db_session: Session) -> str:
    """Keeps the honest public key but swaps every holder's verification key for the attacker's."""
    honest = threshold_key()[0]
    other, _ = run_dkg(3, 5, context=b"the attacker's shares")
    record = {**honest.to_dict(), "verification_keys": other.to_dict()["verification_keys"]}
    db_session.execute(
        text("UPDATE escrow_keys SET key_record = :r WHERE key_id = :k"),
        {"r": canonical_json(record).decode(), "k": honest.key_id},
    )
    db_session.commit()
    return honest.key_id


def _swap_record_in_place(db_session: Session) -> str:
    """Keeps the row's id but stores the attacker's key in its record (with no key id to betray it)."""
    key, _ = run_dkg(3, 5, context=b"another key under the honest key id")
    record = {k: v for k, v in key.to_dict().items() if k != "key_id"}
    db_session.execute(
        text("UPDATE escrow_keys SET key_record = :r, public_key = :p WHERE key_id = :k"),
        {"r": canonical_json(record).decode(), "p": bytes(key.public_key), "k": threshold_key()[0].key_id},
    )
    db_session.commit()
    return key.key_id


def _tamper_transcript(db_session: Session) -> str:
    """Rewrites one stored success message (a transcript swapped without the holders' keys)."""
    row = db_session.scalars(select(CeremonyMessage).where(CeremonyMessage.kind == "confirm")).first()
    assert row is not None
    body = json.loads(row.body)
    body["transcript_hash"] = "00" * 32
    row.body = canonical_json(body).decode()
    db_session.commit()
    return threshold_key()[0].key_id


def _drop_log_entry(db_session: Session) -> str:
    """Deletes the activation entry from the log's table (the log's signed tree shows the gap)."""
    db_session.execute(delete(LogEntry).where(LogEntry.kind == "key.activated"))
    db_session.commit()
    return threshold_key()[0].key_id


def _rewrite_log_digest(db_session: Session) -> str:
    """Rewrites the transcript digest the activation entry recorded."""
    entry = db_session.scalars(select(LogEntry).where(LogEntry.kind == "key.activated")).one()
    body = json.loads(entry.body)
    body["data"]["transcript_sha256"] = "A" * 43
    entry.body = canonical_json(body)
    db_session.commit()
    return threshold_key()[0].key_id


SWAPS = {
    "new-row-with-attackers-key": (_attacker_key_row, "has no completed ceremony on record"),
    "key-record-swapped-in-place": (_swap_record_in_place, "is not the key ceremony"),
    "verification-keys-swapped": (_swap_verification_keys, "is not the key ceremony"),
    "transcript-tampered": (_tamper_transcript, "does not verify"),
    "activation-entry-missing": (_drop_log_entry, "has no activation entry"),
    "logged-digest-rewritten": (_rewrite_log_digest, "the transcript was changed"),
}


@pytest.fixture
def person(
    oidc_app: Flask, client: FlaskClient, dev_idp: DevIdentityProvider, db_session: Session
) -> FlaskClient:
    add_platform(db_session, "forum")
    assert sign_in(client, dev_idp, IVY).status_code == 302
    assert _issue(client).status_code == 201  # the honest, pinned key seals
    # The first issuance made the signing key, which moved the keys generation: the second proves
    # the escrow key again and keeps it under the generation that stays.
    assert _issue(client).status_code == 201
    return client


# Once a worker proved the key, only a change of the key row or of the activation entry can change what
# it seals to; a transcript rewritten later is found by a worker that has not proven the key yet
# (registration test below, and every restart) and by the holders' tools, which replay it themselves.
SWAPS_AFTER_PROOF = [name for name in SWAPS if name != "transcript-tampered"]


def test_a_transcript_tampered_after_its_key_was_proven_leaves_the_sealed_to_key_unchanged(
    person: FlaskClient, db_session: Session
) -> None:
    key_id = _tamper_transcript(db_session)

    response = _issue(person)

    assert response.status_code == 201
    row = db_session.scalars(select(Credential).order_by(Credential.issued_at.desc())).first()
    assert row is not None
    assert json.loads(row.envelope)["key_id"] == key_id


@pytest.mark.parametrize("swap", SWAPS_AFTER_PROOF)
def test_escrow_key_swap_by_a_database_writer_leaves_a_running_worker_sealing_to_the_proven_key(
    person: FlaskClient, db_session: Session, swap: str
) -> None:
    attack, _mismatch = SWAPS[swap]
    honest_key_id = threshold_key()[0].key_id
    attack(db_session)

    response = _issue(person)  # the keys generation did not move: the worker keeps the key it proved

    assert response.status_code == 201, response.get_json()
    row = db_session.scalars(select(Credential).order_by(Credential.issued_at.desc())).first()
    assert row is not None
    assert json.loads(row.envelope)["key_id"] == honest_key_id


@pytest.mark.parametrize("swap", SWAPS_AFTER_PROOF)
def test_escrow_key_swap_by_a_database_writer_stops_issuance_with_a_503_naming_the_mismatch(
    person: FlaskClient, db_session: Session, swap: str
) -> None:
    attack, mismatch = SWAPS[swap]
    issued_before = db_session.scalar(select(func.count()).select_from(Credential))
    key_id = attack(db_session)
    # A writer who also moves the keys generation (as every honest key change does) makes the
    # worker re-prove the key: the swap is found.
    bump_generation(db_session, KEYS)
    db_session.commit()

    response = _issue(person)

    assert response.status_code == 503
    problem = response.get_json()
    assert response.content_type.startswith("application/problem+json")
    assert problem["code"] == "escrow-key-unpinned"
    assert mismatch in problem["detail"]
    assert key_id in problem["detail"]
    assert db_session.scalar(select(func.count()).select_from(Credential)) == issued_before


@pytest.mark.parametrize("swap", list(SWAPS))
def test_escrow_key_swap_by_a_database_writer_stops_registration(
    oidc_app: Flask,
    client: FlaskClient,
    dev_idp: DevIdentityProvider,
    db_session: Session,
    swap: str,
) -> None:
    attack, mismatch = SWAPS[swap]
    attack(db_session)

    response = sign_in(client, dev_idp, KIM)  # the browser registration through the identity provider

    assert response.status_code == 503
    assert mismatch in response.get_data(as_text=True)
    assert db_session.scalar(select(func.count()).select_from(Person)) == 0
    with pytest.raises(EscrowKeyUnpinnedError, match=mismatch):
        register_person(
            db_session,
            identity=VerifiedIdentity("oidc", "https://idp.example", "k", "Kim Example", "1982-07-08", "low"),
            oprf=make_oprf(),
            log=make_log(),
            now=NOW,
        )


def test_the_honest_key_is_verified_once_and_then_served_from_the_cache(
    oidc_app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import escrow.services.key_pinning as pinning

    calls = []
    real = pinning.check_key_pin
    monkeypatch.setattr(pinning, "check_key_pin", lambda *a: calls.append(1) or real(*a))
    pinning._verified.clear()

    first, second = pinned_escrow_key(db_session), pinned_escrow_key(db_session)

    assert first == second == threshold_key()[0]
    assert len(calls) == 1


def test_escrow_key_swap_is_named_by_the_admin_cli(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'swap.sqlite3'}"
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as session:
        install_key(session)
    env = {"ESCROW_DATABASE_URL": url}

    honest = runner.invoke(cli, ["admin", "ceremony", "check-key"], env=env)
    with Session(engine) as session:
        attacker_key_id = _attacker_key_row(session)
    swapped = runner.invoke(cli, ["admin", "ceremony", "check-key"], env=env)
    engine.dispose()

    assert honest.exit_code == 0, honest.output
    assert "OK: escrow key" in honest.output
    assert swapped.exit_code == 1
    assert f"escrow key {attacker_key_id} has no completed ceremony on record" in swapped.output
    assert "Traceback" not in swapped.output
