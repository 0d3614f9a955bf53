"""Issue 13's "done when": a script holding the service's database and every file under `keys/`
replays the old attacks, and they fail, because no key it holds derives a person key or a pseudonym.

Under the first-version scheme, person_key = HMAC(K_person, identity key) and pseudonym =
HMAC(K_pseudonym, person_key || platform) with both keys under keys/, so (measured then) every
pseudonym was re-derived from `persons`, a range of 100,000 document numbers was walked in 0.4 s, and
candidate identities were named offline. Each attack is tried here with every key file as the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import argon2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.config import Settings
from escrow.crypto.errors import CryptoError
from escrow.crypto.group import Scalar
from escrow.crypto.oprf import Mode, evaluate
from escrow.crypto.pseudonym import person_keys
from escrow.identity.base import VerifiedIdentity
from escrow.identity.officer import DocumentCheck, officer_identity_key
from escrow.keystore import load_keyring
from escrow.models import Credential, Person
from escrow.services.credentials import issue_credential
from escrow.services.registration import login_with_password, register_in_person, register_person
from tests.credentials_support import NOW, add_platform, escrow_key, make_log, make_oprf  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("escrow_key")  # an active escrow key seals each registration
HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "a long enough password"
REGISTERED_NUMBERS = ("X1000017", "X1000042")
OIDC_SUBJECTS = ("s-alice", "s-bob", "s-carol")
# The old scheme's domain labels (escrow/crypto/pseudonym.py before issue 13).
_OLD_PERSON_DOMAIN = b"escrow/v1/person-key\x00"
_OLD_PSEUDONYM_DOMAIN = b"escrow/v1/pseudonym\x00"


def _oidc_identity(subject: str) -> VerifiedIdentity:
    return VerifiedIdentity("oidc", "https://idp.example", subject, "Someone", "1990-01-01", "low")


def _key_files(keys_dir: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(keys_dir.rglob("*")) if p.is_file()}
    assert files, "the seized keys directory holds the service's keys"
    return files


def _old_pseudonym(key: bytes, person_key: bytes, platform: str) -> str:
    digest = hmac.new(key, _OLD_PSEUDONYM_DOMAIN + person_key + platform.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:26]


def _as_scalar(data: bytes) -> Scalar | None:
    try:
        return Scalar.decode(data[:32]) if len(data) >= 32 else None
    except CryptoError:
        return Scalar.reduce(hashlib.sha512(data).digest())


def _seize(db_session: Session, tmp_path: Path) -> tuple[Path, list[Credential]]:
    """Registers persons (officer-verified and by identity provider) with credentials on two platforms
    through the real service, then returns what a seizure takes: the keys directory and the database."""
    settings = Settings.for_tests("sqlite://", tmp_path / "keys")
    keyring = load_keyring(settings)
    add_platform(db_session, "forum")
    add_platform(db_session, "market")
    signed_in = []
    for number in REGISTERED_NUMBERS:
        check = DocumentCheck("id_card", "BEL", number, "Dora Example", "1991-09-09")
        register_in_person(
            db_session,
            check=check,
            password=PASSWORD,
            oprf=make_oprf(),
            hasher=HASHER,
            log=make_log(),
            now=NOW,
        )
        signed_in.append(
            login_with_password(
                db_session,
                issuing_country="BEL",
                document_number=number,
                password=PASSWORD,
                oprf=make_oprf(),
                hasher=HASHER,
                log=make_log(),
                now=NOW,
            )
        )
    for subject in OIDC_SUBJECTS:
        signed_in.append(
            register_person(
                db_session, identity=_oidc_identity(subject), oprf=make_oprf(), log=make_log(), now=NOW
            )
        )
    for person in signed_in:
        for platform in ("forum", "market"):
            issue_credential(
                db_session,
                person_id=person.account.id,
                platform_id=platform,
                secret=person.secret,
                keyring=keyring,
                issuer="http://escrow.test",
                log=make_log(),
                now=NOW,
            )
    credentials = list(db_session.scalars(select(Credential)))
    assert len(credentials) == 2 * len(signed_in)
    return settings.keys_dir, credentials


def test_seized_server_cannot_rederive_any_pseudonym_from_persons(
    db_session: Session, tmp_path: Path
) -> None:
    keys_dir, credentials = _seize(db_session, tmp_path)
    stored = {(c.platform_id, c.pseudonym) for c in credentials}
    persons = list(db_session.scalars(select(Person)))
    for name, key in _key_files(keys_dir).items():
        for person in persons:
            for platform in ("forum", "market"):
                guess = _old_pseudonym(key, person.person_key, platform)
                assert (platform, guess) not in stored, f"{name} re-derives a pseudonym"
    # Nor does any stored value hold what pseudonyms come from: a person row has only the lookup key.
    columns = {c.name for c in Person.__table__.columns}  # type: ignore[attr-defined]
    assert not any("pseudonym" in c or "secret" in c for c in columns)


def test_seized_server_cannot_walk_document_numbers_or_test_candidate_identities(
    db_session: Session, tmp_path: Path
) -> None:
    keys_dir, _ = _seize(db_session, tmp_path)
    person_keys_stored = {p.person_key for p in db_session.scalars(select(Person))}
    candidates = [officer_identity_key("BEL", f"X{n}") for n in range(1_000_000, 1_000_100)]
    candidates += [_oidc_identity(s).identity_key for s in (*OIDC_SUBJECTS, "s-dave", "s-erin")]
    # The registered identities are among the candidates: the walk would find them if a key did.
    assert officer_identity_key("BEL", REGISTERED_NUMBERS[0]) in candidates
    for name, key in _key_files(keys_dir).items():
        scalar = _as_scalar(key)
        for identity_key in candidates:
            old = hmac.new(key, _OLD_PERSON_DOMAIN + identity_key, hashlib.sha256).digest()
            assert old not in person_keys_stored, f"{name} as the old HMAC key names a person"
            if scalar is not None and not scalar.is_zero():
                # ...and no file is the OPRF key (or a share of it) either.
                y = evaluate(scalar, identity_key, mode=Mode.VOPRF)
                assert person_keys(y).person_key not in person_keys_stored, (
                    f"{name} as an OPRF key names a person"
                )


def test_the_nodes_do_derive_them_so_the_attacks_above_could_have_succeeded(
    db_session: Session, tmp_path: Path
) -> None:
    """The control: through the nodes (which a seized server does not hold), the same candidate walk
    finds exactly the registered persons, so the failures above are the keys' absence, not a bug."""
    _seize(db_session, tmp_path)
    person_keys_stored = {p.person_key for p in db_session.scalars(select(Person))}
    from escrow.services.oprf_keys import active_oprf_key

    key = active_oprf_key(db_session)
    numbers = [f"X{n}" for n in range(1_000_010, 1_000_050)]
    outputs = make_oprf().evaluate(key, [officer_identity_key("BEL", n) for n in numbers]).outputs
    found = [
        n for n, y in zip(numbers, outputs, strict=True) if person_keys(y).person_key in person_keys_stored
    ]
    assert found == list(REGISTERED_NUMBERS)
