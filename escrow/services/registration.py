"""Registration and login of persons: one account per person, identity sealed at once.

register_person() evaluates the OPRF once on the VerifiedIdentity's identity key (escrow.services.oprf),
stores the person key it gives, seals the identity to the active escrow key and stores only the seal;
the plaintext is dropped when the call returns. Every sign-in returns the person's pseudonym secret
too (SignedIn): it is never stored here, only handed to the caller for the person's session (issue 13).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import argon2
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escrow.crypto.pseudonym import PersonKeys, PseudonymSecret
from escrow.crypto.seal import SealKey, seal_identity
from escrow.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from escrow.identity.base import PROVIDER_OFFICER, IdentityProvider, VerifiedIdentity
from escrow.identity.officer import DocumentCheck, officer_identity_key, verify_document
from escrow.identity.registry import IdentityProviders
from escrow.models import Person
from escrow.protocol.identity import seal_context
from escrow.services.key_pinning import pinned_escrow_key
from escrow.services.oprf import OprfEvaluator, derive_person_keys
from escrow.services.passwords import MIN_PASSWORD_LENGTH
from escrow.services.transparency import LogSigner, queue_event

MAX_PASSWORD_LENGTH = 1024

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PersonAccount:
    """What the web layer keeps of a person: an id and how they were verified. No identity."""

    id: int
    provider_kind: str
    assurance: str


@dataclass(frozen=True, slots=True, repr=False)
class SignedIn:
    """A person who just signed in (or registered): their account, and the pseudonym secret the
    caller keeps for them in memory or in their session, and never in a database or a log."""

    account: PersonAccount
    secret: PseudonymSecret

    def __repr__(self) -> str:
        return f"SignedIn(account={self.account!r}, secret=<hidden>)"


def register_person(
    session: Session,
    *,
    identity: VerifiedIdentity,
    oprf: OprfEvaluator,
    log: LogSigner,
    now: datetime,
    password: str | None = None,
    hasher: argon2.PasswordHasher | None = None,
) -> SignedIn:
    """Creates the account of ``identity``, sealed to the active escrow key, and commits.

    Officer-verified persons must give a password (argon2id-hashed with ``hasher``). Returns the
    account and the person's pseudonym secret (one OPRF evaluation). Raises ConflictError if this
    person already has an account (also when a concurrent registration wins the race),
    InvalidStateError if no escrow key is active, ValidationError for a weak password,
    OprfUnavailableError if the OPRF cannot be evaluated now.
    """
    password_hash = None
    if identity.provider_kind == PROVIDER_OFFICER:
        if password is None or hasher is None:
            raise ValidationError("an officer-verified person needs a password")
        password_hash = hasher.hash(_checked_password(password))
    keys = derive_person_keys(session, oprf, identity.identity_key, log=log, now=now)
    person_key = keys.person_key
    if session.scalar(select(Person.id).where(Person.person_key == person_key)) is not None:
        raise ConflictError("this person already has an account; log in instead")
    escrow_key = pinned_escrow_key(session)
    # Sealed under the person's own seal key (re-derived at every sign-in, never stored) and bound to
    # this account's person key: envelopes are made from it while the person is signed in (issue 14).
    sealed = seal_identity(
        SealKey(keys.secret.seal_key_material()), identity.to_sealed_bytes(), seal_context(person_key)
    )
    person = Person(
        person_key=person_key,
        provider_kind=identity.provider_kind,
        assurance=identity.assurance,
        escrow_key_id=escrow_key.key_id,
        identity_seal=json.dumps(sealed.to_dict(), sort_keys=True).encode(),
        password_hash=password_hash,
        created_at=now,
    )
    # End the read transaction first, so the write below starts a new one with the INSERT: on
    # SQLite (WAL) a read transaction that later writes fails with "database is locked" when a
    # concurrent registration wrote in between, instead of waiting for the lock.
    session.commit()
    session.add(person)
    try:
        session.flush()
        # Public: only how the person was verified. No identity, no person key, no account id.
        queue_event(
            session,
            kind="person.registered",
            data={"provider": identity.provider_kind, "assurance": identity.assurance},
            now=now,
        )
        session.commit()
    except IntegrityError:
        # The unique person_key lost a race with a concurrent registration of the same person.
        session.rollback()
        raise ConflictError("this person already has an account; log in instead") from None
    # No person id: this line sits next to credential.issued lines, and a log must not join what the
    # database keeps apart (docs/threat-model.md, security rule 6; issue 17 finding 7).
    _log.info("person.registered provider=%s", person.provider_kind)
    return SignedIn(_account(person), keys.secret)


def login_person(
    session: Session, *, identity: VerifiedIdentity, oprf: OprfEvaluator, log: LogSigner, now: datetime
) -> SignedIn:
    """Returns the account and pseudonym secret of a person who just proved their identity again at
    their provider (one OPRF evaluation).

    Raises NotFoundError if they have not registered, OprfUnavailableError if the OPRF cannot be
    evaluated now.
    """
    keys = derive_person_keys(session, oprf, identity.identity_key, log=log, now=now)
    person = _person_with_key(session, keys)
    if person is None:
        raise NotFoundError("no account for this identity yet; register first")
    return SignedIn(_account(person), keys.secret)


def login_with_password(
    session: Session,
    *,
    issuing_country: str,
    document_number: str,
    password: str,
    oprf: OprfEvaluator,
    hasher: argon2.PasswordHasher,
    log: LogSigner,
    now: datetime,
) -> SignedIn:
    """Returns the account and pseudonym secret of an officer-verified person who gave their document
    and password (one OPRF evaluation of the document's identity key).

    Raises AuthenticationError (one message for every failure, so it tells nothing about accounts),
    OprfUnavailableError if the OPRF cannot be evaluated now (before any account is looked at).
    """
    failure = AuthenticationError("document or password not recognised")
    try:
        identity_key = officer_identity_key(issuing_country, document_number)
    except ValidationError:
        raise failure from None
    keys = derive_person_keys(session, oprf, identity_key, log=log, now=now)
    person = _person_with_key(session, keys)
    if person is None or person.password_hash is None:
        hasher.hash(password[:MAX_PASSWORD_LENGTH])  # same cost whether or not the account exists
        raise failure
    try:
        hasher.verify(person.password_hash, password[:MAX_PASSWORD_LENGTH])
    except argon2.exceptions.VerificationError:
        raise failure from None
    except argon2.exceptions.InvalidHashError:
        raise failure from None
    return SignedIn(_account(person), keys.secret)


_HELD_ROWS = "escrow.registration.held_rows"


def get_account(session: Session, person_id: int) -> PersonAccount | None:
    """Returns the account with ``person_id``, or None (Flask-Login's user loader)."""
    person = session.get(Person, person_id)
    if person is None:
        return None
    # Held for the session's life (one request): the identity map keeps rows only weakly, and the
    # issuance that follows in the same request would otherwise read the row again (issue 15).
    session.info.setdefault(_HELD_ROWS, []).append(person)
    return _account(person)


def _checked_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"the password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    return password


def _person_with_key(session: Session, keys: PersonKeys) -> Person | None:
    return session.scalars(select(Person).where(Person.person_key == keys.person_key)).first()


def _account(person: Person) -> PersonAccount:
    return PersonAccount(id=person.id, provider_kind=person.provider_kind, assurance=person.assurance)


@dataclass(frozen=True, slots=True, repr=False)
class PendingSignIn:
    """A login attempt in progress, kept in the browser's session until the provider sends it back:
    the provider it was started at, what that provider kept (secrets: never logged), the intent."""

    provider_id: str
    kept: Mapping[str, str]
    is_registration: bool

    def __repr__(self) -> str:
        return f"PendingSignIn(provider_id={self.provider_id!r}, <kept hidden>)"

    def to_session(self) -> dict[str, object]:
        """Returns the JSON-serialisable form kept in the session."""
        return {"provider": self.provider_id, "kept": dict(self.kept), "register": self.is_registration}

    @classmethod
    def from_session(cls, value: object) -> PendingSignIn:
        """Returns the attempt to_session() wrote. Raises ValidationError for anything else (none)."""
        if not isinstance(value, dict):
            raise ValidationError("no login is in progress, or the identity provider refused it")
        provider_id, kept, register = value.get("provider"), value.get("kept"), value.get("register")
        if (
            not isinstance(provider_id, str)
            or not isinstance(kept, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in kept.items())
            or not isinstance(register, bool)
        ):
            raise ValidationError("no login is in progress, or the identity provider refused it")
        return cls(provider_id, kept, register)


def begin_sign_in(provider: IdentityProvider, *, is_registration: bool) -> tuple[str, PendingSignIn]:
    """Returns where to send the browser and the attempt to keep in its session until it is back.

    Raises IdentityProofError if the provider cannot be used (e.g. unreachable).
    """
    start = provider.begin()
    return start.url, PendingSignIn(provider.id, dict(start.kept), is_registration)


def sign_in_with_provider(
    session: Session,
    *,
    providers: IdentityProviders,
    provider_id: str,
    pending: object,
    callback: Mapping[str, str],
    oprf: OprfEvaluator,
    log: LogSigner,
    now: datetime,
) -> SignedIn:
    """Finishes a login at provider ``provider_id`` (the provider whose callback URL the browser came
    back to), then registers or logs the person in.

    ``pending`` is what the session kept (PendingSignIn.to_session()), ``callback`` the query the
    browser came back with. Returns the account and the person's pseudonym secret. Raises
    NotFoundError for an unknown provider id and when logging in a person who has no account,
    ValidationError if no login is in progress or it was started at another provider,
    IdentityProofError if the provider's answer does not verify, ConflictError when registering a
    person who has an account, OprfUnavailableError if the OPRF cannot be evaluated now.
    """
    provider = providers.get(provider_id)
    attempt = PendingSignIn.from_session(pending)
    if attempt.provider_id != provider.id:
        # A state issued for one provider must never be redeemed at another (mix-up, RFC 9700 4.4).
        raise ValidationError("this login was started at another identity provider; start again")
    identity = provider.finish(kept=attempt.kept, callback=callback, now=now)
    if attempt.is_registration:
        return register_person(session, identity=identity, oprf=oprf, log=log, now=now)
    return login_person(session, identity=identity, oprf=oprf, log=log, now=now)


def register_in_person(
    session: Session,
    *,
    check: DocumentCheck,
    password: str,
    oprf: OprfEvaluator,
    hasher: argon2.PasswordHasher,
    log: LogSigner,
    now: datetime,
) -> PersonAccount:
    """Registers a person whose document a verification officer checked; they log in by password.

    Returns the account only: the officer's session must never hold the person's pseudonym secret,
    which the person gets when they sign in themselves (login_with_password, a fresh evaluation).
    Raises IdentityProofError for a malformed document entry, and as register_person() does.
    """
    identity = verify_document(check, today=now.date())
    return register_person(
        session, identity=identity, oprf=oprf, log=log, now=now, password=password, hasher=hasher
    ).account
