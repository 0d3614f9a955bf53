"""Submitting and co-signing a disclosure request (escrow.services.disclosure.signing), one rule a test."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.client.disclosure.officers import blinded_body
from escrow.crypto.disclosure import ROLE_SUBMIT
from escrow.crypto.transcript import b64u_encode
from escrow.errors import (
    ConflictError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from escrow.models import LogEntry
from escrow.protocol.disclosure import DisclosureBody
from escrow.services import disclosure
from escrow.services.disclosure import RequestState
from tests.services.disclosure_desk import LOG, Desk, build_desk


@pytest.fixture
def desk(db_session: Session, tmp_path: Path) -> Desk:
    return build_desk(db_session, tmp_path)


def _kinds(session: Session) -> list[str]:
    return list(session.scalars(select(LogEntry.kind).order_by(LogEntry.idx)))


def test_submit_with_the_submitters_signature_submits_and_logs(desk: Desk) -> None:
    view = desk.submitted()

    assert view.status is RequestState.SUBMITTED
    assert view.log_index is not None
    assert _kinds(desk.session)[-1] == "disclosure.submitted"


def test_submit_refuses_another_officers_signature(desk: Desk) -> None:
    draft = desk.draft()

    with pytest.raises(PermissionDeniedError, match="not the submitter's"):
        desk.submit(draft, "bob")


def test_submit_refuses_a_request_without_one_blinding_point_per_pseudonym(desk: Desk) -> None:
    # Issue 14: without the submitter's blinding points the server could combine the partials itself.
    draft = desk.draft()

    for blinding in ([], None, "x", [b64u_encode(b"\x00" * 32)]):
        with pytest.raises(ValidationError):
            disclosure.submit_request(
                desk.session,
                request_id=draft.id,
                signature_b64=desk.signature("alice", ROLE_SUBMIT, draft.digest_b64),
                blinding=blinding,
                policy=desk.policy,
                log=LOG,
                now=desk.now,
            )


def test_submit_refuses_blinding_points_other_than_the_signed_ones(desk: Desk) -> None:
    # A server that swaps in points of its own (to open the reveal) breaks the submitter's signature.
    draft = desk.draft()
    theirs = blinded_body(desk.officers["bob"], DisclosureBody.from_dict(draft.body)).to_dict()["blinding"]

    with pytest.raises(PermissionDeniedError, match="not the submitter's"):
        desk.submit(draft, "alice", blinding=theirs)


def test_submit_refuses_a_request_already_submitted(desk: Desk) -> None:
    view = desk.submitted()

    with pytest.raises(InvalidStateError, match="already submitted"):
        desk.submit(view)


def test_submit_refuses_a_withdrawn_draft(desk: Desk) -> None:
    draft = desk.draft()
    desk.withdraw(draft)

    with pytest.raises(InvalidStateError, match="withdrawn"):
        desk.submit(draft)


def test_submit_refuses_beyond_the_monthly_cap_and_publishes_the_refusal(desk: Desk) -> None:
    # Given a cap of one request a month, already used
    desk.policy = disclosure.DisclosurePolicy(monthly_cap=1)
    desk.submitted()
    second = desk.draft(case_number="2026/CR/0043")
    # When another is submitted
    with pytest.raises(InvalidStateError, match="monthly cap of 1"):
        desk.submit(second)
    # Then the refusal is in the log, and the request is still a draft
    entry = desk.session.scalars(select(LogEntry).where(LogEntry.kind == "disclosure.blocked")).one()
    assert json.loads(entry.body)["data"]["cap"] == 1
    assert (
        disclosure.get_request(
            desk.session,
            request_id=second.id,
            staff=desk.staff["alice"],
            policy=desk.policy,
            log=LOG,
            now=desk.now,
        ).status
        == "draft"
    )


def test_cosign_by_an_officer_of_another_organisation_makes_the_request_cosigned(desk: Desk) -> None:
    view = desk.cosign(desk.submitted(), "bob")

    assert view.status is RequestState.COSIGNED
    assert view.cosigners == ("bob",)
    assert _kinds(desk.session)[-1] == "disclosure.cosigned"


def test_cosign_refuses_officer_of_same_organisation(desk: Desk) -> None:
    view = desk.submitted()  # alice, Forum Legal

    with pytest.raises(PermissionDeniedError, match="another organisation than the submitter"):
        desk.cosign(view, "carol")  # Forum Legal too


def test_cosign_accepts_same_organisation_when_the_policy_allows_it(desk: Desk) -> None:
    desk.policy = disclosure.DisclosurePolicy(cosigner_other_org=False)

    assert desk.cosign(desk.submitted(), "carol").status is RequestState.COSIGNED


def test_cosign_refuses_the_submitter(desk: Desk) -> None:
    view = desk.submitted()

    with pytest.raises(PermissionDeniedError, match="submitter cannot co-sign"):
        desk.cosign(view, "alice")


def test_cosign_refuses_a_member_of_staff_who_is_no_legal_officer(desk: Desk) -> None:
    view = desk.submitted()

    with pytest.raises(PermissionDeniedError, match="only legal officers co-sign"):
        desk.cosign(view, "root", signer="bob")


def test_cosign_refuses_a_signature_by_another_key(desk: Desk) -> None:
    view = desk.submitted()

    with pytest.raises(PermissionDeniedError, match="not this officer's"):
        desk.cosign(view, "bob", signer="dave")


def test_cosign_refuses_a_draft(desk: Desk) -> None:
    with pytest.raises(InvalidStateError, match="not awaiting co-signatures"):
        desk.cosign(desk.draft(), "bob")


def test_cosign_refuses_a_second_cosignature_by_the_same_officer(desk: Desk) -> None:
    # Given a policy asking for two co-signers, and bob's first
    desk.policy = disclosure.DisclosurePolicy(cosigners=2)
    view = desk.cosign(desk.submitted(), "bob")
    assert view.status is RequestState.SUBMITTED
    # Then bob cannot co-sign again, and dave's makes it co-signed
    with pytest.raises(ConflictError, match="already co-signed this request"):
        desk.cosign(view, "bob")
    assert desk.cosign(view, "dave").status is RequestState.COSIGNED


def test_cosign_refuses_an_expired_request(desk: Desk) -> None:
    view = desk.submitted()
    desk.now += timedelta(days=15)  # the draft expires after 14

    with pytest.raises(InvalidStateError, match="expired"):
        desk.cosign(view, "bob")


def test_cosign_refuses_an_unknown_request(desk: Desk) -> None:
    with pytest.raises(NotFoundError):
        disclosure.cosign_request(
            desk.session,
            request_id=999,
            username="bob",
            signature_b64="",
            policy=desk.policy,
            log=LOG,
            now=desk.now,
        )
