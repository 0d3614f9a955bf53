"""Sign in with escrow (issue 7): the OpenID Connect provider's use cases.

Platforms are the OIDC clients. The protocol itself (request validation, PKCE, client
authentication, error responses) is Authlib's, wired in escrow/web/oidc.py; this module keeps the
state: client secrets, consents, authorization codes, access tokens and ID-token signing keys.

No row here names a person's account. Consents are keyed by (platform, pseudonym) and found by
re-deriving the person's pseudonym from the pseudonym secret of their signed-in session, as credentials
are; a code names the credential made for that
sign-in (pseudonym + fresh envelope), never the person.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.rsa import generate_rsa_private_pem, rsa_public_jwk, sign_rs256
from escrow.crypto.tokens import TYP_ID_TOKEN, sign_token
from escrow.errors import InvalidStateError, NotFoundError, ValidationError
from escrow.keystore import Keyring, ensure_keys_dir, read_secret_file, write_secret_file
from escrow.models import Credential, OidcCode, OidcConsent, OidcRefreshToken, OidcToken, Person, Platform
from escrow.protocol.credentials import ENVELOPE_DIGEST_CLAIM
from escrow.services.credentials import issue_credential
from escrow.services.read_cache import PLATFORMS, bump_generation
from escrow.services.signing_keys import active_signing_key, extend_publication
from escrow.services.transparency import LogSigner, append_event, queue_event
from escrow.services.webhooks import EVENT_CONSENT_WITHDRAWN, enqueue_event

ALG_EDDSA: Final = "EdDSA"
ALG_ED25519: Final = "Ed25519"  # RFC 9864's name for the same signature: issue 19
ALG_RS256: Final = "RS256"
ID_TOKEN_ALGORITHMS: Final = (ALG_EDDSA, ALG_ED25519, ALG_RS256)
# RFC 6749 section 4.1.2: codes "MUST expire shortly after" issue; 10 minutes at most. One minute is
# plenty for a redirect and a back-channel call.
CODE_TTL: Final = timedelta(seconds=60)
ACCESS_TOKEN_TTL_S: Final = 3600  # the access token only reads userinfo (sub + verified_unique)
# Issue 19: a sign-in's refresh tokens live 30 days in all (rotation never extends it), then the
# person signs in again; each is single use.
REFRESH_TOKEN_TTL: Final = timedelta(days=30)
ID_TOKEN_TTL_S: Final = 600
CLIENT_SECRET_BYTES: Final = 32
RS256_KEY_NAME: Final = "oidc-rs256-signing-key"  # PEM under keys/, mode 0600
VERIFIED_UNIQUE_CLAIM: Final = "verified_unique"
# Issue 19: `acr` is a URI (OIDC Core 2 "SHOULD be ... absolute URIs"). escrow's three assurance levels
# are eIDAS's (Implementing Regulation 2015/1502), whose URIs relying parties already know.
ACR_URIS: Final = {
    "low": "http://eidas.europa.eu/LoA/low",
    "substantial": "http://eidas.europa.eu/LoA/substantial",
    "high": "http://eidas.europa.eu/LoA/high",
}

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OidcClient:
    """A platform as an OIDC client: public (no secret: PKCE S256 required) or confidential."""

    platform_id: str
    name: str
    redirect_uris: tuple[str, ...]
    id_token_alg: str
    is_public: bool


@dataclass(frozen=True, slots=True, repr=False)
class NewClientSecret:
    """A new client secret: shown to the admin once, stored only as its SHA-256."""

    platform_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"NewClientSecret(platform_id={self.platform_id!r})"


@dataclass(frozen=True, slots=True)
class ConsentInfo:
    platform_id: str
    platform_name: str
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """A live authorization code and what the ID token will say (no person, only the pseudonym)."""

    code_hash: bytes
    platform_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    acr: str
    auth_time: datetime | None  # only when the platform asked (max_age, prompt=login): issue 19
    credential_id: str
    sid: str | None
    pseudonym: str
    envelope_digest: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a token response is issued from: a redeemed code, or a refresh token of its family
    (``refresh_expires_at`` is then the family's end; None for a new family)."""

    code_hash: bytes
    platform_id: str
    credential_id: str
    scope: str
    refresh_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccessTokenInfo:
    """An access token, or (``token_type`` refresh_token) a refresh token for revocation and
    introspection only: the bearer endpoints never take a refresh token."""

    platform_id: str
    credential_id: str
    pseudonym: str
    scope: str
    issued_at: datetime
    expires_at: datetime
    is_revoked: bool
    token_type: str = "access_token"  # noqa: S105 - RFC 7009 token type hint, not a secret


