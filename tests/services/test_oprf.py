"""Deriving a person's keys through the threshold OPRF (escrow.services.oprf) with the suite's real
nodes: one evaluation under the active key, counted and logged per hour, and a clear 503 when the
nodes cannot answer."""

from __future__ import annotations

import http.client
import socket
import urllib.parse
from datetime import timedelta

import argon2
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from escrow.client.oprf import NodeEndpoint, ThresholdOprfClient
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.pseudonym import person_keys
from escrow.errors import OprfUnavailableError, ValidationError
from escrow.identity.base import VerifiedIdentity
from escrow.models import LogEntry, OprfKey, OprfUsage, Person
from escrow.protocol.oprf import NodeStats
from escrow.services import transparency
from escrow.services.oprf import derive_person_keys
from escrow.services.oprf_keys import active_oprf_key
from escrow.services.registration import login_person, login_with_password, register_person
from tests.credentials_support import NOW, make_log, make_oprf
from tests.oprf_support import OprfNetwork

IDENTITY = VerifiedIdentity("oidc", "https://idp.example", "s-9", "Ivo Example", "1980-05-05", "low")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unreachable(network: OprfNetwork) -> ThresholdOprfClient:
    """A real client whose nodes are all down (nothing listens on their ports)."""
    nodes = [NodeEndpoint(i, f"http://127.0.0.1:{_dead_port()}") for i in (1, 2, 3)]
    return ThresholdOprfClient(nodes=nodes, signing_seed=network.client_seed, timeout=0.5)


def test_one_evaluation_gives_the_person_key_and_secret_of_its_output(db_session: Session) -> None:
    oprf = make_oprf()

    keys = derive_person_keys(db_session, oprf, b"identity", log=make_log(), now=NOW)

    expected = person_keys(oprf.evaluate(active_oprf_key(db_session), [b"identity"]).outputs[0])
    assert keys.person_key == expected.person_key
    assert keys.secret == expected.secret


@pytest.mark.parametrize("identity_key", [b"", "text", None])
def test_derive_refuses_an_empty_or_non_bytes_identity_key(db_session: Session, identity_key: object) -> None:
    with pytest.raises(ValidationError):
        derive_person_keys(db_session, make_oprf(), identity_key, log=make_log(), now=NOW)  # type: ignore[arg-type]


def test_no_active_oprf_key_is_unavailability_naming_the_ceremony(db_session: Session) -> None:
    db_session.execute(update(OprfKey).values(status="retired"))

    with pytest.raises(OprfUnavailableError, match="ceremony"):
        derive_person_keys(db_session, make_oprf(), b"identity", log=make_log(), now=NOW)


def test_each_evaluation_is_counted_and_a_finished_hour_is_logged(db_session: Session) -> None:
    for _ in range(3):
        derive_person_keys(db_session, make_oprf(), b"identity", log=make_log(), now=NOW)
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    assert db_session.get(OprfUsage, (hour, 0)).elements == 3  # type: ignore[union-attr]
    per_node = {u.node: u.elements for u in db_session.scalars(select(OprfUsage).where(OprfUsage.node > 0))}
    assert sum(per_node.values()) == 3 * 2  # t = 2 nodes asked each time

    derive_person_keys(db_session, make_oprf(), b"identity", log=make_log(), now=NOW + timedelta(hours=1))

    transparency.integrate(db_session, make_log(), now=NOW)  # the sequencer gives queued events their place
    logged = db_session.scalars(select(LogEntry).where(LogEntry.kind == "oprf.usage")).all()
    assert len(logged) == 1
    body = logged[0].body.replace(b" ", b"")
    assert b'"elements":3' in body
    for node, count in per_node.items():
        assert f'"{node}":{count}'.encode() in body  # each node's count, to hold against its /stats
    assert db_session.get(OprfUsage, (hour, 0)).logged  # type: ignore[union-attr]


def test_unavailable_nodes_stop_registration_before_anything_is_written(
    db_session: Session, escrow_key: ThresholdPublicKey, oprf_network: OprfNetwork
) -> None:
    oprf = _unreachable(oprf_network)
    try:
        with pytest.raises(OprfUnavailableError) as raised:
            register_person(db_session, identity=IDENTITY, oprf=oprf, log=make_log(), now=NOW)
    finally:
        oprf.close()
    assert raised.value.retry_after_s
    assert db_session.scalar(select(func.count()).select_from(Person)) == 0


def test_unavailable_nodes_stop_logins(
    db_session: Session, escrow_key: ThresholdPublicKey, oprf_network: OprfNetwork
) -> None:
    register_person(db_session, identity=IDENTITY, oprf=make_oprf(), log=make_log(), now=NOW)
    oprf = _unreachable(oprf_network)
    try:
        with pytest.raises(OprfUnavailableError):
            login_person(db_session, identity=IDENTITY, oprf=oprf, log=make_log(), now=NOW)
        with pytest.raises(OprfUnavailableError):
            login_with_password(
                db_session,
                issuing_country="BEL",
                document_number="X1234567",
                password="a long enough password",
                oprf=oprf,
                hasher=argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
                log=make_log(),
                now=NOW,
            )
        assert oprf.health.snapshot()["1"]["skipped"] == 2
    finally:
        oprf.close()


def test_an_evaluation_too_few_nodes_answered_is_logged_for_the_node_that_counted_it(
    db_session: Session, oprf_network: OprfNetwork
) -> None:
    """Node 1 answers (and counts the element), nodes 2 and 3 are down: the evaluation fails, and
    the service's count for node 1 must still grow by the one element node 1's /stats shows, or the
    audit reads the difference as someone else asking node 1. Nodes 2 and 3 counted nothing."""
    down = [NodeEndpoint(i, f"http://127.0.0.1:{_dead_port()}") for i in (2, 3)]
    oprf = ThresholdOprfClient(
        nodes=[NodeEndpoint(1, oprf_network.node(1).url), *down],
        signing_seed=oprf_network.client_seed,
        timeout=1.0,
    )
    before = _node_count(oprf_network, 1)
    try:
        with pytest.raises(OprfUnavailableError) as raised:
            derive_person_keys(db_session, oprf, b"identity", log=make_log(), now=NOW)
    finally:
        oprf.close()
    assert raised.value.asked == (1,)
    assert _node_count(oprf_network, 1) == before + 1
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    counts = {u.node: u.elements for u in db_session.scalars(select(OprfUsage).where(OprfUsage.hour == hour))}
    assert counts == {0: 0, 1: 1}  # evaluated nothing, sent one element to node 1


def _node_count(network: OprfNetwork, index: int) -> int:
    parts = urllib.parse.urlsplit(network.node(index).url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", "/stats")
        return sum(n for _, n in NodeStats.parse(connection.getresponse().read()).hours)
    finally:
        connection.close()
