"""Sign in with escrow's use cases on a real session: clients, consent, codes, tokens, ID-token keys."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.pseudonym import PseudonymSecret
from escrow.errors import InvalidStateError, NotFoundError, ValidationError
from escrow.identity.base import VerifiedIdentity
from escrow.keystore import Keyring, load_keyring
from escrow.models import OidcConsent, Platform
from escrow.services import oidc
from escrow.services.platforms import get_platform
from escrow.services.registration import SignedIn, register_person
from tests.credentials_support import NOW, add_platform, make_log, make_oprf

ISSUER = "http://escrow.test"
IDENTITY = VerifiedIdentity("oidc", "https://idp.example", "s-1", "Eve Example", "1999-12-31", "low")


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return load_keyring(Settings.for_tests("sqlite://", tmp_path / "keys"))


@pytest.fixture
def signed_in(db_session: Session, escrow_key: ThresholdPublicKey) -> SignedIn:
    add_platform(db_session, "forum")
    return register_person(db_session, identity=IDENTITY, oprf=make_oprf(), log=make_log(), now=NOW)


@pytest.fixture
def person_id(signed_in: SignedIn) -> int:
    return signed_in.account.id


@pytest.fixture
def secret(signed_in: SignedIn) -> PseudonymSecret:
    """What this person's signing in gives the caller (the OPRF evaluation at registration)."""
    return signed_in.secret


def _code(
    session: Session,
    keyring: Keyring,
    person_id: int,
    secret: PseudonymSecret,
    code: str = "c" * 43,
    **kw: object,
) -> None:
    oidc.create_authorization_code(
        session,
        code=code,
        person_id=person_id,
        platform_id="forum",
        redirect_uri="https://example.org/cb",
        scope="openid",
        nonce=kw.get("nonce", "n-1"),  # type: ignore[arg-type]
        code_challenge=None,
        code_challenge_method=None,
        auth_time=NOW,
        secret=secret,
        keyring=keyring,
        issuer=ISSUER,
        log=make_log(),
        now=NOW,
    )


def test_platform_without_secret_is_a_public_client_and_with_one_confidential(
    db_session: Session, person_id: int
) -> None:
    assert oidc.get_client(db_session, "forum").is_public  # type: ignore[union-attr]

    new = oidc.create_client_secret(db_session, platform_id="forum", log=make_log(), now=NOW)

    assert not oidc.get_client(db_session, "forum").is_public  # type: ignore[union-attr]
    assert get_platform(db_session, "forum").has_client_secret
    assert oidc.check_client_secret(db_session, platform_id="forum", client_secret=new.client_secret)
    assert new.client_secret not in repr(new)
    stored = db_session.get(Platform, "forum")
    assert stored is not None
    assert new.client_secret.encode() not in (stored.client_secret_hash or b"")


@pytest.mark.parametrize("candidate", ["", "wrong", None, 42])
def test_wrong_or_malformed_client_secret_is_refused(
    db_session: Session, person_id: int, candidate: object
) -> None:
    oidc.create_client_secret(db_session, platform_id="forum", log=make_log(), now=NOW)

    assert not oidc.check_client_secret(db_session, platform_id="forum", client_secret=candidate)
    assert not oidc.check_client_secret(db_session, platform_id="nobody", client_secret="x")


def test_unknown_platform_is_no_client_and_cannot_get_a_secret(db_session: Session, keyring: Keyring) -> None:
    assert oidc.get_client(db_session, "nobody") is None
    assert oidc.get_client(db_session, 7) is None
    with pytest.raises(NotFoundError):
        oidc.create_client_secret(db_session, platform_id="nobody", log=make_log(), now=NOW)
    with pytest.raises(NotFoundError):
        oidc.set_id_token_algorithm(
            db_session, platform_id="nobody", alg="RS256", keyring=keyring, log=make_log(), now=NOW
        )


def test_id_token_algorithm_is_eddsa_or_rs256_only(
    db_session: Session, keyring: Keyring, person_id: int
) -> None:
    assert oidc.oidc_public_jwks(keyring) == []

    oidc.set_id_token_algorithm(
        db_session, platform_id="forum", alg="RS256", keyring=keyring, log=make_log(), now=NOW
    )

    assert get_platform(db_session, "forum").id_token_alg == "RS256"
    assert oidc.oidc_public_jwks(keyring)[0]["alg"] == "RS256"  # published before its first use

    for alg in ("HS256", "none", "ES256"):
        with pytest.raises(ValidationError):
            oidc.set_id_token_algorithm(
                db_session, platform_id="forum", alg=alg, keyring=keyring, log=make_log(), now=NOW
            )


