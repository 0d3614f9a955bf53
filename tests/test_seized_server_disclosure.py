"""Issue 14's "done when": what a server holding its database and keys/ did to a lawful disclosure, tried
again. Each attack was shown against the code at 7c744f7 with an honest court, honest officers and
honest key-holders; here it fails to do harm:

- the seal swap: a database writer gives the troll's account the victim's identity seal;
- the mixed envelope: a server compromised at issuance (it saw the victim's session) builds the
  troll's envelope from the victim's seal and seal key;
- reading stored partials: the server, or any backup of its database, combines them itself.

The officer's tool opens the reveal (escrow.client.disclosure.reveal) and shows an identity only when
the OPRF nodes confirm it is the person behind the pseudonym in scope.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from escrow.client.disclosure.reveal import SUBSTITUTED, VERIFIED
from escrow.crypto.errors import CryptoError
from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.seal import (
    Envelope,
    IdentitySeal,
    PartialDecryption,
    SealKey,
    combine_and_open,
    combine_partials,
    open_with_secret_point,
    reseal,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import InvalidStateError
from escrow.httpkit import get_components
from escrow.identity.officer import DocumentCheck
from escrow.models import Credential, DisclosureDecision, DisclosureScope, Person, Platform
from escrow.protocol.disclosure import DisclosureBody
from escrow.services.credentials import issue_credential
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.registration import login_with_password, register_in_person
from tests.disclosure_support import PERSON_NAME, World, build_world

VICTIM_NAME = "Innocent Bystander"
VICTIM_DOCUMENT = ("NLD", "VB7654321")
VICTIM_PASSWORD = "the victim's long passphrase"


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def _register_victim(world: World) -> tuple[int, PseudonymSecret]:
    """Registers a second person; returns their account id and the secret of their signed-in session."""
    extension = get_components(world.app)
    now = datetime.now(UTC)
    with extension.session_factory() as session:
        register_in_person(
            session,
            check=DocumentCheck("passport", *VICTIM_DOCUMENT, VICTIM_NAME, "1985-06-07"),
            password=VICTIM_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=extension.log,
            now=now,
        )
        signed_in = login_with_password(
            session,
            issuing_country=VICTIM_DOCUMENT[0],
            document_number=VICTIM_DOCUMENT[1],
            password=VICTIM_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=extension.log,
            now=now,
        )
        return signed_in.account.id, signed_in.secret


def _disclose(world: World, pseudonym: str, envelope_digest: str) -> int:
    """An honest court order on `pseudonym`, submitted, co-signed and approved by three holders."""
    response = world.draft(
        scope=[{"platform": "forum", "pseudonym": pseudonym, "envelope_digest": envelope_digest}]
    )
    assert response.status_code == 201, response.get_json()
    request_id = int(response.get_json()["id"])
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    for holder in world.holders[:3]:
        world.approve(holder, request_id)
    return request_id


def _credential(world: World, jti: str) -> Credential:
    """The stored credential row `jti`, detached from its session."""
    with get_components(world.app).session_factory() as session:
        credential = session.get(Credential, jti)
        assert credential is not None
        session.expunge(credential)
        return credential


def _troll(world: World) -> Credential:
    return _credential(world, world.credential.credential_id)


def test_seal_swap_by_a_database_writer_never_unmasks_the_victim(world: World) -> None:
    # Given a troll (the world's person, with a credential) and an innocent victim
    victim_id, _ = _register_victim(world)
    extension = get_components(world.app)
    with extension.session_factory() as session:
        troll = session.get(Person, world.person_id)
        victim = session.get(Person, victim_id)
        assert troll is not None
        assert victim is not None
        troll_secret = login_with_password(
            session,
            issuing_country="NLD",
            document_number="XR1234567",
            password="a long person passphrase",
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=extension.log,
            now=datetime.now(UTC),
        ).secret
        troll_seal = IdentitySeal.from_dict(json.loads(troll.identity_seal))
        # When a database writer gives the troll's account the victim's seal
        troll.identity_seal = victim.identity_seal
        session.commit()
        # Then no credential is issued from it: the seal names the victim's account
        with pytest.raises(InvalidStateError, match="names another account"):
            issue_credential(
                session,
                person_id=world.person_id,
                platform_id="forum",
                secret=troll_secret,
                keyring=extension.keyring,
                issuer=extension.settings.issuer_url,
                log=extension.log,
                now=datetime.now(UTC),
                slot=0,
            )
        # And when the writer also rewrites the seal's context to name the troll, the credential is
        # issued, but its envelope never opens to anyone
        forged = IdentitySeal.from_dict(json.loads(victim.identity_seal))
        troll.identity_seal = json.dumps(
            {**forged.to_dict(), "context": dict(troll_seal.context)}, sort_keys=True
        ).encode()
        session.commit()
    issued = _issue_second_pseudonym(world, troll_secret)
    request_id = _disclose(world, issued.pseudonym, issued.envelope_digest)
    (shown,) = world.reveal(request_id)
    assert shown.verdict == SUBSTITUTED
    assert shown.identity is None
    assert "did not open" in shown.reason


def _issue_second_pseudonym(world: World, secret: PseudonymSecret) -> Credential:
    extension = get_components(world.app)
    with extension.session_factory() as session:
        platform = session.get(Platform, "forum")
        assert platform is not None
        platform.pseudonyms_per_person = 2
        session.commit()
        issued = issue_credential(
            session,
            person_id=world.person_id,
            platform_id="forum",
            secret=secret,
            keyring=extension.keyring,
            issuer=extension.settings.issuer_url,
            log=extension.log,
            now=datetime.now(UTC),
            slot=1,
        )
    return _credential(world, issued.credential_id)


def test_mixed_envelope_built_at_issuance_never_unmasks_the_victim(world: World) -> None:
    # Given a server compromised while the victim was signed in: it holds the victim's session secret
    victim_id, victim_secret = _register_victim(world)
    extension = get_components(world.app)
    troll = _troll(world)
    with extension.session_factory() as session:
        victim = session.get(Person, victim_id)
        assert victim is not None
        # When it builds the troll's envelope from the victim's seal and seal key (a valid proof: it
        # chose the randomness), under the troll's platform and pseudonym
        mixed = reseal(
            active_escrow_key(session),
            SealKey(victim_secret.seal_key_material()),
            IdentitySeal.from_dict(json.loads(victim.identity_seal)),
            {"platform": "forum", "pseudonym": troll.pseudonym, "envelope_id": troll.jti},
        )
        row = session.get(Credential, troll.jti)
        assert row is not None
        row.envelope, row.envelope_digest = mixed.to_bytes(), b64u_encode(mixed.digest())
        session.commit()
    # and an honest court orders the troll's pseudonym unmasked (the platform's digest is the mixed one)
    request_id = _disclose(world, troll.pseudonym, b64u_encode(mixed.digest()))
    # Then the officer's tool opens it, asks the OPRF nodes, and shows no identity
    (shown,) = world.reveal(request_id)
    assert shown.verdict == SUBSTITUTED
    assert shown.identity is None
    assert "do not include the one in scope" in shown.reason
    assert VICTIM_NAME not in repr(shown)


def test_the_honest_reveal_still_shows_the_troll(world: World) -> None:
    # The control for both attacks: the same steps without them reveal the registered person.
    request_id = _disclose(world, world.credential.pseudonym, world.credential.envelope_digest)
    (shown,) = world.reveal(request_id)
    assert shown.verdict == VERIFIED
    assert shown.identity is not None
    assert shown.identity["name"] == PERSON_NAME


def test_reading_stored_partials_opens_nothing_from_a_database_copy(world: World) -> None:
    # Given a lawful disclosure, its partials still stored within the viewing window
    request_id = _disclose(world, world.credential.pseudonym, world.credential.envelope_digest)
    extension = get_components(world.app)
    # When a copy of the database is read with every key under keys/
    with extension.session_factory() as session:
        key = active_escrow_key(session)
        body = DisclosureBody.from_dict(world.document(request_id)["body"])
        envelope = Envelope.from_bytes(session.scalars(select(DisclosureScope.envelope)).one())
        stored = [
            PartialDecryption.from_dict(json.loads(p)[0])
            for p in session.scalars(select(DisclosureDecision.partials))
            if p is not None
        ]
    digest = b64u_decode(world.document(request_id)["digest"])
    # Then the partials verify (they are the holders' real ones) and open nothing
    combined = combine_partials(key, envelope, digest, stored, blind=body.blinding[0])
    with pytest.raises(CryptoError):
        open_with_secret_point(key, envelope, combined)
    with pytest.raises(CryptoError):
        combine_and_open(key, envelope, digest, stored)
    # while the submitting officer's tool does open them
    assert world.reveal(request_id)[0].verdict == VERIFIED
