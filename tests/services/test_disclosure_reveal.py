"""Revealing, viewing and telling the person (escrow.services.disclosure.reveal and .expiry)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.errors import InvalidStateError, NotFoundError, PermissionDeniedError
from escrow.models import DisclosureDecision, LogEntry
from escrow.services import disclosure
from escrow.services.disclosure import RequestState
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def _disclosed(desk: Desk, **overrides: object) -> disclosure.DisclosureView:
    view = desk.cosigned(**overrides)
    for holder in range(3):
        view = desk.decide(view, holder, "approve")
    assert view.status is RequestState.DISCLOSED
    return view


def _view(desk: Desk, view: disclosure.DisclosureView, username: str) -> list[disclosure.RevealedIdentity]:
    return disclosure.view_identities(
        desk.session, request_id=view.id, officer=desk.staff[username], log=LOG, now=desk.now
    )


def test_the_request_officers_view_the_identity_and_each_viewing_is_logged(desk: Desk) -> None:
    view = _disclosed(desk)

    for username in ("alice", "bob"):
        (revealed,) = _view(desk, view, username)
        assert revealed.identity["name"] == "Jane Q. Example"
        assert revealed.pseudonym == desk.credential.pseudonym
        assert "Jane" not in repr(revealed)
    kinds = desk.session.scalars(select(LogEntry.kind).where(LogEntry.kind == "disclosure.viewed")).all()
    assert len(kinds) == 2


def test_viewing_is_refused_to_any_other_officer(desk: Desk) -> None:
    view = _disclosed(desk)

    with pytest.raises(NotFoundError, match="no such disclosure request"):
        _view(desk, view, "dave")


def test_viewing_is_refused_before_disclosure(desk: Desk) -> None:
    with pytest.raises(InvalidStateError, match="nothing to view"):
        _view(desk, desk.cosigned(), "alice")


def test_viewing_window_end_deletes_the_partials_and_refuses_viewing(desk: Desk) -> None:
    view = _disclosed(desk)
    desk.now += desk.policy.view_window

    with pytest.raises(InvalidStateError, match="viewing window is over"):
        _view(desk, view, "alice")
    assert (
        desk.session.scalars(
            select(DisclosureDecision.partials).where(DisclosureDecision.partials.is_not(None))
        ).all()
        == []
    )


def test_sweep_expires_overdue_requests(desk: Desk) -> None:
    view = desk.submitted()
    desk.now += timedelta(days=15)

    assert disclosure.sweep_disclosures(desk.session, log=LOG, now=desk.now) == 1
    assert (
        disclosure.get_request(
            desk.session,
            request_id=view.id,
            staff=desk.staff["alice"],
            policy=desk.policy,
            log=LOG,
            now=desk.now,
        ).status
        is RequestState.EXPIRED
    )


def test_person_is_told_of_a_disclosure_only_after_the_delay(desk: Desk) -> None:
    # Given a disclosure with a 2-day notification delay
    view = _disclosed(desk, notify_delay_days=2)

    def notices() -> list[disclosure.DisclosureNotice]:
        return disclosure.person_notices(
            desk.session, person_id=desk.person_id, secret=desk.person_secret, log=LOG, now=desk.now
        )

    # Then the person sees nothing before it is over, and the notice after
    assert notices() == []
    desk.now += timedelta(days=2)
    (notice,) = notices()
    assert (notice.request_id, notice.case_number) == (view.id, "2026/CR/0042")
    # and the first showing alone is logged
    notices()
    told = desk.session.scalars(
        select(LogEntry.kind).where(LogEntry.kind == "disclosure.user_notified")
    ).all()
    assert len(told) == 1


def test_person_notices_refuse_an_unknown_person(desk: Desk) -> None:
    with pytest.raises(PermissionDeniedError):
        disclosure.person_notices(
            desk.session, person_id=999, secret=desk.person_secret, log=LOG, now=desk.now
        )
