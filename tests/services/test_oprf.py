"""Deriving a person's keys through the OPRF (escrow.services.oprf) and the interim evaluator."""

from __future__ import annotations

import argon2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.pseudonym import person_keys
from escrow.errors import OprfUnavailableError, ValidationError
from escrow.identity.base import VerifiedIdentity
from escrow.models import Person
from escrow.services.interim_oprf import InterimOprf
from escrow.services.oprf import OprfEvaluator, derive_person_keys
from escrow.services.registration import login_person, login_with_password, register_person
from tests.credentials_support import NOW, make_log, make_oprf
from tests.oprf_support import MalformedAnswers, UnreachableNodes

IDENTITY = VerifiedIdentity("oidc", "https://idp.example", "s-9", "Ivo Example", "1980-05-05", "low")


def test_one_evaluation_gives_the_person_key_and_secret_of_its_output() -> None:
    oprf = make_oprf()

    keys = derive_person_keys(oprf, b"identity")

    expected = person_keys(oprf.evaluate([b"identity"])[0])
    assert keys.person_key == expected.person_key
    assert keys.secret == expected.secret


def test_interim_evaluator_is_batched_keyed_and_64_bytes() -> None:
    oprf: OprfEvaluator = InterimOprf(key=b"k" * 32)

    outputs = oprf.evaluate([b"a", b"b", b"a"])

    assert [len(o) for o in outputs] == [64, 64, 64]
    assert outputs[0] == outputs[2] != outputs[1]
    assert InterimOprf(key=b"j" * 32).evaluate([b"a"])[0] != outputs[0]
    assert "k" * 32 not in repr(oprf)


@pytest.mark.parametrize("inputs", [[b""], ["text"], b"bytes", [None]])
def test_interim_evaluator_refuses_malformed_inputs(inputs: object) -> None:
    with pytest.raises(ValidationError):
        InterimOprf(key=b"k" * 32).evaluate(inputs)  # type: ignore[arg-type]


def test_interim_evaluator_refuses_a_short_key() -> None:
    with pytest.raises(ValidationError):
        InterimOprf(key=b"k" * 16)


@pytest.mark.parametrize("identity_key", [b"", "text", None])
def test_derive_refuses_an_empty_or_non_bytes_identity_key(identity_key: object) -> None:
    with pytest.raises(ValidationError):
        derive_person_keys(make_oprf(), identity_key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer", [[], [b"y" * 64, b"y" * 64], [b"y" * 63], [b"y" * 65], ["y" * 64], (b"y" * 64,), None]
)
def test_a_malformed_answer_is_unavailability_not_a_crash(answer: object) -> None:
    with pytest.raises(OprfUnavailableError):
        derive_person_keys(MalformedAnswers(answer), b"identity")


def test_unavailable_nodes_stop_registration_before_anything_is_written(
    db_session: Session, escrow_key: ThresholdPublicKey
) -> None:
    with pytest.raises(OprfUnavailableError) as raised:
        register_person(
            db_session, identity=IDENTITY, oprf=UnreachableNodes(retry_after_s=30), log=make_log(), now=NOW
        )

    assert raised.value.retry_after_s == 30
    assert db_session.scalar(select(func.count()).select_from(Person)) == 0


def test_unavailable_nodes_stop_logins(db_session: Session, escrow_key: ThresholdPublicKey) -> None:
    register_person(db_session, identity=IDENTITY, oprf=make_oprf(), log=make_log(), now=NOW)
    nodes = UnreachableNodes()

    with pytest.raises(OprfUnavailableError):
        login_person(db_session, identity=IDENTITY, oprf=nodes)
    with pytest.raises(OprfUnavailableError):
        login_with_password(
            db_session,
            issuing_country="BEL",
            document_number="X1234567",
            password="a long enough password",
            oprf=nodes,
            hasher=argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        )
    assert nodes.calls == 2
