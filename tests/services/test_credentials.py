"""Credentials: issue, pseudonyms, envelopes, revocation, redemption, signing-key rotation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.client.verifier import CredentialVerifier, StaticKeys
from escrow.config import Settings
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.seal import Envelope, combine_and_open, partial_decrypt
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.errors import (
    InvalidStateError,
    NotFoundError,
    TokenAlreadyRedeemedError,
    TokenExpiredError,
    TokenRevokedError,
    ValidationError,
    WrongAudienceError,
)
from escrow.identity.base import VerifiedIdentity
from escrow.keystore import Keyring, load_keyring
from escrow.models import Credential, LogEntry
from escrow.services import transparency
from escrow.services.credentials import (
    credential_statuses,
    issue_credential,
    list_person_credentials,
    revoke_as_admin,
    revoke_as_person,
    revoke_as_platform,
    verify_and_redeem,
)
from escrow.services.platforms import get_platform
from escrow.services.registration import PersonAccount, SignedIn, register_person
from escrow.services.signing_keys import published_jwks, rotate_signing_key
from tests.credentials_support import NOW, add_platform, make_log, make_oprf, threshold_key

ISSUER = "http://escrow.test"


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return load_keyring(Settings.for_tests("sqlite://", tmp_path / "keys"))


def _person(session: Session, subject: str) -> SignedIn:
    identity = VerifiedIdentity("oidc", "https://idp.example", subject, "Eve Example", "1999-12-31", "low")
    return register_person(session, identity=identity, oprf=make_oprf(), log=make_log(), now=NOW)


def _issue(session: Session, keyring: Keyring, person: SignedIn, platform_id: str = "forum", **kw: object):  # type: ignore[no-untyped-def]
    return issue_credential(
        session,
        person_id=person.account.id,
        platform_id=platform_id,
        secret=person.secret,
        keyring=keyring,
        issuer=ISSUER,
        log=make_log(),
        now=kw.pop("now", NOW),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _verifier(session: Session, platform_id: str = "forum") -> CredentialVerifier:
    return CredentialVerifier(
        issuer=ISSUER, platform_id=platform_id, keys=StaticKeys(published_jwks(session, now=NOW))
    )


def test_issued_credential_verifies_offline_with_pseudonym_and_envelope_digest(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session)
    issued = _issue(db_session, keyring, _person(db_session, "a"))

    credential = _verifier(db_session).verify(issued.token, now=NOW)

    assert credential.pseudonym == issued.pseudonym
    assert credential.envelope_digest == issued.envelope_digest
    assert credential.expires_at - credential.issued_at == timedelta(days=30)


def test_asking_again_gives_a_new_credential_with_the_same_pseudonym(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session)
    person = _person(db_session, "a")

    first, second = _issue(db_session, keyring, person), _issue(db_session, keyring, person)

    assert first.pseudonym == second.pseudonym
    assert first.credential_id != second.credential_id
    assert first.envelope_digest != second.envelope_digest


def test_two_platforms_see_two_pseudonyms_and_unrelated_envelopes(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session, "forum")
    add_platform(db_session, "market")
    person = _person(db_session, "a")

    on_forum, on_market = (
        _issue(db_session, keyring, person, "forum"),
        _issue(db_session, keyring, person, "market"),
    )

    assert on_forum.pseudonym != on_market.pseudonym
    rows = db_session.scalars(select(Credential)).all()
    envelopes = [Envelope.from_bytes(r.envelope).to_dict() for r in rows]
    for field in ("r", "nonce", "outer", "proof"):
        assert envelopes[0][field] != envelopes[1][field]


def test_envelope_is_bound_to_platform_and_pseudonym_and_opens_by_quorum(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session)
    person = _person(db_session, "a")
    issued = _issue(db_session, keyring, person)
    row = db_session.get(Credential, issued.credential_id)
    assert row is not None
    envelope = Envelope.from_bytes(row.envelope)
    _, shares = threshold_key()
    digest = b"d" * 32

    opened = combine_and_open(
        escrow_key, envelope, digest, [partial_decrypt(shares[i], envelope, digest) for i in (2, 4, 5)]
    )

    assert dict(envelope.context) == {
        "platform": "forum",
        "pseudonym": issued.pseudonym,
        "envelope_id": issued.credential_id,
        # issue 14: the notice tag only the person's secret computes, bound into the envelope digest
        "notice": b64u_encode(person.secret.notice_tag("forum", issued.pseudonym)),
    }
    assert json.loads(opened.identity)["subject"] == "a"


def test_platform_policy_limits_pseudonyms_per_person(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session, "forum")
    add_platform(db_session, "games", pseudonyms_per_person=2)
    person = _person(db_session, "a")

    with pytest.raises(ValidationError):
        _issue(db_session, keyring, person, "forum", slot=1)
    assert (
        _issue(db_session, keyring, person, "games", slot=1).pseudonym
        != _issue(db_session, keyring, person, "games").pseudonym
    )


def test_issuing_for_unknown_platform_or_person_is_not_found(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session)
    with pytest.raises(NotFoundError):
        _issue(db_session, keyring, _person(db_session, "a"), "nope")
    with pytest.raises(NotFoundError):
        _issue(
            db_session, keyring, SignedIn(PersonAccount(999_999, "oidc", "low"), PseudonymSecret(b"x" * 32))
        )


def test_issue_logs_the_platform_and_commits_to_the_pseudonym_without_showing_it(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session)
    issued = _issue(db_session, keyring, _person(db_session, "a"))

    transparency.integrate(db_session, make_log(), now=NOW)  # the sequencer gives queued events their place
    body = db_session.scalars(select(LogEntry.body).where(LogEntry.kind == "credential.issued")).one()

    assert json.loads(body)["data"] == {"platform": "forum"}
    assert issued.pseudonym.encode() not in body


def test_person_lists_their_credentials_across_platforms_and_only_theirs(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session, "forum")
    add_platform(db_session, "market")
    mine, other = _person(db_session, "a"), _person(db_session, "b")
    ids = {
        _issue(db_session, keyring, mine, "forum").credential_id,
        _issue(db_session, keyring, mine, "market").credential_id,
    }
    _issue(db_session, keyring, other, "forum")

    listed = list_person_credentials(db_session, person_id=mine.account.id, secret=mine.secret, now=NOW)

    assert {c.credential_id for c in listed} == ids


def test_person_cannot_revoke_someone_elses_credential(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session)
    theirs = _issue(db_session, keyring, _person(db_session, "b"))
    me = _person(db_session, "a")

    with pytest.raises(NotFoundError):
        revoke_as_person(
            db_session,
            person_id=me.account.id,
            credential_id=theirs.credential_id,
            secret=me.secret,
            log=make_log(),
            now=NOW,
        )


@pytest.mark.parametrize("revoker", ["user", "platform", "admin"])
def test_revoked_credential_is_refused_on_redeem_and_shows_as_revoked(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring, revoker: str
) -> None:
    platform = add_platform(db_session)
    person = _person(db_session, "a")
    issued = _issue(db_session, keyring, person)
    if revoker == "user":
        revoke_as_person(
            db_session,
            person_id=person.account.id,
            credential_id=issued.credential_id,
            secret=person.secret,
            log=make_log(),
            now=NOW,
        )
    elif revoker == "platform":
        revoke_as_platform(
            db_session, platform=platform, credential_id=issued.credential_id, log=make_log(), now=NOW
        )
    else:
        revoke_as_admin(db_session, credential_id=issued.credential_id, log=make_log(), now=NOW)

    with pytest.raises(TokenRevokedError):
        verify_and_redeem(db_session, platform=platform, token=issued.token, issuer=ISSUER, now=NOW)
    assert credential_statuses(
        db_session, platform=platform, credential_ids=[issued.credential_id], now=NOW
    ) == {issued.credential_id: "revoked"}
    row = db_session.get(Credential, issued.credential_id)
    assert row is not None
    assert row.revoked_by == revoker


def test_platform_cannot_revoke_another_platforms_credential(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session, "forum")
    market = add_platform(db_session, "market")
    issued = _issue(db_session, keyring, _person(db_session, "a"), "forum")

    with pytest.raises(NotFoundError):
        revoke_as_platform(
            db_session, platform=market, credential_id=issued.credential_id, log=make_log(), now=NOW
        )


def test_second_redemption_is_refused_as_replay(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    platform = add_platform(db_session)
    issued = _issue(db_session, keyring, _person(db_session, "a"))
    verify_and_redeem(db_session, platform=platform, token=issued.token, issuer=ISSUER, now=NOW)

    with pytest.raises(TokenAlreadyRedeemedError):
        verify_and_redeem(db_session, platform=platform, token=issued.token, issuer=ISSUER, now=NOW)
    assert credential_statuses(
        db_session, platform=platform, credential_ids=[issued.credential_id, "x"], now=NOW
    ) == {
        issued.credential_id: "redeemed",
        "x": "unknown",
    }


def test_redeem_checks_audience_and_lifetime(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    add_platform(db_session, "forum")
    market = add_platform(db_session, "market")
    issued = _issue(db_session, keyring, _person(db_session, "a"), "forum")
    forum = get_platform(db_session, "forum")

    with pytest.raises(WrongAudienceError):
        verify_and_redeem(db_session, platform=market, token=issued.token, issuer=ISSUER, now=NOW)
    with pytest.raises(TokenExpiredError):
        verify_and_redeem(
            db_session, platform=forum, token=issued.token, issuer=ISSUER, now=NOW + timedelta(days=31)
        )


def test_status_query_is_bounded(db_session: Session, escrow_key: ThresholdPublicKey) -> None:
    platform = add_platform(db_session)

    with pytest.raises(ValidationError):
        credential_statuses(db_session, platform=platform, credential_ids=["x"] * 101, now=NOW)


def test_rotation_keeps_the_old_key_published_until_its_last_credential_expires(
    db_session: Session, escrow_key: ThresholdPublicKey, keyring: Keyring
) -> None:
    # Given a credential signed by the first key
    platform = add_platform(db_session, credential_lifetime_s=3600)
    person = _person(db_session, "a")
    old = _issue(db_session, keyring, person)
    old_kid = json.loads(b64u_decode(old.token.split(".")[0]))["kid"]

    # When the signing key rotates
    new_kid = rotate_signing_key(db_session, keyring, log=make_log(), now=NOW)
    new = _issue(db_session, keyring, person)

    # Then both keys are published while the old credential lives, and both credentials verify
    assert {k["kid"] for k in published_jwks(db_session, now=NOW)["keys"]} == {old_kid, new_kid}
    assert _verifier(db_session).verify(old.token, now=NOW).pseudonym == new.pseudonym
    # ... and the old key disappears once its last credential has expired
    later = NOW + timedelta(hours=2)
    assert {k["kid"] for k in published_jwks(db_session, now=later)["keys"]} == {new_kid}
    assert platform.credential_lifetime_s == 3600


def test_issuing_without_an_escrow_key_is_refused(db_session: Session, keyring: Keyring) -> None:
    add_platform(db_session)
    # A person can only exist with a key, so install one, register, then retire every key.
    from escrow.models import EscrowKey
    from tests.credentials_support import install_key

    install_key(db_session)
    person = _person(db_session, "a")
    for row in db_session.scalars(select(EscrowKey)):
        row.status = "retired"
    db_session.commit()

    with pytest.raises(InvalidStateError):
        _issue(db_session, keyring, person)


def test_concurrent_redemptions_of_one_credential_redeem_it_once(
    fresh_database_url: str, keyring: Keyring
) -> None:
    # Given a credential in a really committed database
    import threading

    from escrow.db import make_engine
    from escrow.errors import TokenAlreadyRedeemedError as Replay
    from tests.credentials_support import install_key

    engine = make_engine(fresh_database_url)
    with Session(engine) as session:
        install_key(session)
        platform = add_platform(session)
        issued = _issue(session, keyring, _person(session, "a"))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def redeem() -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                verify_and_redeem(session, platform=platform, token=issued.token, issuer=ISSUER, now=NOW)
                outcomes.append("redeemed")
            except Replay:
                outcomes.append("replay")
            except Exception as e:  # noqa: BLE001 - recorded so the assertion names it
                outcomes.append(repr(e)[:200])

    # When four platform workers redeem it at once
    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then exactly one succeeds
    assert sorted(outcomes) == ["redeemed", "replay", "replay", "replay"]
    engine.dispose()


def test_concurrent_issuances_for_one_person_all_succeed_with_one_pseudonym(
    fresh_database_url: str, keyring: Keyring
) -> None:
    import threading

    from escrow.db import make_engine
    from tests.credentials_support import install_key

    engine = make_engine(fresh_database_url)
    with Session(engine) as session:
        install_key(session)
        add_platform(session)
        person = _person(session, "a")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def issue() -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                outcomes.append(_issue(session, keyring, person).pseudonym)
            except Exception as e:  # noqa: BLE001 - recorded so the assertion names it
                outcomes.append(repr(e)[:200])

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(outcomes) == 4
    assert len(set(outcomes)) == 1, outcomes
    with Session(engine) as session:
        assert len(session.scalars(select(Credential)).all()) == 4
    engine.dispose()
