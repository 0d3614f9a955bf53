"""DEVELOPMENT ONLY: the development identity provider's pending codes in the server's database, so
that a code one gunicorn worker issued is redeemed by whichever worker gets the callback (issue 17
finding 11: 12 of 20 sign-ins failed with two workers while the codes lived in one worker's memory)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from escrow.identity.devidp import PendingCode
from escrow.models import DevIdpCode


class DatabaseCodeStore:
    """Pending codes as rows of ``dev_idp_codes``, keyed by the code's SHA-256 (never the code)."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def put(self, code: str, pending: PendingCode) -> None:
        expires_at = datetime.fromtimestamp(pending.expires, UTC)
        with self._session_factory() as session:
            # Expired codes go when new ones come: the table holds at most a few minutes of sign-ins.
            session.execute(delete(DevIdpCode).where(DevIdpCode.expires_at < datetime.now(UTC)))
            session.add(
                DevIdpCode(
                    code_hash=_digest(code), request=json.dumps(asdict(pending)), expires_at=expires_at
                )
            )
            session.commit()

    def take(self, code: str) -> PendingCode | None:
        """Returns the code's request and deletes it in one statement: of two concurrent exchanges of
        one code, only the one whose DELETE removed the row gets it."""
        with self._session_factory() as session:
            row = session.execute(
                delete(DevIdpCode).where(DevIdpCode.code_hash == _digest(code)).returning(DevIdpCode.request)
            ).first()
            session.commit()
        return None if row is None else PendingCode(**json.loads(row[0]))


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()
