"""Key-holder decisions and the quorum (escrow.services.disclosure.decisions), one rule a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from escrow.models import DisclosureDecision, LogEntry
from escrow.services import disclosure
from escrow.services.disclosure import RequestState
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def test_holder_sees_a_cosigned_request_until_they_decide(desk: Desk) -> None:
    view = desk.cosigned()
    holder_id = desk.holders[0][0]

    assert [
        v.id for v in disclosure.holder_requests(desk.session, holder_id=holder_id, log=LOG, now=desk.now)
    ] == [view.id]
    desk.decide(view, 0, "approve")
    assert disclosure.holder_requests(desk.session, holder_id=holder_id, log=LOG, now=desk.now) == []


def test_holder_package_carries_the_signatures_envelopes_and_share_index(desk: Desk) -> None:
    view = desk.cosigned()
    holder_id = desk.holders[1][0]

    package = disclosure.holder_package(
        desk.session, request_id=view.id, holder_id=holder_id, policy=desk.policy
    )

    assert package.holder_index == desk.holders[1][1].shares[0].share.index
    assert [o["role"] for o in package.officers] == ["submit", "cosign"]
    assert [o["username"] for o in package.officers] == ["alice", "bob"]
    assert all(o["signature"] and o["key_log_index"] is not None for o in package.officers)
    assert [e["envelope_digest"] for e in package.envelopes] == [desk.credential.envelope_digest]
    assert package.decided is False


def test_holder_package_hides_a_draft(desk: Desk) -> None:
    with pytest.raises(NotFoundError, match="no such disclosure request"):
        disclosure.holder_package(
            desk.session, request_id=desk.draft().id, holder_id=desk.holders[0][0], policy=desk.policy
        )


def test_decision_refuses_a_request_not_yet_cosigned(desk: Desk) -> None:
    with pytest.raises(InvalidStateError, match="not co-signed yet"):
        desk.decide(desk.submitted(), 0, "reject", reason="no")


def test_decision_refuses_a_second_decision_of_one_holder(desk: Desk) -> None:
    view = desk.cosigned()
    desk.decide(view, 0, "approve")

    with pytest.raises(ConflictError, match="already decided"):
        desk.decide(view, 0, "reject", reason="changed my mind")


def test_decision_refuses_anything_but_approve_or_reject(desk: Desk) -> None:
    view = desk.cosigned()

    with pytest.raises(ValidationError, match="approve or reject"):
        desk.send_decision(view, desk.holders[0][0], "abstain", [])


def test_decision_refuses_a_holder_without_a_share_of_the_key(desk: Desk) -> None:
    view = desk.cosigned()

    with pytest.raises(PermissionDeniedError, match="no share"):
        desk.send_decision(view, 999, "reject", [], "not mine")


def test_approval_refuses_a_partial_decryption_for_another_share_index(desk: Desk) -> None:
    # Given holder 1 sending holder 0's (valid) partials
    view = desk.cosigned()
    desk.decide(view, 0, "approve")
    stored = desk.session.scalars(select(DisclosureDecision.partials)).one()
    assert stored is not None
    # Then they are refused, naming holder 1
    with pytest.raises(ValidationError, match="Holder 2 sent a partial for another share index"):
        desk.send_decision(view, desk.holders[1][0], "approve", json.loads(stored))


def test_approval_refuses_the_wrong_number_of_partials(desk: Desk) -> None:
    view = desk.cosigned()

    with pytest.raises(ValidationError, match="one partial decryption for each of the 1 envelopes"):
        desk.send_decision(view, desk.holders[0][0], "approve", [])


def test_threshold_approvals_from_two_organisations_disclose(desk: Desk) -> None:
    view = desk.cosigned()
    for holder in range(2):
        assert desk.decide(view, holder, "approve").status is RequestState.COSIGNED

    disclosed = desk.decide(view, 2, "approve")

    assert disclosed.status is RequestState.DISCLOSED
    assert disclosed.approvals == 3
    assert disclosed.view_until == desk.now + desk.policy.view_window
    kinds = list(desk.session.scalars(select(LogEntry.kind).order_by(LogEntry.idx)))
    assert kinds[-2:] == ["disclosure.approved", "disclosure.disclosed"]


def test_threshold_approvals_from_one_organisation_do_not_disclose(desk: Desk) -> None:
    # Given holders 1 to 3 of one organisation (the policy asks for two)
    desk.set_holder_organisations("Trustee A", "Trustee A", "Trustee A", "Trustee B", "Trustee B")
    view = desk.cosigned()
    for holder in range(3):
        view = desk.decide(view, holder, "approve")
    # Then three approvals are not enough; a fourth from another organisation is
    assert view.status is RequestState.COSIGNED
    assert desk.decide(view, 3, "approve").status is RequestState.DISCLOSED


def test_rejections_that_leave_too_few_holders_reject_the_request(desk: Desk) -> None:
    view = desk.cosigned()
    for holder in range(2):
        view = desk.decide(view, holder, "reject", reason="the order is not specific enough")
        assert view.status is RequestState.COSIGNED

    rejected = desk.decide(view, 2, "reject", reason="the order is not specific enough")

    assert rejected.status is RequestState.REJECTED
    assert rejected.rejections == 3


def test_final_rejection_deletes_the_stored_partial_decryptions(desk: Desk) -> None:
    view = desk.cosigned()
    view = desk.decide(view, 0, "approve")
    for holder in (1, 2, 3):
        view = desk.decide(view, holder, "reject", reason="no")

    assert view.status is RequestState.REJECTED
    assert (
        desk.session.scalars(
            select(DisclosureDecision.partials).where(DisclosureDecision.partials.is_not(None))
        ).all()
        == []
    )
