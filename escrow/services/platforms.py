"""Platforms and their API keys: registered by an admin; keys shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from escrow.crypto.pseudonym import MAX_SLOTS
from escrow.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from escrow.models import Platform, PlatformApiKey, StaffAccount
from escrow.services.pagination import Page, fetch_page
from escrow.services.read_cache import PLATFORMS, ReadCache, bump_generation
from escrow.services.transparency import LogSigner, append_event

DEFAULT_CREDENTIAL_LIFETIME_S = 30 * 24 * 3600  # 30 days; platforms choose their own (issue 3)
MAX_CREDENTIAL_LIFETIME_S = 366 * 24 * 3600
MAX_PSEUDONYMS_PER_PERSON = MAX_SLOTS
API_KEY_PREFIX = "esk_"
_PREFIX_RANDOM_CHARS = 10
_SECRET_BYTES = 32
_PLATFORM_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_API_KEY = re.compile(r"^(esk_[A-Za-z0-9]{10})_([A-Za-z0-9_-]{43})$")
_ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    id: str
    name: str
    contact: str
    redirect_uris: tuple[str, ...]
    credential_lifetime_s: int
    pseudonyms_per_person: int
    # As an OpenID Connect client (issue 7): confidential once it has a client secret, else public.
    id_token_alg: str = "EdDSA"  # noqa: S105 - an algorithm name
    has_client_secret: bool = False


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    id: int
    platform_id: str
    prefix: str
    created_at: datetime
    is_revoked: bool


@dataclass(frozen=True, slots=True, repr=False)
class NewApiKey:
    """A freshly created API key: ``api_key`` is shown to the admin once and never stored."""

    info: ApiKeyInfo
    api_key: str

    def __repr__(self) -> str:
        return f"NewApiKey(prefix={self.info.prefix!r})"


def register_platform(
    session: Session,
    *,
    platform_id: str,
    name: str,
    contact: str,
    redirect_uris: Sequence[str],
    log: LogSigner,
    now: datetime,
    credential_lifetime_s: int = DEFAULT_CREDENTIAL_LIFETIME_S,
    pseudonyms_per_person: int = 1,
) -> PlatformInfo:
    """Registers a platform and commits. Returns it.

    Raises ValidationError for a malformed id, name, contact, redirect URI or policy, and
    ConflictError if the id is taken.
    """
    if not isinstance(platform_id, str) or not _PLATFORM_ID.match(platform_id):
        raise ValidationError("platform id must be 1-64 lower-case letters, digits or inner dashes")
    name = _text(name, "name", 200)
    contact = _text(contact, "contact", 320)
    uris = tuple(_redirect_uri(u) for u in redirect_uris)
    if type(credential_lifetime_s) is not int or not 60 <= credential_lifetime_s <= MAX_CREDENTIAL_LIFETIME_S:
        raise ValidationError(f"credential lifetime must be 60 to {MAX_CREDENTIAL_LIFETIME_S} seconds")
    if type(pseudonyms_per_person) is not int or not 1 <= pseudonyms_per_person <= MAX_PSEUDONYMS_PER_PERSON:
        raise ValidationError(f"pseudonyms per person must be 1 to {MAX_PSEUDONYMS_PER_PERSON}")
    if session.get(Platform, platform_id) is not None:
        raise ConflictError("a platform with this id already exists")
    platform = Platform(
        id=platform_id,
        name=name,
        contact=contact,
        redirect_uris=json.dumps(list(uris)),
        credential_lifetime_s=credential_lifetime_s,
        pseudonyms_per_person=pseudonyms_per_person,
        created_at=now,
    )
    session.add(platform)
    session.flush()
    append_event(
        session, log, kind="platform.registered", data={"platform": platform_id, "name": name}, now=now
    )
    session.commit()
    _log.info("platform.registered platform_id=%s", platform_id)
    return platform_info(platform)


def list_platforms(session: Session) -> list[PlatformInfo]:
    """Returns every platform, by id."""
    return [platform_info(p) for p in session.scalars(select(Platform).order_by(Platform.id))]


def page_platforms(session: Session, *, page: int) -> Page[PlatformInfo]:
    """Returns one page of the platforms, by id. Raises InvalidPageError, PageNotFoundError."""
    return fetch_page(session, select(Platform).order_by(Platform.id), number=page).map(platform_info)


def update_platform(
    session: Session,
    *,
    platform_id: str,
    name: str,
    contact: str,
    redirect_uris: Sequence[str],
    log: LogSigner,
    now: datetime,
) -> PlatformInfo:
    """Changes the platform's name, abuse contact and OIDC redirect URIs, logs `platform.updated` and
    commits. Returns it. Policy (credential lifetime, pseudonyms per person) stays the admin's.

    Raises NotFoundError, ValidationError as register_platform.
    """
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    platform.name = _text(name, "name", 200)
    platform.contact = _text(contact, "contact", 320)
    platform.redirect_uris = json.dumps([_redirect_uri(u) for u in redirect_uris])
    bump_generation(session, PLATFORMS)  # API-key lookups carry the platform (issue 17)
    append_event(
        session, log, kind="platform.updated", data={"platform": platform_id, "name": platform.name}, now=now
    )
    session.commit()
    _log.info("platform.updated platform_id=%s", platform_id)
    return platform_info(platform)


def list_platform_logins(session: Session, platform_id: str) -> list[str]:
    """Returns the usernames of the active staff logins bound to the platform (issue 8), sorted."""
    return list(
        session.scalars(
            select(StaffAccount.username)
            .where(StaffAccount.platform_id == platform_id, StaffAccount.is_active)
            .order_by(StaffAccount.username)
        )
    )


def get_platform(session: Session, platform_id: str) -> PlatformInfo:
    """Returns the platform. Raises NotFoundError if there is none with this id."""
    platform = session.get(Platform, platform_id) if isinstance(platform_id, str) else None
    if platform is None:
        raise NotFoundError("no platform with this id")
    return platform_info(platform)


def find_platform(session: Session, platform_id: object, cache: ReadCache | None = None) -> PlatformInfo:
    """Returns the platform, with ``cache`` read once until a platform changes (issuance is a hot
    path: issue 15). Raises NotFoundError (never cached: a platform added later is found at once)."""
    if not isinstance(platform_id, str):
        raise NotFoundError("no platform with this id")
    if cache is None:
        return get_platform(session, platform_id)
    return cache.get(
        session, PLATFORMS, ("platform", platform_id), lambda: get_platform(session, platform_id)
    )


def create_api_key(session: Session, *, platform_id: str, log: LogSigner, now: datetime) -> NewApiKey:
    """Creates an API key for the platform and commits; the returned key text is never stored.

    Raises NotFoundError if the platform does not exist.
    """
    get_platform(session, platform_id)
    prefix = API_KEY_PREFIX + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(_PREFIX_RANDOM_CHARS))
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    api_key = f"{prefix}_{secret}"
    row = PlatformApiKey(platform_id=platform_id, prefix=prefix, key_hash=_hash(api_key), created_at=now)
    session.add(row)
    bump_generation(session, PLATFORMS)  # a process may have cached this prefix as unknown
    append_event(
        session,
        log,
        kind="platform.api_key_created",
        data={"platform": platform_id, "prefix": prefix},
        now=now,
    )
    session.commit()
    _log.info("platform.api_key_created platform_id=%s prefix=%s", platform_id, prefix)
    return NewApiKey(info=_key_info(row), api_key=api_key)


def list_api_keys(session: Session, platform_id: str) -> list[ApiKeyInfo]:
    """Returns the platform's API keys (prefixes only), newest first."""
    return [_key_info(r) for r in session.scalars(_api_keys(platform_id))]


