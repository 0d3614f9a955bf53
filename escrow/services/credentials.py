"""Credentials: issue (derive pseudonym, reseal identity, sign), list, revoke, verify and redeem.

A credential row names its platform and pseudonym, never the person's account: a person's
credentials are found by re-deriving their pseudonyms from their pseudonym secret, which only their
signed-in session holds (issue 13); nothing the server stores derives one.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.orm import Session

from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.seal import IdentitySeal, SealKey, reseal
from escrow.crypto.tokens import ALGORITHM, ALGORITHM_ED25519, sign_token
from escrow.crypto.transcript import b64u_encode
from escrow.db import end_read_before_write
from escrow.errors import (
    InvalidCredentialError,
    InvalidStateError,
    NotFoundError,
    TokenAlreadyRedeemedError,
    TokenRevokedError,
    ValidationError,
)
from escrow.keystore import Keyring
from escrow.models import Credential, Person
from escrow.protocol.credentials import (
    ENVELOPE_DIGEST_CLAIM,
    StaticKeys,
    VerifiedCredential,
    verify_credential,
)
from escrow.protocol.identity import seal_context
from escrow.services.key_pinning import pinned_escrow_key
from escrow.services.pagination import Page, fetch_page
from escrow.services.platforms import PlatformInfo, find_platform, list_platforms
from escrow.services.pseudonyms import person_pseudonyms_filter
from escrow.services.read_cache import ReadCache
from escrow.services.signing_keys import active_signing_key, extend_publication, published_jwks
from escrow.services.transparency import LogSigner, queue_event
from escrow.services.webhooks import EVENT_CREDENTIAL_REVOKED, enqueue_event

STATUS_ACTIVE: Final = "active"
STATUS_REVOKED: Final = "revoked"
STATUS_EXPIRED: Final = "expired"
STATUS_REDEEMED: Final = "redeemed"
JTI_BYTES = 16
MAX_STATUS_QUERY = 100

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
class IssuedCredential:
    """A new credential; ``token`` goes to the person (and on to the platform), never to a log."""

    token: str
    credential_id: str
    platform_id: str
    pseudonym: str
    envelope_digest: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"IssuedCredential(credential_id={self.credential_id!r})"


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    credential_id: str
    platform_id: str
    pseudonym: str
    issued_at: datetime
    expires_at: datetime
    status: str


def issue_credential(
    session: Session,
    *,
    person_id: int,
    platform_id: str,
    secret: PseudonymSecret,
    keyring: Keyring,
    issuer: str,
    log: LogSigner,
    now: datetime,
    slot: int = 0,
    cache: ReadCache | None = None,
) -> IssuedCredential:
    """Issues a credential for the person on the platform and commits.

    Derives the pairwise pseudonym from the person's pseudonym ``secret``, reseals the person's
    identity into a fresh envelope bound to (platform, pseudonym, envelope id), signs an EdDSA JWT
    naming the envelope digest. Returns it.
    Raises NotFoundError (person or platform), ValidationError (slot beyond the platform's policy),
    InvalidStateError (no active escrow key). ``cache``: this process's copy of the active signing key.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError("no such person or platform")
    platform = find_platform(session, platform_id, cache)
    if type(slot) is not int or not 0 <= slot < platform.pseudonyms_per_person:
        raise ValidationError(
            f"this platform allows {platform.pseudonyms_per_person} pseudonym(s) per person"
        )
    platform_id, lifetime_s = platform.id, platform.credential_lifetime_s
    # The RFC 9864 name when the platform chose it (issue 19); EdDSA otherwise (RS256 is ID tokens only).
    alg = ALGORITHM_ED25519 if platform.id_token_alg == ALGORITHM_ED25519 else ALGORITHM
    pseudonym = secret.pseudonym(platform_id, slot=slot)
    jti = b64u_encode(secrets.token_bytes(JTI_BYTES))
    identity_seal = IdentitySeal.from_dict(json.loads(person.identity_seal))
    if identity_seal.context != seal_context(person.person_key):
        # A seal copied from another account (a database writer's swap): never wrap it (issue 14).
        raise InvalidStateError("this account's sealed identity names another account; nothing was issued")
    envelope = reseal(
        pinned_escrow_key(session, cache),
        SealKey(secret.seal_key_material()),
        identity_seal,
        # The notice tag (issue 14) is bound into the digest the officers and holders sign; only the
        # person can recompute it, to recognise the log's disclosure.notice_due for this envelope.
        {
            "platform": platform_id,
            "pseudonym": pseudonym,
            "envelope_id": jti,
            "notice": b64u_encode(secret.notice_tag(platform_id, pseudonym)),
        },
    )
    digest = b64u_encode(envelope.digest())
    signing_key = active_signing_key(session, keyring, now=now, cache=cache)
    issued = int(now.timestamp())
    expires_at = datetime.fromtimestamp(issued, now.tzinfo) + timedelta(seconds=lifetime_s)
    token = sign_token(
        signing_key.seed,
        {
            "iss": issuer,
            "sub": pseudonym,
            "aud": platform_id,
            "iat": issued,
            "nbf": issued,
            "exp": int(expires_at.timestamp()),
            "jti": jti,
            ENVELOPE_DIGEST_CLAIM: digest,
        },
        alg=alg,
    )
    # Concurrent issuances on SQLite then queue for the write lock instead of failing.
    end_read_before_write(session)
    # One INSERT, not a unit-of-work flush: issuance is a hot path (issue 15).
    session.execute(
        insert(Credential).values(
            jti=jti,
            platform_id=platform_id,
            pseudonym=pseudonym,
            signing_key_id=signing_key.kid,
            envelope=envelope.to_bytes(),
            envelope_digest=digest,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    extend_publication(session, signing_key.kid, expires_at)
    # The pseudonym is committed to, not published: the log must not list a platform's members.
    queue_event(
        session,
        kind="credential.issued",
        data={"platform": platform_id},
        sensitive={"pseudonym": pseudonym, "credential_id": jti},
        now=now,
    )
    session.commit()
    # No person id here: a log line joining person and credential would be the link we avoid.
    _log.info("credential.issued platform_id=%s credential_id=%s", platform_id, jti)
    return IssuedCredential(token, jti, platform_id, pseudonym, digest, expires_at)


def list_person_credentials(
    session: Session, *, person_id: int, secret: PseudonymSecret, now: datetime
) -> list[CredentialInfo]:
    """Returns the person's credentials on every platform, newest first (found by re-derivation)."""
    rows = session.scalars(
        select(Credential)
        .where(_owned_by(session, person_id, secret))
        .order_by(Credential.issued_at.desc(), Credential.jti)
    )
    return [_info(r, now) for r in rows]


@dataclass(frozen=True, slots=True)
class PersonOverview:
    """What the person's credentials page shows: their credentials and the platforms to ask for."""

    credentials: Page[CredentialInfo]
    platforms: list[PlatformInfo]


def person_overview(
    session: Session, *, person_id: int, secret: PseudonymSecret, now: datetime, page: int = 1
) -> PersonOverview:
    """Returns one page of the person's credentials (newest first, as list_person_credentials) and
    every platform. Raises InvalidPageError, PageNotFoundError."""
    statement = (
        select(Credential)
        .where(_owned_by(session, person_id, secret))
        .order_by(Credential.issued_at.desc(), Credential.jti)
    )
    return PersonOverview(
        credentials=fetch_page(session, statement, number=page).map(lambda row: _info(row, now)),
        platforms=list_platforms(session),
    )


def revoke_as_person(
    session: Session,
    *,
    person_id: int,
    credential_id: str,
    secret: PseudonymSecret,
    log: LogSigner,
    now: datetime,
) -> CredentialInfo:
    """Revokes one of the person's own credentials (lost or leaked) and commits.

    Raises NotFoundError if it is not theirs (same answer as for no such credential).
    """
    row = session.scalars(
        select(Credential).where(Credential.jti == credential_id, _owned_by(session, person_id, secret))
    ).first()
    if row is None:
        raise NotFoundError("no such credential")
    return _revoke(session, row, by="user", log=log, now=now)


def revoke_as_platform(
    session: Session, *, platform: PlatformInfo, credential_id: str, log: LogSigner, now: datetime
) -> CredentialInfo:
    """Revokes a credential issued for ``platform`` (abuse) and commits. Raises NotFoundError."""
    row = session.get(Credential, credential_id) if isinstance(credential_id, str) else None
    if row is None or row.platform_id != platform.id:
        raise NotFoundError("no such credential for this platform")
    return _revoke(session, row, by="platform", log=log, now=now)


def revoke_as_admin(session: Session, *, credential_id: str, log: LogSigner, now: datetime) -> CredentialInfo:
    """Revokes any credential and commits. Raises NotFoundError."""
    row = session.get(Credential, credential_id) if isinstance(credential_id, str) else None
    if row is None:
        raise NotFoundError("no such credential")
    return _revoke(session, row, by="admin", log=log, now=now)


def credential_statuses(
    session: Session, *, platform: PlatformInfo, credential_ids: list[str], now: datetime
) -> dict[str, str]:
    """Returns {credential id: status} for the platform's credentials; unknown ids are "unknown".

    Raises ValidationError for more than MAX_STATUS_QUERY ids or non-text ids.
    """
    if len(credential_ids) > MAX_STATUS_QUERY or not all(isinstance(i, str) for i in credential_ids):
        raise ValidationError(f"ask for 1 to {MAX_STATUS_QUERY} credential ids (text)")
    rows = session.scalars(
        select(Credential).where(Credential.jti.in_(credential_ids), Credential.platform_id == platform.id)
    )
    found = {r.jti: _status(r, now) for r in rows}
    return {i: found.get(i, "unknown") for i in credential_ids}


def verify_and_redeem(
    session: Session,
    *,
    platform: PlatformInfo,
    token: str,
    issuer: str,
    now: datetime,
    cache: ReadCache | None = None,
) -> VerifiedCredential:
    """Verifies ``token`` for ``platform`` exactly as the SDK does, checks its status, redeems it
    (once), and commits. ``cache``: this process's copy of the JWKS (escrow.services.read_cache).

    Raises the InvalidTokenError family (bad signature, wrong audience or issuer, expired, not yet
    valid, unknown key, TokenRevokedError) and TokenAlreadyRedeemedError on a second redemption.
    """
    keys = StaticKeys(published_jwks(session, now=now, cache=cache))
    credential = verify_credential(token, keys, issuer=issuer, platform_id=platform.id, now=now)
    row = session.get(Credential, credential.credential_id)
    if row is None or row.pseudonym != credential.pseudonym or row.platform_id != platform.id:
        raise InvalidCredentialError("this credential is not on record")
    if row.revoked_at is not None:
        raise TokenRevokedError("this credential was revoked")
    jti = row.jti
    # SQLite WAL would refuse the upgrade to a write lock with "database is locked" if another
    # redemption wrote in between, instead of waiting.
    end_read_before_write(session)
    # One atomic UPDATE: of concurrent redemptions (or a redemption racing a revocation) exactly one
    # changes the row.
    result = session.execute(
        update(Credential)
        .where(Credential.jti == jti, Credential.redeemed_at.is_(None), Credential.revoked_at.is_(None))
        .values(redeemed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        if session.scalar(select(Credential.revoked_at).where(Credential.jti == jti)) is not None:
            raise TokenRevokedError("this credential was revoked")
        raise TokenAlreadyRedeemedError("this credential was already redeemed")
    session.commit()
    _log.info("credential.redeemed platform_id=%s credential_id=%s", platform.id, jti)
    return credential


def _owned_by(session: Session, person_id: int, secret: PseudonymSecret) -> ColumnElement[bool]:
    return person_pseudonyms_filter(
        session,
        person_id=person_id,
        secret=secret,
        platform=Credential.platform_id,
        pseudonym=Credential.pseudonym,
    )


def _revoke(session: Session, row: Credential, *, by: str, log: LogSigner, now: datetime) -> CredentialInfo:
    """Revokes ``row`` once: a conditional UPDATE, so of concurrent revocations exactly one changes the
    row, writes ``credential.revoked`` and sets ``revoked_by``; the others are a no-op that reports the
    winner's revocation (issue 17, finding 1)."""
    jti, platform_id, pseudonym = row.jti, row.platform_id, row.pseudonym
    # End the read transaction before writing (SQLite WAL: see verify_and_redeem).
    session.commit()
    result = session.execute(
        update(Credential)
        .where(Credential.jti == jti, Credential.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        queue_event(
            session,
            kind="credential.revoked",
            data={"platform": platform_id, "by": by},
            sensitive={"credential_id": jti},
            now=now,
        )
        # Issue 19: the platform hears of it (Standard Webhooks), queued in this transaction.
        enqueue_event(
            session,
            platform_id=platform_id,
            event_type=EVENT_CREDENTIAL_REVOKED,
            data={"credential_id": jti, "sub": pseudonym, "revoked_by": by},
            now=now,
        )
        session.commit()
        _log.info("credential.revoked platform_id=%s credential_id=%s by=%s", platform_id, jti, by)
    else:
        session.rollback()
    session.refresh(row)
    return _info(row, now)


def _status(row: Credential, now: datetime) -> str:
    if row.revoked_at is not None:
        return STATUS_REVOKED
    if row.expires_at <= now:
        return STATUS_EXPIRED
    if row.redeemed_at is not None:
        return STATUS_REDEEMED
    return STATUS_ACTIVE


def _info(row: Credential, now: datetime) -> CredentialInfo:
    return CredentialInfo(
        row.jti, row.platform_id, row.pseudonym, row.issued_at, row.expires_at, _status(row, now)
    )
