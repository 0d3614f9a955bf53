"""Registration: one account per person, identity sealed at once, logins by provider or password."""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any

import argon2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.seal import IdentitySeal, SealKey, combine_and_open, partial_decrypt, reseal
from escrow.db import make_engine
from escrow.errors import (
    AuthenticationError,
    ConflictError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from escrow.identity.base import VerifiedIdentity
from escrow.identity.devidp import DevIdentityProvider
from escrow.identity.officer import DocumentCheck, verify_document
from escrow.identity.registry import IdentityProviders
from escrow.models import LogEntry, Person
from escrow.protocol.identity import seal_context
from escrow.services import transparency
from escrow.services.oprf import derive_person_keys
from escrow.services.registration import (
    PendingSignIn,
    begin_sign_in,
    get_account,
    login_person,
    login_with_password,
    register_in_person,
    register_person,
    sign_in_with_provider,
)
from tests.credentials_support import NOW, install_key, make_log, make_oidc, make_oprf, threshold_key

HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "a long enough password"


def _identity(subject: str = "sub-1", name: str = "Cleo Example") -> VerifiedIdentity:
    return VerifiedIdentity("oidc", "https://idp.example", subject, name, "1970-07-01", "substantial")


def _check(number: str = "X1234567") -> DocumentCheck:
    return DocumentCheck("id_card", "BEL", number, "Dora Example", "1991-09-09")


def test_register_stores_a_seal_that_a_quorum_opens_to_the_identity(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    # Given a registered person
    signed_in = register_person(db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW)
    person = db_session.get(Person, signed_in.account.id)
    assert person is not None

    # When an envelope is made with their seal key (their signed-in session) and three of the five
    # key-holders open it
    seal = IdentitySeal.from_dict(json.loads(person.identity_seal))
    seal_key = SealKey(signed_in.secret.seal_key_material())
    envelope = reseal(escrow_key, seal_key, seal, {"platform": "p", "pseudonym": "x", "envelope_id": "e"})
    _, shares = threshold_key()
    digest = b"r" * 32
    opened = combine_and_open(
        escrow_key, envelope, digest, [partial_decrypt(shares[i], envelope, digest) for i in (1, 3, 5)]
    )

    # Then it holds exactly the verified attributes, bound to this account's person key
    assert json.loads(opened.identity)["name"] == "Cleo Example"
    assert dict(opened.context) == seal_context(person.person_key)
    assert opened.seal_point == seal_key.point
    assert person.escrow_key_id == escrow_key.key_id


def test_register_logs_how_the_person_was_verified_and_nothing_else(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    register_person(db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW)

    transparency.integrate(db_session, make_log(), now=NOW)  # the sequencer gives queued events their place
    body = db_session.scalars(select(LogEntry.body).where(LogEntry.kind == "person.registered")).one()

    assert json.loads(body)["data"] == {"provider": "oidc", "assurance": "substantial"}
    assert b"Cleo" not in body
    assert b"sub-1" not in body


def test_second_registration_of_the_same_person_is_a_conflict(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    register_person(db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW)

    with pytest.raises(ConflictError):
        register_person(
            db_session, identity=_identity(name="Other Name"), oprf=make_oprf(), log=make_log(), now=NOW
        )
    assert db_session.scalar(select(func.count()).select_from(Person)) == 1


def test_registration_without_an_active_escrow_key_is_refused(db_session: Session) -> None:
    with pytest.raises(InvalidStateError):
        register_person(db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW)


def test_returning_person_logs_in_to_the_same_account(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    registered = register_person(db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW)

    again = login_person(db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW)

    assert again.account == registered.account
    assert get_account(db_session, registered.account.id) == registered.account
    # A fresh evaluation gives the same pseudonym secret: the person keeps their pseudonyms (bans stick).
    assert again.secret == registered.secret
    assert login_person(
        db_session, identity=_identity(), oprf=make_oprf(), log=make_log(), now=NOW
    ).secret.pseudonym("forum") == (registered.secret.pseudonym("forum"))


def test_login_of_an_unregistered_person_is_not_found(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    with pytest.raises(NotFoundError):
        login_person(db_session, identity=_identity("nobody"), oprf=make_oprf(), log=make_log(), now=NOW)


def test_officer_verified_person_logs_in_with_document_and_password(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    account = register_in_person(
        db_session,
        check=_check(),
        password=PASSWORD,
        oprf=make_oprf(),
        hasher=HASHER,
        log=make_log(),
        now=NOW,
    )

    logged_in = login_with_password(
        db_session,
        issuing_country="bel",
        document_number="x 1234567",
        password=PASSWORD,
        oprf=make_oprf(),
        hasher=HASHER,
        log=make_log(),
        now=NOW,
    )

    assert logged_in.account == account
    assert account.assurance == "high"
    # The password sign-in evaluates the OPRF on the document: the person's own secret.
    identity_key = verify_document(_check(), today=NOW.date()).identity_key
    assert (
        logged_in.secret
        == derive_person_keys(db_session, make_oprf(), identity_key, log=make_log(), now=NOW).secret
    )
    person = db_session.get(Person, account.id)
    assert person is not None
    assert person.password_hash is not None
    assert person.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("country", "number", "password"),
    [("BEL", "X1234567", "wrong password!!"), ("BEL", "Y7654321", PASSWORD), ("XX", "X1234567", PASSWORD)],
)
def test_password_login_failures_all_look_the_same(
    db_session: Session, escrow_key: ThresholdPublicKey, country: str, number: str, password: str
) -> None:
    register_in_person(
        db_session,
        check=_check(),
        password=PASSWORD,
        oprf=make_oprf(),
        hasher=HASHER,
        log=make_log(),
        now=NOW,
    )

    with pytest.raises(AuthenticationError, match="document or password not recognised"):
        login_with_password(
            db_session,
            issuing_country=country,
            document_number=number,
            password=password,
            oprf=make_oprf(),
            hasher=HASHER,
            log=make_log(),
            now=NOW,
        )


def test_officer_registration_refuses_a_short_password(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    with pytest.raises(ValidationError, match="password"):
        register_in_person(
            db_session,
            check=_check(),
            password="short",
            oprf=make_oprf(),
            hasher=HASHER,
            log=make_log(),
            now=NOW,
        )


def test_officer_identity_without_password_is_refused(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    identity = verify_document(_check(), today=date(2026, 1, 1))

    with pytest.raises(ValidationError):
        register_person(db_session, identity=identity, oprf=make_oprf(), log=make_log(), now=NOW)


def test_concurrent_registrations_of_one_person_make_one_account(fresh_database_url: str) -> None:
    # Given a fresh database (really committed, as in production) with an escrow key
    engine = make_engine(fresh_database_url)
    with Session(engine) as session:
        install_key(session)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def register() -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                register_person(
                    session, identity=_identity("same"), oprf=make_oprf(), log=make_log(), now=NOW
                )
                outcomes.append("created")
            except ConflictError:
                outcomes.append("conflict")
            except Exception as e:  # noqa: BLE001 - recorded so the assertion names it
                outcomes.append(repr(e)[:300])

    # When four threads register the same person at once
    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then exactly one account exists and the others got a clear conflict
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    engine.dispose()


def _sign_in(
    db_session: Session, dev_idp: DevIdentityProvider, pending: object, provider_id: str | None
) -> Any:
    return sign_in_with_provider(
        db_session,
        providers=IdentityProviders((make_oidc(dev_idp),)),
        provider_id=provider_id,
        pending=pending,
        callback={"code": "c", "state": "s"},
        oprf=make_oprf(),
        log=make_log(),
        now=NOW,
    )


@pytest.mark.parametrize(
    "pending",
    [
        None,
        "test-idp",
        {"provider": "test-idp", "kept": {"state": 1}, "register": True},
        {"provider": "test-idp", "kept": {}, "register": "yes"},
        {"kept": {}, "register": True},
    ],
    ids=["none", "text", "non-text-kept", "non-bool-intent", "no-provider"],
)
def test_sign_in_without_a_well_formed_pending_login_is_refused(
    db_session: Session, dev_idp: DevIdentityProvider, pending: object
) -> None:
    with pytest.raises(ValidationError, match="no login is in progress"):
        _sign_in(db_session, dev_idp, pending, "test-idp")


def test_sign_in_at_another_provider_than_the_login_started_at_is_refused(
    db_session: Session, dev_idp: DevIdentityProvider
) -> None:
    pending = PendingSignIn("elsewhere", {"state": "s"}, is_registration=True).to_session()

    with pytest.raises(ValidationError, match="another identity provider"):
        _sign_in(db_session, dev_idp, pending, "test-idp")
    with pytest.raises(NotFoundError, match="no identity provider with this id"):
        _sign_in(db_session, dev_idp, pending, None)  # the old callback: where it started, now gone


def test_begin_sign_in_keeps_the_provider_and_the_intent(dev_idp: DevIdentityProvider) -> None:
    url, pending = begin_sign_in(make_oidc(dev_idp), is_registration=True)

    assert url.startswith(dev_idp.issuer + "/authorize?")
    assert PendingSignIn.from_session(pending.to_session()) == pending
    assert (pending.provider_id, pending.is_registration) == ("test-idp", True)
    assert pending.kept["state"] not in repr(pending)
