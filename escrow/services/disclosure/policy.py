"""The disclosure policy: the ONE place that decides who may sign a request or an extension, what makes a
quorum of key-holders, and when a request is rejected (docs/disclosure.md#policy; issue 12).

Pure functions over plain values (no session, no clock, no Flask): the services ask them before they
write, and the request page asks them (through `officer_actions`) before it offers a command, so the
page never offers what the service would refuse. A refusal is the typed error the service raises.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from escrow.errors import ConflictError, InvalidStateError, NotFoundError, PermissionDeniedError
from escrow.services.disclosure.states import (
    EXTENDABLE_STATES,
    WITHDRAWABLE_STATES,
    ExtensionState,
    RequestState,
)

if TYPE_CHECKING:  # only the type: the policy never reads configuration itself
    from escrow.config import Settings

LEGAL_OFFICER: Final = "legal_officer"


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """The configurable rules (Settings.disclosure_*; docs/disclosure.md#policy)."""

    cosigners: int = 1
    cosigner_other_org: bool = True
    min_organisations: int = 2
    monthly_cap: int | None = None
    view_window: timedelta = timedelta(hours=72)
    # The organisations whose officers the roster the key-holders signed lets co-sign (issue 16); None
    # while no roster is in force. Filled by services.roster.roster_policy, never from configuration.
    cosigning_organisations: frozenset[str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DisclosurePolicy:
        return cls(
            cosigners=settings.disclosure_cosigners,
            cosigner_other_org=settings.disclosure_cosigner_other_org,
            min_organisations=settings.disclosure_min_organisations,
            monthly_cap=settings.disclosure_monthly_cap,
            view_window=timedelta(hours=settings.disclosure_view_hours),
        )


@dataclass(frozen=True, slots=True)
class Officer:
    """A member of staff as the policy sees them: who, of which organisation, and whether a legal officer."""

    id: int
    username: str
    organisation: str
    is_legal_officer: bool

    @classmethod
    def of(cls, *, id: int, username: str, organisation: str, roles: Iterable[str]) -> Officer:  # noqa: A002
        return cls(id, username, organisation, LEGAL_OFFICER in roles)


class SigningRole(StrEnum):
    """The signature an officer can add to a request now (the roles of escrow.crypto.disclosure)."""

    SUBMIT = "submit"
    COSIGN = "cosign"


class SigningPrompt(StrEnum):
    """What the request page tells an officer about signing the request (one answer per case)."""

    NOT_AN_OFFICER = "not-an-officer"  # only legal officers sign
    SUBMITTER_ONLY = "submitter-only"  # a draft: only its drafter submits it
    SIGNED = "signed"  # this officer signed; waiting for a co-signer
    REFUSED = "refused"  # the policy refuses this officer's co-signature (reason in OfficerActions)
    SUBMIT = "submit"
    COSIGN = "cosign"
    HOLDERS_DECIDE = "holders-decide"  # co-signed: the key-holders decide now
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OfficerActions:
    """What one officer may do on one request now, as the policy decides it (the page shows only these)."""

    prompt: SigningPrompt
    refusal: str | None
    is_extendable: bool
    may_propose_extension: bool
    cosignable_extensions: tuple[int, ...]
    may_withdraw: bool

    @property
    def signing_role(self) -> SigningRole | None:
        """The signature the page offers (command and browser-key button), or None."""
        if self.prompt is SigningPrompt.SUBMIT:
            return SigningRole.SUBMIT
        if self.prompt is SigningPrompt.COSIGN:
            return SigningRole.COSIGN
        return None


@dataclass(frozen=True, slots=True)
class PendingExtension:
    """An extension as the policy sees it: its number, state, proposer and co-signers (by id)."""

    sequence: int
    status: ExtensionState
    proposer: Officer
    cosigner_ids: frozenset[int]
    is_current: bool  # proposed over the delay in force (not made stale by another extension)


# --- submission and co-signing -----------------------------------------------------------------


def submit_signer(status: str, *, submitter: Officer) -> Officer:
    """Returns the one officer whose signature submits a request in `status`: its drafter.

    Raises InvalidStateError if the request is no longer a draft (withdrawn, or already submitted).
    """
    if status == RequestState.WITHDRAWN:
        raise InvalidStateError("this request was withdrawn; it can no longer be submitted")
    if status != RequestState.DRAFT:
        raise InvalidStateError("this request was already submitted; nothing in it can change")
    return submitter


def check_cosignable(status: str) -> None:
    """Raises InvalidStateError unless a request in `status` awaits co-signatures (it is submitted)."""
    if status != RequestState.SUBMITTED:
        raise InvalidStateError(f"this request is {status}, not awaiting co-signatures")


def check_request_cosigner(policy: DisclosurePolicy, *, officer: Officer, submitter: Officer) -> None:
    """Checks that `officer` may co-sign a request drafted by `submitter`.

    Raises PermissionDeniedError (not a legal officer, the submitter, or of the submitter's organisation
    when the policy asks for another).
    """
    _check_cosigner(policy, officer=officer, author=submitter, author_is="submitter", of="request")


def check_extension_cosignable(extension: PendingExtension) -> None:
    """Raises InvalidStateError unless `extension` still takes co-signatures (proposed over the delay
    in force)."""
    if extension.status != ExtensionState.PROPOSED or not extension.is_current:
        raise InvalidStateError(
            f"extension {extension.sequence} is {extension.status}; it takes no more co-signatures"
        )


def check_extension_cosigner(policy: DisclosurePolicy, *, officer: Officer, proposer: Officer) -> None:
    """Checks that `officer` may co-sign an extension proposed by `proposer`: the rules of request
    co-signing, with the proposer in the submitter's place.

    Raises PermissionDeniedError.
    """
    _check_cosigner(policy, officer=officer, author=proposer, author_is="proposer", of="extension")


def _check_cosigner(
    policy: DisclosurePolicy, *, officer: Officer, author: Officer, author_is: str, of: str
) -> None:
    """The co-signing rule, for requests and extensions alike: a legal officer, never the author, and by
    default of another organisation (docs/disclosure.md#policy)."""
    if not officer.is_legal_officer:
        things = "disclosure requests" if of == "request" else f"{of}s"
        raise PermissionDeniedError(f"only legal officers co-sign {things}")
    if officer.id == author.id:
        raise PermissionDeniedError(f"the {author_is} cannot co-sign their own {of}")
    if (
        policy.cosigning_organisations is not None
        and officer.organisation not in policy.cosigning_organisations
    ):
        raise PermissionDeniedError(
            f"the roster the key-holders signed does not let officers of {officer.organisation} co-sign"
        )
    if policy.cosigner_other_org and officer.organisation == author.organisation:
        raise PermissionDeniedError(f"a co-signer must belong to another organisation than the {author_is}")


def check_not_cosigned(officer: Officer, cosigner_ids: Collection[int], *, what: str) -> None:
    """Raises ConflictError if `officer` already co-signed `what` ("request" or "extension")."""
    if officer.id in cosigner_ids:
        raise ConflictError(f"this officer already co-signed this {what}")


def is_cosigned(policy: DisclosurePolicy, cosignatures: int) -> bool:
    """Whether `cosignatures` co-signatures are enough (for a request, or for an extension to take effect)."""
    return cosignatures >= policy.cosigners


# --- the officers of a request: extending, withdrawing, viewing ----------------------------------


def check_request_officer(officer: Officer, *, officer_ids: Collection[int], action: str) -> None:
    """Checks that `officer` is a legal officer of the request (its submitter or a co-signer, whose ids
    are `officer_ids`), the only ones who may extend or withdraw it.

    Raises PermissionDeniedError naming `action` otherwise.
    """
    if not officer.is_legal_officer or officer.id not in officer_ids:
        raise PermissionDeniedError(
            f"only an officer of this request (its submitter or a co-signer) may {action}"
        )


def check_viewer(officer_id: int, *, officer_ids: Collection[int]) -> None:
    """Raises NotFoundError unless the officer submitted or co-signed the request (`officer_ids`): to
    anyone else the identities do not exist, as the request does not (is_readable, issue 16)."""
    if officer_id not in officer_ids:
        raise NotFoundError("no such disclosure request")


def is_withdrawable(status: str) -> bool:
    """Whether a request in `status` may still be withdrawn (it is not yet disclosed or closed)."""
    return status in WITHDRAWABLE_STATES


def is_extendable(status: str, *, notify_at: datetime | None, now: datetime, is_told: bool = False) -> bool:
    """Whether the notification delay of a request may still be extended at `now`: it is open or
    disclosed, and the person has not been (and may not yet be) told."""
    if status not in EXTENDABLE_STATES:
        return False
    return not is_told and (notify_at is None or now < notify_at)


# --- who may read a request (issue 16, item 3) -------------------------------------------------


def is_readable(
    policy: DisclosurePolicy,
    *,
    status: str,
    is_submitted: bool,
    reader: Officer | None,
    submitter: Officer,
    cosigner_ids: Collection[int],
    extensions: Iterable[PendingExtension] = (),
    is_holder: bool = False,
) -> bool:
    """Whether `reader` (a member of staff, or None for a key-holder) may read a request at all.

    A request never submitted (a draft, or a draft that expired or was withdrawn) is its author's alone.
    A submitted one: the officers named on it (submitter and co-signers), the holders of its key
    (`is_holder`), and the legal officers who may sign what awaits a co-signature now: the request
    while it is submitted, an extension while it is proposed (they must read what they sign, and no
    co-signer is named before they sign). With a roster in force, only officers of organisations it
    lets co-sign are among those (`policy.cosigning_organisations`, issue 16). There is no auditor
    role among the staff (models.STAFF_ROLES), so no one else: not another organisation's officer
    once nothing awaits their signature, not the submitter's colleagues (by default), not the
    administrator.
    """
    if not is_submitted:
        return reader is not None and reader.id == submitter.id
    if is_holder:
        return True
    if reader is None:
        return False
    if reader.id == submitter.id or reader.id in cosigner_ids:
        return True
    if status == RequestState.SUBMITTED and _allows(
        check_request_cosigner, policy, officer=reader, submitter=submitter
    ):
        return True
    return status in EXTENDABLE_STATES and any(
        _allows(check_extension_cosignable, e)
        and _allows(check_extension_cosigner, policy, officer=reader, proposer=e.proposer)
        for e in extensions
    )


def check_readable(
    policy: DisclosurePolicy,
    *,
    status: str,
    is_submitted: bool,
    reader: Officer | None,
    submitter: Officer,
    cosigner_ids: Collection[int],
    extensions: Iterable[PendingExtension] = (),
    is_holder: bool = False,
) -> None:
    """Raises NotFoundError (never a 403, which would confirm the request exists) unless `reader` may
    read the request (is_readable)."""
    if not is_readable(
        policy,
        status=status,
        is_submitted=is_submitted,
        reader=reader,
        submitter=submitter,
        cosigner_ids=cosigner_ids,
        extensions=extensions,
        is_holder=is_holder,
    ):
        raise NotFoundError("no such disclosure request")


# --- key-holder decisions, quorum and rejection --------------------------------------------------


def check_decidable(status: str) -> None:
    """Raises InvalidStateError unless a request in `status` takes key-holder decisions (co-signed)."""
    if status in (RequestState.DRAFT, RequestState.SUBMITTED):
        raise InvalidStateError("this request is not co-signed yet; key-holders cannot decide on it")
    if status != RequestState.COSIGNED:
        raise InvalidStateError(f"this request is {status}; no more decisions are accepted")


def is_quorum(policy: DisclosurePolicy, *, approving_organisations: Collection[str], threshold: int) -> bool:
    """Whether the approvals (one organisation per approving key-holder) reveal the request: at least
    `threshold` of them (the escrow key's), from at least `policy.min_organisations` organisations."""
    return (
        len(approving_organisations) >= threshold
        and len(set(approving_organisations)) >= policy.min_organisations
    )


def is_rejected(*, rejections: int, holders: int, threshold: int) -> bool:
    """Whether `rejections` of `holders` key-holders reject the request for good: so many that fewer
    than `threshold` holders are left to approve it."""
    return rejections >= holders - threshold + 1


def is_capped(*, monthly_cap: int | None, submitted_this_month: int) -> bool:
    """Whether the monthly cap of submissions (None: no cap) is reached."""
    return monthly_cap is not None and submitted_this_month >= monthly_cap


# --- the page's question: what may this officer do now? ------------------------------------------


def officer_actions(
    policy: DisclosurePolicy,
    *,
    status: str,
    officer: Officer,
    submitter: Officer,
    cosigner_ids: Collection[int],
    extensions: Iterable[PendingExtension],
    notify_at: datetime | None,
    now: datetime,
) -> OfficerActions:
    """Returns what `officer` may do on a request now, asking the same checks the services run."""
    officer_ids = {submitter.id, *cosigner_ids}
    prompt, refusal = _signing_prompt(
        policy, status=status, officer=officer, submitter=submitter, officer_ids=officer_ids
    )
    is_officer_of_request = _allows(check_request_officer, officer, officer_ids=officer_ids, action="act")
    extendable = is_extendable(status, notify_at=notify_at, now=now)
    cosignable = tuple(
        e.sequence
        for e in extensions
        if extendable
        and officer.id not in e.cosigner_ids
        and _allows(check_extension_cosignable, e)
        and _allows(check_extension_cosigner, policy, officer=officer, proposer=e.proposer)
    )
    return OfficerActions(
        prompt=prompt,
        refusal=refusal,
        is_extendable=extendable,
        may_propose_extension=extendable and is_officer_of_request,
        cosignable_extensions=cosignable,
        may_withdraw=is_withdrawable(status) and is_officer_of_request,
    )


def _signing_prompt(
    policy: DisclosurePolicy, *, status: str, officer: Officer, submitter: Officer, officer_ids: set[int]
) -> tuple[SigningPrompt, str | None]:
    if status in (RequestState.DRAFT, RequestState.SUBMITTED) and not officer.is_legal_officer:
        return SigningPrompt.NOT_AN_OFFICER, None
    if status == RequestState.DRAFT:
        is_drafter = submit_signer(status, submitter=submitter).id == officer.id
        return (SigningPrompt.SUBMIT if is_drafter else SigningPrompt.SUBMITTER_ONLY), None
    if status == RequestState.SUBMITTED:
        if officer.id in officer_ids:
            return SigningPrompt.SIGNED, None
        try:
            check_request_cosigner(policy, officer=officer, submitter=submitter)
        except PermissionDeniedError as e:
            return SigningPrompt.REFUSED, e.detail
        return SigningPrompt.COSIGN, None
    if status == RequestState.COSIGNED:
        return SigningPrompt.HOLDERS_DECIDE, None
    return SigningPrompt.NONE, None


def _allows(check: Callable[..., None], *args: object, **kwargs: object) -> bool:
    """Whether a policy check passes (returns) rather than refuses (raises a policy error)."""
    try:
        check(*args, **kwargs)
    except (PermissionDeniedError, InvalidStateError):
        return False
    return True
