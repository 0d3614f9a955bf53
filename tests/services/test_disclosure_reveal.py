"""Revealing and telling the person (escrow.services.disclosure.reveal and .expiry): the blinded
reveal opens only with the submitting officer's key (issue 14)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.crypto.errors import InvalidProofError, OpenFailedError
from escrow.crypto.seal import (
    Envelope,
    PartialDecryption,
    combine_and_open,
    combine_partials,
    open_with_secret_point,
)
from escrow.crypto.transcript import b64u_decode
from escrow.errors import InvalidStateError, NotFoundError, PermissionDeniedError
from escrow.models import DisclosureDecision, DisclosureScope, LogEntry
from escrow.protocol.disclosure import DisclosureBody
from escrow.services import disclosure
from escrow.services.disclosure import RequestState
from escrow.services.escrow_keys import escrow_key
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


def test_the_submitting_officer_opens_the_identity_and_each_fetch_is_logged(desk: Desk) -> None:
    view = _disclosed(desk)

    (identity,) = desk.open(view, "alice")
    assert json.loads(identity)["name"] == "Jane Q. Example"
    desk.open(view, "alice")
    fetched = desk.session.scalars(
        select(LogEntry.kind).where(LogEntry.kind == "disclosure.partials_fetched")
    ).all()
    assert len(fetched) == 2


@pytest.mark.parametrize("officer", ["bob", "dave"])
def test_the_reveal_package_is_refused_to_the_co_signer_and_any_other_officer(
    desk: Desk, officer: str
) -> None:
    # A co-signer attests the request but never sees the identity: the blinding is the submitter's.
    view = _disclosed(desk)

    with pytest.raises(NotFoundError, match="no such disclosure request"):
        desk.reveal_package(view, officer)


def test_the_reveal_package_is_refused_before_disclosure(desk: Desk) -> None:
    with pytest.raises(InvalidStateError, match="nothing to reveal"):
        desk.reveal_package(desk.cosigned(), "alice")


def test_reading_stored_partials_opens_nothing(desk: Desk) -> None:
    # The issue-14 attack: the server (or a backup of its database) combines the stored partials.
    view = _disclosed(desk)
    key = escrow_key(desk.session, desk.key.key_id)
    (scope,) = desk.session.scalars(select(DisclosureScope)).all()
    envelope = Envelope.from_bytes(scope.envelope)
    stored = [
        PartialDecryption.from_dict(json.loads(p)[0])
        for p in desk.session.scalars(select(DisclosureDecision.partials)).all()
        if p is not None
    ]
    assert len(stored) == 3
    body = DisclosureBody.from_dict(view.body)
    combined = combine_partials(key, envelope, b64u_decode(view.digest_b64), stored, blind=body.blinding[0])
    with pytest.raises(OpenFailedError):
        open_with_secret_point(key, envelope, combined)
    # without the blinding point the holders' proofs do not even verify: they are of R + B
    with pytest.raises(InvalidProofError):
        combine_and_open(key, envelope, b64u_decode(view.digest_b64), stored)
    # and the submitting officer's key does open them
    assert json.loads(desk.open(view)[0])["name"] == "Jane Q. Example"


def test_viewing_window_end_deletes_the_partials_and_refuses_the_reveal(desk: Desk) -> None:
    view = _disclosed(desk)
    desk.now += desk.policy.view_window

    with pytest.raises(InvalidStateError, match="viewing window is over"):
        desk.reveal_package(view, "alice")
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
