"""Withdrawing a request (escrow.services.disclosure.withdrawal), one rule a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.disclosure import ROLE_WITHDRAW
from escrow.errors import InvalidStateError, PermissionDeniedError
from escrow.models import DisclosureDecision, LogEntry
from escrow.services import disclosure
from escrow.services.disclosure import RequestState
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def test_submitter_withdraws_a_draft(desk: Desk) -> None:
    view = desk.withdraw(desk.draft(), "alice")

    assert view.status is RequestState.WITHDRAWN
    assert view.withdrawn_by == "alice"


def test_cosigner_withdraws_and_the_log_says_by_whom_and_from_which_state(desk: Desk) -> None:
    desk.withdraw(desk.cosigned(), "bob")

    entry = desk.session.scalars(select(LogEntry).where(LogEntry.kind == "disclosure.withdrawn")).one()
    data = json.loads(entry.body)["data"]
    assert (data["was"], data["by"], data["organisation"]) == ("cosigned", "co-signer", "Escrow Counsel")


def test_withdrawal_deletes_the_stored_partial_decryptions(desk: Desk) -> None:
    view = desk.decide(desk.cosigned(), 0, "approve")

    desk.withdraw(view, "alice")

    assert desk.session.scalars(select(DisclosureDecision.partials)).all() == [None]


def test_withdrawal_refuses_an_officer_who_is_not_of_the_request(desk: Desk) -> None:
    with pytest.raises(PermissionDeniedError, match="may withdraw it"):
        desk.withdraw(desk.cosigned(), "dave")


def test_withdrawal_refuses_a_disclosed_request(desk: Desk) -> None:
    view = desk.cosigned()
    for holder in range(3):
        view = desk.decide(view, holder, "approve")

    with pytest.raises(InvalidStateError, match="only a request not yet disclosed or closed"):
        desk.withdraw(view, "alice")


def test_withdrawal_refuses_a_second_withdrawal(desk: Desk) -> None:
    view = desk.withdraw(desk.draft())

    with pytest.raises(InvalidStateError, match="withdrawn"):
        desk.withdraw(view)


def test_withdrawal_refuses_a_signature_over_another_reason(desk: Desk) -> None:
    view = desk.draft()

    with pytest.raises(PermissionDeniedError, match="not this officer's over this withdrawal"):
        disclosure.withdraw_request(
            desk.session,
            request_id=view.id,
            username="alice",
            reason="another reason",
            signature_b64=desk.signature("alice", ROLE_WITHDRAW, view.digest_b64),
            log=LOG,
            now=desk.now,
        )
