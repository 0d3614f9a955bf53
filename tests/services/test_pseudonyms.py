"""The re-derivation query that finds a person's rows by pseudonym (escrow.services.pseudonyms)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.pseudonym import PseudonymSecret
from escrow.errors import PermissionDeniedError
from escrow.models import Credential
from escrow.services.pseudonyms import person_pseudonyms_filter
from tests.services.disclosure_desk import build_desk


def _owned(session: Session, person_id: int, secret: PseudonymSecret) -> list[str]:
    clause = person_pseudonyms_filter(
        session,
        person_id=person_id,
        secret=secret,
        platform=Credential.platform_id,
        pseudonym=Credential.pseudonym,
    )
    return list(session.scalars(select(Credential.jti).where(clause)))


def test_filter_finds_the_persons_credentials_by_re_derivation(db_session: Session, tmp_path: Path) -> None:
    desk = build_desk(db_session, tmp_path)

    assert _owned(db_session, desk.person_id, desk.person_secret) == [desk.credential.credential_id]
    # Another secret (another person's, or a guess) finds none of them, even with this person's id.
    assert _owned(db_session, desk.person_id, PseudonymSecret(b"z" * 32)) == []


def test_filter_refuses_an_unknown_person(db_session: Session) -> None:
    with pytest.raises(PermissionDeniedError, match="log in first"):
        person_pseudonyms_filter(
            db_session,
            person_id=1,
            secret=PseudonymSecret(b"z" * 32),
            platform=Credential.platform_id,
            pseudonym=Credential.pseudonym,
        )