def page_api_keys(session: Session, platform_id: str, *, page: int) -> Page[ApiKeyInfo]:
    """Returns one page of the platform's API keys, newest first. Raises InvalidPageError,
    PageNotFoundError."""
    return fetch_page(session, _api_keys(platform_id), number=page).map(_key_info)


def _api_keys(platform_id: str) -> Select[PlatformApiKey]:
    return (
        select(PlatformApiKey)
        .where(PlatformApiKey.platform_id == platform_id)
        .order_by(PlatformApiKey.id.desc())
    )


def revoke_api_key(
    session: Session, *, platform_id: str, prefix: str, log: LogSigner, now: datetime
) -> ApiKeyInfo:
    """Revokes the platform's key with ``prefix`` and commits (idempotent). Raises NotFoundError."""
    row = session.scalars(
        select(PlatformApiKey).where(
            PlatformApiKey.platform_id == platform_id, PlatformApiKey.prefix == prefix
        )
    ).first()
    if row is None:
        raise NotFoundError("no API key with this prefix for this platform")
    key_id = row.id
    # One conditional UPDATE after the read transaction ends (issue 17): of concurrent revocations
    # exactly one changes the row and writes the log entry; the others are a no-op.
    session.commit()
    result = session.execute(
        update(PlatformApiKey)
        .where(PlatformApiKey.id == key_id, PlatformApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        # Committed with the revocation: no process accepts the key once this commits (issue 17).
        bump_generation(session, PLATFORMS)
        append_event(
            session,
            log,
            kind="platform.api_key_revoked",
            data={"platform": platform_id, "prefix": prefix},
            now=now,
        )
        session.commit()
        _log.info("platform.api_key_revoked platform_id=%s prefix=%s", platform_id, prefix)
    else:
        session.rollback()
    session.refresh(row)
    return _key_info(row)


def authenticate_platform(
    session: Session, api_key: str | None, *, cache: ReadCache | None = None
) -> PlatformInfo:
    """Returns the platform whose live API key is ``api_key``.

    With ``cache``, a key's record is read once until a platform or an API key changes (issue 17
    finding 10); the presented key is compared with it on every call. Raises AuthenticationError for
    a missing, malformed, unknown or revoked key (one message).
    """
    failure = AuthenticationError("a valid platform API key is required")
    match = _API_KEY.match(api_key) if isinstance(api_key, str) else None
    if match is None:
        raise failure
    prefix = match.group(1)
    if cache is None:
        record = _key_record(session, prefix)
    else:
        record = cache.get(session, PLATFORMS, prefix, lambda: _key_record(session, prefix))
    presented = _hash(api_key)  # type: ignore[arg-type]
    if record is None or not hmac.compare_digest(record.key_hash, presented) or record.platform is None:
        raise failure
    return record.platform


@dataclass(frozen=True, slots=True, repr=False)
class _KeyRecord:
    key_hash: bytes
    platform: PlatformInfo | None  # None: the key is revoked


def _key_record(session: Session, prefix: str) -> _KeyRecord | None:
    row = session.scalars(select(PlatformApiKey).where(PlatformApiKey.prefix == prefix)).first()
    if row is None:
        return None
    live = row.revoked_at is None
    return _KeyRecord(row.key_hash, get_platform(session, row.platform_id) if live else None)


def platform_info(platform: Platform) -> PlatformInfo:
    return PlatformInfo(
        id=platform.id,
        name=platform.name,
        contact=platform.contact,
        redirect_uris=tuple(json.loads(platform.redirect_uris)),
        credential_lifetime_s=platform.credential_lifetime_s,
        pseudonyms_per_person=platform.pseudonyms_per_person,
        id_token_alg=platform.id_token_alg or "EdDSA",
        has_client_secret=platform.client_secret_hash is not None,
    )


def _hash(api_key: str) -> bytes:
    # API keys carry 256 random bits: a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(api_key.encode()).digest()


def _key_info(row: PlatformApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        platform_id=row.platform_id,
        prefix=row.prefix,
        created_at=row.created_at,
        is_revoked=row.revoked_at is not None,
    )


def _text(value: object, field: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ValidationError(f"{field} must be 1 to {max_length} characters")
    return value.strip()


def check_redirect_uri(value: object) -> str:
    """Returns ``value`` if it is a redirect URI a platform may register (https, or http on
    loopback; no fragment). Raises ValidationError."""
    return _redirect_uri(value)


def _redirect_uri(value: object) -> str:
    if not isinstance(value, str) or len(value) > 2000:
        raise ValidationError("redirect URIs must be absolute https URLs")
    parts = urllib.parse.urlsplit(value)
    is_loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parts.scheme == "https" or is_loopback) or not parts.netloc or parts.fragment:
        raise ValidationError("redirect URIs must be absolute https URLs (http only for loopback)")
    return value