def _hash(secret: str) -> bytes:
    # Codes, tokens and client secrets carry >= 256 random bits: SHA-256 is enough (no dictionary).
    return hashlib.sha256(secret.encode()).digest()


# --- clients -------------------------------------------------------------------------------------


def get_client(session: Session, client_id: object) -> OidcClient | None:
    """Returns the platform ``client_id`` as an OIDC client, or None if there is none."""
    platform = session.get(Platform, client_id) if isinstance(client_id, str) else None
    if platform is None:
        return None
    return OidcClient(
        platform_id=platform.id,
        name=platform.name,
        redirect_uris=tuple(json.loads(platform.redirect_uris)),
        id_token_alg=platform.id_token_alg,
        is_public=platform.client_secret_hash is None,
    )


def check_client_secret(session: Session, *, platform_id: str, client_secret: object) -> bool:
    """Returns True if ``client_secret`` is the platform's client secret (constant-time compare)."""
    platform = session.get(Platform, platform_id)
    if platform is None or platform.client_secret_hash is None or not isinstance(client_secret, str):
        return False
    return hmac.compare_digest(platform.client_secret_hash, _hash(client_secret))


def create_client_secret(
    session: Session, *, platform_id: str, log: LogSigner, now: datetime
) -> NewClientSecret:
    """Gives the platform a new client secret (replacing any old one: it becomes confidential) and
    commits. The returned secret is never stored. Raises NotFoundError."""
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    client_secret = secrets.token_urlsafe(CLIENT_SECRET_BYTES)
    platform.client_secret_hash = _hash(client_secret)
    bump_generation(session, PLATFORMS)  # cached API-key lookups carry the platform (issue 17)
    append_event(session, log, kind="oidc.client_secret_created", data={"platform": platform.id}, now=now)
    session.commit()
    _log.info("oidc.client_secret_created platform_id=%s", platform.id)
    return NewClientSecret(platform.id, client_secret)


def set_id_token_algorithm(
    session: Session, *, platform_id: str, alg: str, keyring: Keyring, log: LogSigner, now: datetime
) -> None:
    """Sets the algorithm of the platform's ID tokens (EdDSA, Ed25519 or RS256) and commits; RS256
    creates the RSA key (under keys/) if this is its first client, so the JWKS publishes it before
    it is used. Ed25519 is the same key and signature as EdDSA under RFC 9864's name, and the
    platform's credentials then carry that name too (services/credentials.py).

    Raises NotFoundError, ValidationError for another algorithm.
    """
    if alg not in ID_TOKEN_ALGORITHMS:
        raise ValidationError(f"the ID token algorithm must be one of {', '.join(ID_TOKEN_ALGORITHMS)}")
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    if alg == ALG_RS256:
        rs256_private_pem(keyring)
    platform.id_token_alg = alg
    bump_generation(session, PLATFORMS)
    append_event(
        session, log, kind="oidc.id_token_alg_set", data={"platform": platform.id, "alg": alg}, now=now
    )
    session.commit()


# --- consent -------------------------------------------------------------------------------------


def _pseudonym(session: Session, person_id: int, platform_id: str, secret: PseudonymSecret) -> str:
    person = session.get(Person, person_id)
    if person is None or session.get(Platform, platform_id) is None:
        raise NotFoundError("no such person or platform")
    return secret.pseudonym(platform_id)


