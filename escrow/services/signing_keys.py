"""Credential signing keys: the active Ed25519 key, rotation, and the published JWKS.

A retired key stays published until the last credential it signed has expired (``publish_until``),
so platforms never meet a valid credential whose key they cannot fetch.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from escrow.crypto.tokens import key_id as thumbprint
from escrow.crypto.tokens import public_jwk, public_key_of
from escrow.errors import ConflictError, InvalidStateError
from escrow.keystore import SIGNING_SEED_BYTES, Keyring, write_signing_seed
from escrow.models import SigningKey
from escrow.protocol.credentials import DEFAULT_LEEWAY
from escrow.services.read_cache import KEYS, ReadCache, bump_generation
from escrow.services.transparency import LogSigner, append_event

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
class ActiveSigningKey:
    kid: str
    seed: bytes

    def __repr__(self) -> str:
        return f"ActiveSigningKey(kid={self.kid!r})"


def active_signing_key(
    session: Session, keyring: Keyring, *, now: datetime, cache: ReadCache | None = None
) -> ActiveSigningKey:
    """Returns the active signing key, creating the first one (file + row, committed) if none exists.

    With ``cache``, the key is read from the database and its file once per rotation (issue 17).
    Raises KeyFileError if the key file is missing or unsafe.
    """
    if cache is not None:
        return cache.get(session, KEYS, "active", lambda: active_signing_key(session, keyring, now=now))
    row = _active_row(session)
    if row is None:
        # End the read transaction first (SQLite: see services/credentials.py). Two first issuances
        # racing here each create a key; both are valid and published, the newer one is used after.
        session.commit()
        row = _create(session, keyring, now=now)
        session.commit()
    kid = row.kid
    return ActiveSigningKey(kid=kid, seed=keyring.signing_seed(kid))


def rotate_signing_key(session: Session, keyring: Keyring, *, log: LogSigner, now: datetime) -> str:
    """Retires the active key (kept published until its last credential expires), adds a new one,
    commits, and returns the new kid."""
    old = _active_row(session)
    if old is not None:
        old_kid = old.kid
        # End the read transaction, then retire with one conditional UPDATE (issue 17): of two
        # concurrent rotations exactly one retires the key and logs; the other is a ConflictError.
        session.commit()
        result = session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid, SigningKey.retired_at.is_(None))
            .values(retired_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise ConflictError("the signing key was rotated by another request at the same time")
    row = _create(session, keyring, now=now)
    append_event(
        session,
        log,
        kind="signing_key.rotated",
        data={"kid": row.kid, "previous": old.kid if old else None},
        now=now,
    )
    session.commit()
    _log.info("signing_key.rotated kid=%s previous=%s", row.kid, old.kid if old else None)
    return row.kid


def published_jwks(session: Session, *, now: datetime, cache: ReadCache | None = None) -> dict[str, Any]:
    """Returns the JWKS: the active key and every retired key some unexpired credential still needs.

    With ``cache``, the keys are read once per rotation (issue 17), and again when the first retired
    key's publication ends. Returns a new dict each time: the caller may add to it.
    """
    if cache is None:
        return {"keys": [jwk for jwk, _until in _published_keys(session, now=now)]}
    keys = cache.get(
        session,
        KEYS,
        "jwks",
        lambda: _published_keys(session, now=now),
        now=now,
        valid_until=lambda published: min((u for _jwk, u in published if u is not None), default=None),
    )
    return {"keys": [dict(jwk) for jwk, _until in keys]}


def _published_keys(session: Session, *, now: datetime) -> tuple[tuple[dict[str, Any], datetime | None], ...]:
    """(JWK, end of publication) of each published key; the active key's publication has no end."""
    rows = session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > now))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
    )
    return tuple((public_jwk(r.public_key), None if r.retired_at is None else r.publish_until) for r in rows)


# A key's publication is extended a whole hour at a time: issuances within that hour find it long
# enough already, so the signing_keys row is written once an hour, not once per credential (a row
# every issuing worker would otherwise queue for until the writer commits: issue 15).
PUBLICATION_STEP_S: Final = 3600
# kid -> a publication end this process saw committed. publish_until only grows, so a value seen
# stays a lower bound; issuances up to it need no statement at all.
_published_through: dict[str, datetime] = {}
_published_lock = threading.Lock()


def extend_publication(session: Session, kid: str, expires_at: datetime) -> None:
    """Records that a credential signed by ``kid`` is valid until ``expires_at`` (does not commit).

    Publishes up to the next whole hour after ``expires_at`` plus the verifiers' leeway (a credential
    is accepted until then: one expiring on the hour left its key unpublished for DEFAULT_LEEWAY while
    it still verified), with one conditional UPDATE (no row load)
    that writes only when that is later than what is recorded; none when this process has already
    seen a committed publication that long (issuance is a hot path: docs/benchmarks.md#credentials).
    """
    step = PUBLICATION_STEP_S
    accepted_until = int((expires_at + DEFAULT_LEEWAY).timestamp())
    until = datetime.fromtimestamp(-(-accepted_until // step) * step, expires_at.tzinfo)
    with _published_lock:
        seen = _published_through.get(kid)
    if seen is not None and seen >= until:
        return
    result = session.execute(
        update(SigningKey)
        .where(
            SigningKey.kid == kid,
            or_(SigningKey.publish_until.is_(None), SigningKey.publish_until < until),
        )
        .values(publish_until=until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        # Nothing to write: a committed publication (or the key is gone) already reaches ``until``.
        # An UPDATE that wrote is not remembered: its transaction may yet roll back.
        with _published_lock:
            if _published_through.get(kid, until) <= until:
                _published_through[kid] = until


def _active_row(session: Session) -> SigningKey | None:
    return session.scalars(
        select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
    ).first()


def _create(session: Session, keyring: Keyring, *, now: datetime) -> SigningKey:
    if keyring.keys_dir is None:
        raise InvalidStateError("the keyring has no keys directory for signing keys")
    seed = os.urandom(SIGNING_SEED_BYTES)
    public = public_key_of(seed)
    kid = thumbprint(public)
    write_signing_seed(keyring.keys_dir, kid, seed)
    row = SigningKey(kid=kid, public_key=public, created_at=now)
    session.add(row)
    session.flush()
    # A new active key (and, in rotate_signing_key, the old one retired in this transaction).
    bump_generation(session, KEYS)
    return row