def test_consent_is_stored_by_pseudonym_not_by_account(
    db_session: Session, person_id: int, secret: PseudonymSecret
) -> None:
    oidc.grant_consent(
        db_session, person_id=person_id, platform_id="forum", secret=secret, log=make_log(), now=NOW
    )
    oidc.grant_consent(
        db_session, person_id=person_id, platform_id="forum", secret=secret, log=make_log(), now=NOW
    )

    rows = db_session.scalars(select(OidcConsent)).all()
    assert len(rows) == 1
    assert {c.name for c in OidcConsent.__table__.columns} == {"id", "platform_id", "pseudonym", "granted_at"}
    assert [c.platform_id for c in oidc.list_consents(db_session, person_id=person_id, secret=secret)] == [
        "forum"
    ]
    assert oidc.list_consents(db_session, person_id=999, secret=secret) == []


def test_consent_for_unknown_person_or_platform_is_not_found(
    db_session: Session, person_id: int, secret: PseudonymSecret
) -> None:
    with pytest.raises(NotFoundError):
        oidc.has_consent(db_session, person_id=person_id, platform_id="nobody", secret=secret)
    with pytest.raises(NotFoundError):
        oidc.has_consent(db_session, person_id=999, platform_id="forum", secret=secret)


def test_code_names_the_credential_and_finds_pseudonym_acr_and_envelope(
    db_session: Session, keyring: Keyring, person_id: int, secret: PseudonymSecret
) -> None:
    _code(db_session, keyring, person_id, secret)

    grant = oidc.find_code(db_session, code="c" * 43, platform_id="forum", now=NOW)

    assert grant is not None
    assert grant.acr == "low"
    claims = oidc.id_token_claims(grant)
    assert set(claims) == {"sub", "acr", "envelope_digest", "verified_unique"}
    assert oidc.is_nonce_used(db_session, platform_id="forum", nonce="n-1")
    assert not oidc.is_nonce_used(db_session, platform_id="forum", nonce="n-2")


def test_code_is_unknown_to_another_platform_after_expiry_or_when_malformed(
    db_session: Session, keyring: Keyring, person_id: int, secret: PseudonymSecret
) -> None:
    _code(db_session, keyring, person_id, secret)

    assert oidc.find_code(db_session, code="c" * 43, platform_id="market", now=NOW) is None
    assert oidc.find_code(db_session, code="c" * 43, platform_id="forum", now=NOW + oidc.CODE_TTL) is None
    assert oidc.find_code(db_session, code="d" * 43, platform_id="forum", now=NOW) is None
    assert oidc.find_code(db_session, code=None, platform_id="forum", now=NOW) is None


def test_code_redeems_once_and_reuse_revokes_its_tokens(
    db_session: Session, keyring: Keyring, person_id: int, secret: PseudonymSecret
) -> None:
    # Given a redeemed code and the access token issued from it
    _code(db_session, keyring, person_id, secret)
    grant = oidc.find_code(db_session, code="c" * 43, platform_id="forum", now=NOW)
    assert grant is not None
    assert oidc.redeem_code(db_session, code_hash=grant.code_hash, now=NOW)
    oidc.save_tokens(
        db_session,
        access_token="t" * 42,
        refresh_token="r" * 42,
        grant=oidc.token_grant_of(grant),
        expires_in=3600,
        now=NOW,
    )

    # When the code comes back
    again = oidc.find_code(db_session, code="c" * 43, platform_id="forum", now=NOW + timedelta(seconds=5))

    # Then it is refused, cannot be redeemed twice, and the token is revoked
    assert again is None
    assert not oidc.redeem_code(db_session, code_hash=grant.code_hash, now=NOW)
    token = oidc.find_access_token(db_session, access_token="t" * 42)
    assert token is not None
    assert token.is_revoked
    assert token.pseudonym == grant.pseudonym
    assert oidc.find_access_token(db_session, access_token="u" * 42) is None
    # ... and the refresh token of that sign-in too (issue 19)
    refresh = oidc.find_refresh_token(db_session, refresh_token="r" * 42)
    assert refresh is not None
    assert refresh.is_revoked
    assert oidc.use_refresh_token(db_session, refresh_token="r" * 42, platform_id="forum", now=NOW) is None
    assert oidc.find_access_token(db_session, access_token=None) is None


def test_id_token_signing_refuses_other_algorithms_and_needs_a_keys_dir(
    db_session: Session, keyring: Keyring
) -> None:
    with pytest.raises(ValidationError):
        oidc.sign_id_token(db_session, keyring=keyring, alg="HS256", claims={"exp": 1}, now=NOW)
    with pytest.raises(InvalidStateError):
        oidc.rs256_private_pem(dataclasses.replace(keyring, keys_dir=None))


def test_rs256_key_is_created_once_with_mode_0600(keyring: Keyring) -> None:
    first = oidc.rs256_private_pem(keyring)

    assert oidc.rs256_private_pem(keyring) == first
    assert oidc.oidc_public_jwks(dataclasses.replace(keyring, keys_dir=None)) == []
    assert keyring.keys_dir is not None
    assert (keyring.keys_dir / oidc.RS256_KEY_NAME).stat().st_mode & 0o777 == 0o600
    assert oidc.oidc_public_jwks(keyring)[0]["kty"] == "RSA"
