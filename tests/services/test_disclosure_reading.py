"""A request's page for one member of staff (escrow.services.disclosure.reading.request_page): the
actions it offers are the policy's, on the stored request."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from escrow.services import disclosure
from escrow.services.disclosure import SigningPrompt, SigningRole
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def _page(desk: Desk, view: disclosure.DisclosureView, username: str) -> disclosure.RequestPage:
    return disclosure.request_page(
        desk.session,
        request_id=view.id,
        staff=desk.staff[username],
        policy=desk.policy,
        log=LOG,
        now=desk.now,
    )


def test_request_page_offers_cosigning_to_the_officers_the_service_accepts(desk: Desk) -> None:
    view = desk.submitted()

    assert _page(desk, view, "bob").actions.signing_role is SigningRole.COSIGN
    assert _page(desk, view, "carol").actions.prompt is SigningPrompt.REFUSED  # alice's organisation
    assert _page(desk, view, "alice").actions.prompt is SigningPrompt.SIGNED
    # and the one it offers is accepted
    assert desk.cosign(view, "bob").cosigners == ("bob",)


def test_request_page_carries_the_viewers_registered_key(desk: Desk) -> None:
    page = _page(desk, desk.draft(), "alice")

    assert page.registered_key_b64 == disclosure.registered_officer_key(desk.session, "alice")
    assert page.actions.signing_role is SigningRole.SUBMIT
    assert _page(desk, desk.draft(case_number="2"), "root").registered_key_b64 is None


def test_request_page_offers_an_extension_cosignature_to_another_organisation(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice")

    assert _page(desk, view, "dave").actions.cosignable_extensions == (1,)
    assert _page(desk, view, "carol").actions.cosignable_extensions == ()
    assert _page(desk, view, "alice").actions.cosignable_extensions == ()
    assert _page(desk, view, "alice").actions.may_withdraw
    assert not _page(desk, view, "dave").actions.may_withdraw