def has_consent(session: Session, *, person_id: int, platform_id: str, secret: PseudonymSecret) -> bool:
    """Returns True if the person consented to sign in to the platform and has not withdrawn it."""
    pseudonym = _pseudonym(session, person_id, platform_id, secret)
    row = session.scalars(
        select(OidcConsent).where(OidcConsent.platform_id == platform_id, OidcConsent.pseudonym == pseudonym)
    ).first()
    return row is not None


def grant_consent(
    session: Session,
    *,
    person_id: int,
    platform_id: str,
    secret: PseudonymSecret,
    log: LogSigner,
    now: datetime,
) -> None:
    """Records the person's consent for the platform (idempotent) and commits. Raises NotFoundError."""
    pseudonym = _pseudonym(session, person_id, platform_id, secret)
    if has_consent(session, person_id=person_id, platform_id=platform_id, secret=secret):
        return
    session.commit()  # end the read transaction first (SQLite WAL: see services/credentials.py)
    session.add(OidcConsent(platform_id=platform_id, pseudonym=pseudonym, granted_at=now))
    queue_event(
        session,
        kind="oidc.consent_granted",
        data={"platform": platform_id},
        sensitive={"pseudonym": pseudonym},
        now=now,
    )
    try:
        session.commit()
    except IntegrityError:  # pragma: no cover - a concurrent request (another tab) won the race
        session.rollback()
        return
    _log.info("oidc.consent_granted platform_id=%s", platform_id)


