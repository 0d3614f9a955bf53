"""Extending a request's notification delay (escrow.services.disclosure.extensions), one rule a test."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from escrow.errors import ConflictError, InvalidStateError, PermissionDeniedError, ValidationError
from escrow.services import disclosure
from escrow.services.disclosure import ExtensionState
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def test_proposed_extension_changes_nothing_until_cosigned(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice", days=30)

    assert [(e.sequence, e.status, e.proposer) for e in view.extensions] == [
        (1, ExtensionState.PROPOSED, "alice")
    ]
    assert view.notify_delay_days == 0


def test_cosigned_extension_takes_effect(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice", days=30)

    view = desk.cosign_extension(view, "dave")

    assert view.notify_delay_days == 30
    assert view.extensions[0].status is ExtensionState.EFFECTIVE
    assert view.extensions[0].cosigners == ("dave",)


def test_extension_taking_effect_supersedes_the_other_pending_ones(desk: Desk) -> None:
    # Given two proposals over the same delay
    view = desk.extend(desk.cosigned(), "alice", days=30)
    view = desk.extend(view, "bob", days=60, sequence=2)
    # When the second is co-signed
    view = desk.cosign_extension(view, "dave", sequence=2)
    # Then the first is superseded and takes no more co-signatures
    assert [e.status for e in view.extensions] == [ExtensionState.SUPERSEDED, ExtensionState.EFFECTIVE]
    with pytest.raises(InvalidStateError, match="extension 1 is superseded"):
        desk.cosign_extension(view, "dave", sequence=1)


def test_extension_proposal_refuses_an_officer_who_is_not_of_the_request(desk: Desk) -> None:
    with pytest.raises(PermissionDeniedError, match="may propose an extension"):
        desk.extend(desk.cosigned(), "dave")


def test_extension_cosign_refuses_the_proposer(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice")

    with pytest.raises(PermissionDeniedError, match="proposer cannot co-sign"):
        desk.cosign_extension(view, "alice")


def test_extension_cosign_refuses_officer_of_the_proposers_organisation(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice")

    with pytest.raises(PermissionDeniedError, match="another organisation than the proposer"):
        desk.cosign_extension(view, "carol")


def test_extension_cosign_refuses_a_second_cosignature_of_one_officer(desk: Desk) -> None:
    desk.policy = disclosure.DisclosurePolicy(cosigners=2)
    view = desk.extend(desk.cosign(desk.cosign(desk.submitted(), "bob"), "dave"), "alice")
    view = desk.cosign_extension(view, "dave")

    with pytest.raises(ConflictError, match="already co-signed this extension"):
        desk.cosign_extension(view, "dave")


def test_extension_must_lengthen_the_delay(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(notify_delay_days=10), "alice", days=11)
    desk.cosign_extension(view, "dave")

    with pytest.raises(ValidationError, match="longer than the current 11 day"):
        desk.extend(
            disclosure.get_request(
                desk.session,
                request_id=view.id,
                staff=desk.staff["alice"],
                policy=desk.policy,
                log=LOG,
                now=desk.now,
            ),
            days=11,
            sequence=2,
        )


def test_extension_from_a_stale_document_is_a_conflict(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice", days=30)

    with pytest.raises(ConflictError, match="download it again"):
        desk.extend(view, "bob", days=40, sequence=1)


def test_extension_is_refused_once_the_notification_date_passed(desk: Desk) -> None:
    # Given a disclosed request whose 1-day delay is over
    view = desk.cosigned(notify_delay_days=1)
    for holder in range(3):
        view = desk.decide(view, holder, "approve")
    desk.now += timedelta(days=2)
    # Then its delay can no longer be extended
    with pytest.raises(InvalidStateError, match="cannot be undone"):
        desk.extend(view, "alice", days=30)


def test_extension_is_refused_for_a_withdrawn_request(desk: Desk) -> None:
    view = desk.withdraw(desk.cosigned())

    with pytest.raises(InvalidStateError, match="cannot be extended"):
        desk.extend(view, "alice")
