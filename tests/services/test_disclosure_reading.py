"""A request's page for one member of staff (escrow.services.disclosure.reading.request_page): the
actions it offers are the policy's, on the stored request."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from escrow.errors import NotFoundError
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
    with pytest.raises(NotFoundError):  # alice's organisation: refused as co-signer, so not a reader
        _page(desk, view, "carol")
    assert _page(desk, view, "alice").actions.prompt is SigningPrompt.SIGNED
    # and the one it offers is accepted
    assert desk.cosign(view, "bob").cosigners == ("bob",)


def test_request_page_carries_the_viewers_registered_key(desk: Desk) -> None:
    page = _page(desk, desk.draft(), "alice")

    assert page.registered_key_b64 == disclosure.registered_officer_key(desk.session, "alice")
    assert page.actions.signing_role is SigningRole.SUBMIT
    with pytest.raises(NotFoundError):  # a draft is its author's alone (issue 16)
        _page(desk, desk.draft(case_number="2"), "root")


def test_request_page_offers_an_extension_cosignature_to_another_organisation(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice")

    assert _page(desk, view, "dave").actions.cosignable_extensions == (1,)
    with pytest.raises(NotFoundError):  # refused as co-signer of the extension, named on nothing
        _page(desk, view, "carol")
    assert _page(desk, view, "alice").actions.cosignable_extensions == ()
    assert _page(desk, view, "alice").actions.may_withdraw
    assert not _page(desk, view, "dave").actions.may_withdraw


# --- who may read a request (issue 16, item 3) ---------------------------------------------------


def _readers(desk: Desk, view: disclosure.DisclosureView) -> set[str]:
    """The members of staff who may read `view`: by one request, and by the list."""
    readers = set()
    for username, staff in desk.staff.items():
        listed = view.id in {
            v.id
            for v in disclosure.list_requests(
                desk.session, staff=staff, policy=desk.policy, log=LOG, now=desk.now
            )
        }
        try:
            disclosure.get_request(
                desk.session, request_id=view.id, staff=staff, policy=desk.policy, log=LOG, now=desk.now
            )
        except NotFoundError:
            assert not listed, username
            continue
        assert listed, username
        readers.add(username)
    return readers


def test_a_draft_is_read_by_its_author_alone(desk: Desk) -> None:
    assert _readers(desk, desk.draft()) == {"alice"}


def test_a_submitted_request_is_read_by_its_submitter_and_whoever_may_cosign_it(desk: Desk) -> None:
    # bob and dave are of other organisations (the co-signing rule accepts them); carol is alice's colleague
    assert _readers(desk, desk.submitted()) == {"alice", "bob", "dave"}


def test_a_cosigned_request_is_read_by_its_named_officers_and_its_holders_only(desk: Desk) -> None:
    view = desk.cosigned()

    assert _readers(desk, view) == {"alice", "bob"}
    for holder_id, _ in desk.holders:
        package = disclosure.holder_package(
            desk.session, request_id=view.id, holder_id=holder_id, policy=desk.policy
        )
        assert package.request_id == view.id


def test_a_pending_extension_is_read_by_whoever_may_cosign_it(desk: Desk) -> None:
    view = desk.extend(desk.cosigned(), "alice")

    assert _readers(desk, view) == {"alice", "bob", "dave"}
    desk.cosign_extension(view, "dave")
    assert _readers(desk, view) == {"alice", "bob"}  # nothing awaits dave's signature any more