def withdraw_consent(
    session: Session,
    *,
    person_id: int,
    platform_id: str,
    secret: PseudonymSecret,
    log: LogSigner,
    now: datetime,
) -> None:
    """Withdraws the person's consent for the platform and commits. Raises NotFoundError if there is
    no such consent."""
    pseudonym = _pseudonym(session, person_id, platform_id, secret)
    # End the read transaction before the conditional DELETE (SQLite WAL: see services/credentials.py).
    session.commit()
    result = session.execute(
        delete(OidcConsent)
        .where(OidcConsent.platform_id == platform_id, OidcConsent.pseudonym == pseudonym)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise NotFoundError("you have not signed in to this platform with escrow")
    # Withdrawn consent ends what the platform holds: its access and refresh tokens (issue 19).
    credentials = select(Credential.jti).where(
        Credential.platform_id == platform_id, Credential.pseudonym == pseudonym
    )
    for table in (OidcToken, OidcRefreshToken):
        session.execute(
            update(table)
            .where(table.credential_id.in_(credentials), table.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    queue_event(
        session,
        kind="oidc.consent_withdrawn",
        data={"platform": platform_id},
        sensitive={"pseudonym": pseudonym},
        now=now,
    )
    enqueue_event(
        session, platform_id=platform_id, event_type=EVENT_CONSENT_WITHDRAWN, data={"sub": pseudonym}, now=now
    )
    session.commit()
    _log.info("oidc.consent_withdrawn platform_id=%s", platform_id)


def list_consents(session: Session, *, person_id: int, secret: PseudonymSecret) -> list[ConsentInfo]:
    """Returns the person's standing consents, by platform id (found by re-deriving pseudonyms)."""
    person = session.get(Person, person_id)
    if person is None:
        return []
    result = []
    for platform in session.scalars(select(Platform).order_by(Platform.id)):
        pseudonym = secret.pseudonym(platform.id)
        row = session.scalars(
            select(OidcConsent).where(
                OidcConsent.platform_id == platform.id, OidcConsent.pseudonym == pseudonym
            )
        ).first()
        if row is not None:
            result.append(ConsentInfo(platform.id, platform.name, row.granted_at))
    return result


# --- codes and tokens ----------------------------------------------------------------------------


def create_authorization_code(
    session: Session,
    *,
    code: str,
    person_id: int,
    platform_id: str,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    auth_time: datetime | None,
    secret: PseudonymSecret,
    keyring: Keyring,
    issuer: str,
    log: LogSigner,
    now: datetime,
    sid: str | None = None,
) -> str:
    """Stores the authorization code of a sign-in and commits. Returns the pseudonym it signs in with.

    ``sid`` is the escrow session's sid for this platform alone (services/logout.py), put in the ID
    token for Back-Channel Logout 1.0.

    ``auth_time`` is None unless the platform asked for it, and then the time of a sign-in made for
    this request alone: never the person's escrow sign-in time, which every platform they sign in to
    from that session would share (issue 19, docs/platforms.md#auth_time).

    Makes a fresh sealed envelope bound to the person's pseudonym on the platform through the
    credentials service (so the platform can name its digest in a disclosure request), and logs
    ``oidc.signin`` (platform public, pseudonym only as a commitment). Raises what issue_credential
    raises (NotFoundError, InvalidStateError when no escrow key is active).
    """
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError("no such person")
    acr = person.assurance
    issued = issue_credential(
        session,
        person_id=person_id,
        platform_id=platform_id,
        secret=secret,
        keyring=keyring,
        issuer=issuer,
        log=log,
        now=now,
    )
    session.add(
        OidcCode(
            code_hash=_hash(code),
            platform_id=platform_id,
            credential_id=issued.credential_id,
            redirect_uri=redirect_uri,
            scope=scope,
            nonce=nonce or None,
            code_challenge=code_challenge or None,
            code_challenge_method=code_challenge_method or None,
            acr=acr,
            auth_time=auth_time,
            sid=sid,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    queue_event(
        session,
        kind="oidc.signin",
        data={"platform": platform_id},
        sensitive={"pseudonym": issued.pseudonym},
        now=now,
    )
    session.commit()
    _log.info("oidc.signin platform_id=%s credential_id=%s", platform_id, issued.credential_id)
    return issued.pseudonym


def is_nonce_used(session: Session, *, platform_id: str, nonce: str) -> bool:
    """Returns True if an earlier authorization request of this platform carried ``nonce``."""
    row = session.scalars(
        select(OidcCode.code_hash).where(OidcCode.platform_id == platform_id, OidcCode.nonce == nonce)
    ).first()
    return row is not None


def find_code(session: Session, *, code: object, platform_id: str, now: datetime) -> CodeGrant | None:
    """Returns the live code ``code`` of the platform, or None if unknown, expired or already used.

    A used code presented again revokes every access token issued from it and commits
    (RFC 6749 section 4.1.2: the server "SHOULD revoke ... all tokens previously issued").
    """
    if not isinstance(code, str) or not code:
        return None
    row = session.get(OidcCode, _hash(code))
    if row is None or row.platform_id != platform_id:
        return None
    if row.used_at is not None:
        revoked = _revoke_family(session, row.code_hash, now=now)
        _log.warning("oidc.code_reused platform_id=%s tokens_revoked=%d", platform_id, revoked)
        return None
    if row.expires_at <= now:
        return None
    credential = session.get(Credential, row.credential_id)
    if credential is None:  # pragma: no cover - foreign key
        return None
    return CodeGrant(
        code_hash=row.code_hash,
        platform_id=row.platform_id,
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        nonce=row.nonce,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        acr=row.acr,
        auth_time=row.auth_time,
        credential_id=row.credential_id,
        sid=row.sid,
        pseudonym=credential.pseudonym,
        envelope_digest=credential.envelope_digest,
    )


def redeem_code(session: Session, *, code_hash: bytes, now: datetime) -> bool:
    """Marks the code used and commits. Returns False if it was used already (a concurrent redemption
    won): one atomic UPDATE, so exactly one of two racing token requests gets tokens."""
    result = session.execute(
        update(OidcCode)
        .where(OidcCode.code_hash == code_hash, OidcCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    session.commit()
    return True


def _revoke_family(session: Session, code_hash: bytes, *, now: datetime) -> int:
    """Revokes every access and refresh token descending from the code ``code_hash`` and commits.
    Returns how many were live."""
    count = 0
    for table in (OidcToken, OidcRefreshToken):
        result = session.execute(
            update(table)
            .where(table.code_hash == code_hash, table.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        count += result.rowcount  # type: ignore[attr-defined]
    session.commit()
    return count


def token_grant_of(grant: CodeGrant) -> TokenGrant:
    """Returns what the code ``grant`` grants at the token endpoint (a new token family)."""
    return TokenGrant(grant.code_hash, grant.platform_id, grant.credential_id, grant.scope)


def save_tokens(
    session: Session,
    *,
    access_token: str,
    refresh_token: str | None,
    grant: TokenGrant,
    expires_in: int,
    now: datetime,
) -> None:
    """Stores the access token (and the refresh token, if any) issued from ``grant``, as their
    SHA-256, and commits. A refresh token keeps its family's end: rotation never extends it."""
    rows: list[tuple[type[OidcToken] | type[OidcRefreshToken], str, datetime]] = [
        (OidcToken, access_token, now + timedelta(seconds=expires_in))
    ]
    if refresh_token is not None:
        rows.append((OidcRefreshToken, refresh_token, grant.refresh_expires_at or now + REFRESH_TOKEN_TTL))
    for table, token, expires_at in rows:
        session.add(
            table(
                token_hash=_hash(token),
                code_hash=grant.code_hash,
                platform_id=grant.platform_id,
                credential_id=grant.credential_id,
                scope=grant.scope,
                issued_at=now,
                expires_at=expires_at,
            )
        )
    session.commit()


def use_refresh_token(
    session: Session, *, refresh_token: object, platform_id: str, now: datetime
) -> TokenGrant | None:
    """Uses up the platform's refresh token and returns what it grants, or None if it is unknown,
    another platform's, expired or revoked.

    Each refresh token works once (one atomic UPDATE: of two concurrent uses, one wins). A used one
    presented again is a stolen copy or a replay (RFC 9700 section 4.14.2): the whole family, every
    access and refresh token from the same sign-in, is revoked, and the call commits.
    """
    if not isinstance(refresh_token, str) or not refresh_token:
        return None
    row = session.get(OidcRefreshToken, _hash(refresh_token))
    if row is None or row.platform_id != platform_id or row.revoked_at is not None or row.expires_at <= now:
        return None
    grant = TokenGrant(row.code_hash, row.platform_id, row.credential_id, row.scope, row.expires_at)
    won = session.execute(
        update(OidcRefreshToken)
        .where(
            OidcRefreshToken.token_hash == row.token_hash,
            OidcRefreshToken.used_at.is_(None),
            OidcRefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        revoked = _revoke_family(session, grant.code_hash, now=now)
        _log.warning("oidc.refresh_token_reused platform_id=%s tokens_revoked=%d", platform_id, revoked)
        return None
    session.commit()
    return grant


def find_refresh_token(session: Session, *, refresh_token: object) -> AccessTokenInfo | None:
    """Returns the refresh token ``refresh_token`` (for revocation and introspection), or None."""
    return _find_token(session, OidcRefreshToken, refresh_token)


def find_access_token(session: Session, *, access_token: object) -> AccessTokenInfo | None:
    """Returns the access token ``access_token`` (expired or revoked ones too), or None if unknown."""
    return _find_token(session, OidcToken, access_token)


def _find_token(
    session: Session, table: type[OidcToken] | type[OidcRefreshToken], token: object
) -> AccessTokenInfo | None:
    if not isinstance(token, str) or not token:
        return None
    row = (
        session.get(OidcToken, _hash(token))
        if table is OidcToken
        else session.get(OidcRefreshToken, _hash(token))
    )
    credential = None if row is None else session.get(Credential, row.credential_id)
    if row is None or credential is None:
        return None
    is_refresh = isinstance(row, OidcRefreshToken)
    return AccessTokenInfo(
        platform_id=row.platform_id,
        credential_id=row.credential_id,
        pseudonym=credential.pseudonym,
        scope=row.scope,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        # A used refresh token is spent: introspection says inactive, revocation finds nothing live.
        is_revoked=row.revoked_at is not None
        or (isinstance(row, OidcRefreshToken) and row.used_at is not None),
        token_type="refresh_token" if is_refresh else "access_token",
    )


def revoke_token(session: Session, *, token: str, platform_id: str, now: datetime) -> None:
    """Revokes the platform's access token, or its refresh token with the whole family (RFC 7009
    section 2.1: "SHOULD also invalidate all access tokens based on the same authorization grant"),
    and commits; an unknown, another platform's or an already revoked token changes nothing."""
    session.execute(
        update(OidcToken)
        .where(
            OidcToken.token_hash == _hash(token),
            OidcToken.platform_id == platform_id,
            OidcToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    refresh = session.get(OidcRefreshToken, _hash(token))
    if refresh is not None and refresh.platform_id == platform_id:
        _revoke_family(session, refresh.code_hash, now=now)
    session.commit()
    _log.info("oidc.token_revoked platform_id=%s", platform_id)


def registered_origins(session: Session) -> frozenset[str]:
    """Returns the web origins (RFC 6454: scheme://host[:port]) of every platform's redirect URIs:
    the origins whose browser code may call the token and userinfo endpoints (CORS, issue 19)."""
    origins = set()
    for uris in session.scalars(select(Platform.redirect_uris)):
        for uri in json.loads(uris):
            parts = urllib.parse.urlsplit(uri)
            host = parts.netloc.rpartition("@")[2].lower()  # an origin has no userinfo
            if parts.scheme in ("http", "https") and host:
                origins.add(f"{parts.scheme}://{host}")
    return frozenset(origins)


# --- ID tokens -----------------------------------------------------------------------------------


def id_token_claims(grant: CodeGrant) -> dict[str, Any]:
    """Returns what an ID token says about the person: the pseudonym, the assurance (acr, as a URI),
    the envelope digest, and that they are a verified unique person. Nothing else (issue 7 rules)."""
    claims: dict[str, Any] = {
        "sub": grant.pseudonym,
        "acr": ACR_URIS[grant.acr],
        ENVELOPE_DIGEST_CLAIM: grant.envelope_digest,
        VERIFIED_UNIQUE_CLAIM: True,
    }
    if grant.sid is not None:  # Back-Channel Logout 1.0 section 2.1 (issue 19): this platform's sid
        claims["sid"] = grant.sid
    return claims


def rs256_private_pem(keyring: Keyring) -> bytes:
    """Returns the RS256 ID-token key (PEM under keys/, mode 0600), creating it on first use.

    Raises InvalidStateError without a keys directory, KeyFileError if the file is unsafe.
    """
    if keyring.keys_dir is None:
        raise InvalidStateError("the keyring has no keys directory for the RS256 key")
    ensure_keys_dir(keyring.keys_dir)
    path = keyring.keys_dir / RS256_KEY_NAME
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
            write_secret_file(path, generate_rsa_private_pem())
    return read_secret_file(path)


def oidc_public_jwks(keyring: Keyring) -> list[dict[str, str]]:
    """Returns the public JWKs of the ID-token keys that are not credential keys: the RS256 key once
    it exists (made when the first platform is registered for RS256), else none."""
    if keyring.keys_dir is None or not (keyring.keys_dir / RS256_KEY_NAME).exists():
        return []
    return [rsa_public_jwk(rs256_private_pem(keyring))]


def sign_id_token(
    session: Session,
    *,
    keyring: Keyring,
    alg: str,
    claims: dict[str, Any],
    now: datetime,
    typ: str = TYP_ID_TOKEN,
) -> str:
    """Returns the ID token (or, with ``typ`` logout+jwt, a logout token): EdDSA (or the same named
    Ed25519) with the active credential signing key, or RS256. Commits (the Ed25519 key's
    publication is extended past the token's expiry).

    Raises ValidationError for another algorithm.
    """
    if alg == ALG_RS256:
        return sign_rs256(rs256_private_pem(keyring), claims, typ=typ)
    if alg not in (ALG_EDDSA, ALG_ED25519):
        raise ValidationError("unsupported ID token algorithm")
    key = active_signing_key(session, keyring, now=now)
    token = sign_token(key.seed, claims, typ=typ, alg=alg)  # never TYP_CREDENTIAL (RFC 8725 3.11)
    extend_publication(session, key.kid, datetime.fromtimestamp(int(claims["exp"]), now.tzinfo))
    session.commit()
    return token
