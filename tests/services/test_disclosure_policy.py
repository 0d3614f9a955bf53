"""The disclosure policy (escrow.services.disclosure.policy): pure rules over plain values, no database."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from escrow.config import Settings
from escrow.errors import ConflictError, InvalidStateError, NotFoundError, PermissionDeniedError
from escrow.services.disclosure import policy, states
from escrow.services.disclosure.policy import (
    DisclosurePolicy,
    Officer,
    PendingExtension,
    SigningPrompt,
    SigningRole,
)
from escrow.services.disclosure.states import ExtensionState, RequestState

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALICE = Officer(1, "alice", "Forum Legal", is_legal_officer=True)
BOB = Officer(2, "bob", "Escrow Counsel", is_legal_officer=True)
CAROL = Officer(3, "carol", "Forum Legal", is_legal_officer=True)
ROOT = Officer(9, "root", "Escrow Operator", is_legal_officer=False)
RULES = DisclosurePolicy()


def _extension(
    *, proposer: Officer = ALICE, status: ExtensionState = ExtensionState.PROPOSED
) -> PendingExtension:
    return PendingExtension(1, status, proposer, frozenset(), is_current=True)


def _actions(
    status: RequestState, officer: Officer, *, cosigners: frozenset[int] = frozenset(), **kw: object
):  # type: ignore[no-untyped-def]
    return policy.officer_actions(
        RULES,
        status=status,
        officer=officer,
        submitter=ALICE,
        cosigner_ids=cosigners,
        extensions=kw.pop("extensions", ()),  # type: ignore[arg-type]
        notify_at=kw.pop("notify_at", None),  # type: ignore[arg-type]
        now=NOW,
    )


def test_officer_of_carries_whether_the_roles_make_a_legal_officer() -> None:
    assert Officer.of(id=1, username="a", organisation="o", roles={"legal_officer", "admin"}).is_legal_officer
    assert not Officer.of(id=1, username="a", organisation="o", roles={"admin"}).is_legal_officer


def test_only_the_drafter_signs_a_draft_to_submit_it() -> None:
    assert policy.submit_signer(RequestState.DRAFT, submitter=ALICE) == ALICE


@pytest.mark.parametrize(
    ("status", "message"),
    [(RequestState.WITHDRAWN, "withdrawn"), (RequestState.SUBMITTED, "already submitted")],
)
def test_submission_is_refused_once_the_request_left_the_draft_state(
    status: RequestState, message: str
) -> None:
    with pytest.raises(InvalidStateError, match=message):
        policy.submit_signer(status, submitter=ALICE)


def test_cosigning_is_only_for_a_submitted_request() -> None:
    policy.check_cosignable(RequestState.SUBMITTED)
    for status in set(RequestState) - {RequestState.SUBMITTED}:
        with pytest.raises(InvalidStateError, match="not awaiting co-signatures"):
            policy.check_cosignable(status)


def test_cosign_refuses_officer_of_same_organisation() -> None:
    with pytest.raises(PermissionDeniedError, match="another organisation than the submitter"):
        policy.check_request_cosigner(RULES, officer=CAROL, submitter=ALICE)


def test_cosign_of_same_organisation_passes_when_the_policy_allows_it() -> None:
    policy.check_request_cosigner(DisclosurePolicy(cosigner_other_org=False), officer=CAROL, submitter=ALICE)


def test_cosign_refuses_the_submitter_even_when_organisations_may_match() -> None:
    with pytest.raises(PermissionDeniedError, match="submitter cannot co-sign"):
        policy.check_request_cosigner(
            DisclosurePolicy(cosigner_other_org=False), officer=ALICE, submitter=ALICE
        )


def test_cosign_refuses_staff_who_are_no_legal_officers() -> None:
    with pytest.raises(PermissionDeniedError, match="only legal officers co-sign disclosure requests"):
        policy.check_request_cosigner(RULES, officer=ROOT, submitter=ALICE)


def test_cosign_by_an_officer_of_another_organisation_passes() -> None:
    policy.check_request_cosigner(RULES, officer=BOB, submitter=ALICE)


def test_a_second_cosignature_of_one_officer_is_a_conflict() -> None:
    policy.check_not_cosigned(BOB, {ALICE.id}, what="request")
    with pytest.raises(ConflictError, match="already co-signed this extension"):
        policy.check_not_cosigned(BOB, {BOB.id}, what="extension")


@pytest.mark.parametrize(
    ("needed", "count", "expected"), [(1, 0, False), (1, 1, True), (2, 1, False), (2, 3, True)]
)
def test_enough_cosignatures_is_the_policys_number(needed: int, count: int, expected: bool) -> None:
    assert policy.is_cosigned(DisclosurePolicy(cosigners=needed), count) is expected


def test_extension_cosign_refuses_the_proposer() -> None:
    with pytest.raises(PermissionDeniedError, match="proposer cannot co-sign"):
        policy.check_extension_cosigner(RULES, officer=ALICE, proposer=ALICE)


def test_extension_cosign_refuses_officer_of_the_proposers_organisation() -> None:
    with pytest.raises(PermissionDeniedError, match="another organisation than the proposer"):
        policy.check_extension_cosigner(RULES, officer=CAROL, proposer=ALICE)


def test_extension_cosign_refuses_staff_who_are_no_legal_officers() -> None:
    with pytest.raises(PermissionDeniedError, match="only legal officers co-sign extensions"):
        policy.check_extension_cosigner(RULES, officer=ROOT, proposer=ALICE)


@pytest.mark.parametrize("status", [ExtensionState.EFFECTIVE, ExtensionState.SUPERSEDED])
def test_an_extension_no_longer_proposed_takes_no_cosignature(status: ExtensionState) -> None:
    with pytest.raises(InvalidStateError, match="takes no more co-signatures"):
        policy.check_extension_cosignable(_extension(status=status))


def test_a_stale_extension_takes_no_cosignature() -> None:
    stale = PendingExtension(1, ExtensionState.PROPOSED, ALICE, frozenset(), is_current=False)

    with pytest.raises(InvalidStateError):
        policy.check_extension_cosignable(stale)


def test_only_officers_of_the_request_extend_or_withdraw_it() -> None:
    policy.check_request_officer(BOB, officer_ids={ALICE.id, BOB.id}, action="withdraw it")
    with pytest.raises(PermissionDeniedError, match="may withdraw it"):
        policy.check_request_officer(CAROL, officer_ids={ALICE.id, BOB.id}, action="withdraw it")
    not_an_officer = Officer(BOB.id, "bob", "Escrow Counsel", is_legal_officer=False)
    with pytest.raises(PermissionDeniedError):
        policy.check_request_officer(not_an_officer, officer_ids={ALICE.id, BOB.id}, action="withdraw it")


def test_only_the_request_officers_view_the_identities() -> None:
    policy.check_viewer(ALICE.id, officer_ids={ALICE.id})
    with pytest.raises(NotFoundError, match="no such disclosure request"):
        policy.check_viewer(BOB.id, officer_ids={ALICE.id})


def test_withdrawal_is_possible_until_disclosure_or_closure() -> None:
    open_states = {RequestState.DRAFT, RequestState.SUBMITTED, RequestState.COSIGNED}
    assert {s for s in RequestState if policy.is_withdrawable(s)} == open_states


def test_extension_is_possible_until_the_person_is_or_may_be_told() -> None:
    assert policy.is_extendable(RequestState.SUBMITTED, notify_at=None, now=NOW)
    assert policy.is_extendable(RequestState.DISCLOSED, notify_at=NOW + timedelta(seconds=1), now=NOW)
    assert not policy.is_extendable(RequestState.DISCLOSED, notify_at=NOW, now=NOW)
    assert not policy.is_extendable(RequestState.DISCLOSED, notify_at=None, now=NOW, is_told=True)
    assert not policy.is_extendable(RequestState.DRAFT, notify_at=None, now=NOW)
    assert not policy.is_extendable(RequestState.WITHDRAWN, notify_at=None, now=NOW)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (RequestState.DRAFT, "not co-signed yet"),
        (RequestState.SUBMITTED, "not co-signed yet"),
        (RequestState.DISCLOSED, "no more decisions"),
        (RequestState.REJECTED, "no more decisions"),
        (RequestState.WITHDRAWN, "no more decisions"),
    ],
)
def test_key_holders_decide_only_on_a_cosigned_request(status: RequestState, message: str) -> None:
    policy.check_decidable(RequestState.COSIGNED)
    with pytest.raises(InvalidStateError, match=message):
        policy.check_decidable(status)


def test_quorum_needs_the_key_threshold_of_approvals() -> None:
    assert not policy.is_quorum(RULES, approving_organisations=["A", "B"], threshold=3)
    assert policy.is_quorum(RULES, approving_organisations=["A", "B", "B"], threshold=3)


def test_quorum_needs_the_policys_number_of_organisations() -> None:
    assert not policy.is_quorum(RULES, approving_organisations=["A", "A", "A"], threshold=3)
    assert policy.is_quorum(
        DisclosurePolicy(min_organisations=1), approving_organisations=["A"] * 3, threshold=3
    )


@pytest.mark.parametrize(("rejections", "expected"), [(2, False), (3, True), (4, True)])
def test_a_request_is_rejected_once_too_few_holders_are_left_to_approve(
    rejections: int, expected: bool
) -> None:
    # 3 of 5: after 3 rejections only 2 holders are left, fewer than the threshold
    assert policy.is_rejected(rejections=rejections, holders=5, threshold=3) is expected


def test_the_monthly_cap_blocks_once_reached_and_none_means_no_cap() -> None:
    assert policy.is_capped(monthly_cap=2, submitted_this_month=2)
    assert not policy.is_capped(monthly_cap=2, submitted_this_month=1)
    assert not policy.is_capped(monthly_cap=None, submitted_this_month=10**6)


def test_page_offers_the_drafter_to_submit_and_tells_others_who_may() -> None:
    assert _actions(RequestState.DRAFT, ALICE).signing_role is SigningRole.SUBMIT
    assert _actions(RequestState.DRAFT, BOB).prompt is SigningPrompt.SUBMITTER_ONLY
    assert _actions(RequestState.DRAFT, BOB).signing_role is None


def test_page_offers_cosigning_only_where_the_service_would_accept_it() -> None:
    assert _actions(RequestState.SUBMITTED, BOB).signing_role is SigningRole.COSIGN
    assert _actions(RequestState.SUBMITTED, ALICE).prompt is SigningPrompt.SIGNED
    assert _actions(RequestState.SUBMITTED, BOB, cosigners=frozenset({BOB.id})).prompt is SigningPrompt.SIGNED
    refused = _actions(RequestState.SUBMITTED, CAROL)
    assert refused.prompt is SigningPrompt.REFUSED
    assert refused.refusal == "a co-signer must belong to another organisation than the submitter"
    assert refused.signing_role is None


def test_page_tells_staff_who_are_no_legal_officers_that_they_sign_nothing() -> None:
    for status in (RequestState.DRAFT, RequestState.SUBMITTED):
        actions = _actions(status, ROOT)
        assert actions.prompt is SigningPrompt.NOT_AN_OFFICER
        assert actions.signing_role is None
        assert not actions.may_withdraw


def test_page_sends_a_cosigned_request_to_the_key_holders() -> None:
    assert _actions(RequestState.COSIGNED, BOB).prompt is SigningPrompt.HOLDERS_DECIDE
    assert _actions(RequestState.DISCLOSED, BOB).prompt is SigningPrompt.NONE


def test_page_offers_withdrawal_and_extension_to_the_request_officers_only() -> None:
    mine = _actions(RequestState.COSIGNED, BOB, cosigners=frozenset({BOB.id}))
    other = _actions(RequestState.COSIGNED, CAROL, cosigners=frozenset({BOB.id}))
    assert mine.may_withdraw
    assert mine.may_propose_extension
    assert not other.may_withdraw
    assert not other.may_propose_extension


def test_page_offers_an_extension_cosignature_only_to_who_may_give_it() -> None:
    pending = [_extension(proposer=ALICE)]
    assert _actions(RequestState.COSIGNED, BOB, extensions=pending).cosignable_extensions == (1,)
    assert _actions(RequestState.COSIGNED, ALICE, extensions=pending).cosignable_extensions == ()
    assert _actions(RequestState.COSIGNED, CAROL, extensions=pending).cosignable_extensions == ()
    signed = [PendingExtension(1, ExtensionState.PROPOSED, ALICE, frozenset({BOB.id}), is_current=True)]
    assert _actions(RequestState.COSIGNED, BOB, extensions=signed).cosignable_extensions == ()


def test_page_offers_no_extension_once_the_notification_date_passed() -> None:
    actions = _actions(RequestState.DISCLOSED, ALICE, extensions=[_extension(proposer=BOB)], notify_at=NOW)
    assert not actions.is_extendable
    assert not actions.may_propose_extension
    assert actions.cosignable_extensions == ()


def test_policy_from_settings_takes_every_disclosure_setting() -> None:
    settings = Settings.for_tests("sqlite://", Path("/nonexistent"))
    rules = DisclosurePolicy.from_settings(settings)
    assert rules.cosigners == settings.disclosure_cosigners
    assert rules.cosigner_other_org == settings.disclosure_cosigner_other_org
    assert rules.min_organisations == settings.disclosure_min_organisations
    assert rules.monthly_cap == settings.disclosure_monthly_cap
    assert rules.view_window == timedelta(hours=settings.disclosure_view_hours)


@pytest.mark.parametrize("module", [policy, states])
def test_policy_and_states_stay_pure(module: object) -> None:
    # The page, the services and (later) the holder tool ask these modules: no database, web or clock.
    tree = ast.parse(Path(str(getattr(module, "__file__", ""))).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    allowed = {"__future__", "collections.abc", "dataclasses", "datetime", "enum", "typing"}
    allowed |= {"escrow.config", "escrow.errors", "escrow.services.disclosure.states"}  # config: a type only
    assert imported <= allowed, imported - allowed
