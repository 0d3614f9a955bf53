"""Disclosure requests (issue 6), as a feature package (issue 12): the only way a real identity leaves
the escrow. The state machine and who signs what are in docs/disclosure.md.

Every step is authenticated by an Ed25519 signature over the request digest (officers with keys from
`escrow officer init`, key-holders with their holder keys), checked here, and appended to the
transparency log in the same transaction. The modules are the steps of the use case:

- `policy`: THE one place that decides who may sign (submit, co-sign, extend, withdraw, view), what
  makes a quorum and when a request is rejected; pure. The services, the request page and its template
  ask it (`officer_actions`).
- `states`: the request, extension and decision states (`StrEnum`s of the stored strings).
- `courts`, `officer_keys`: the registries the requests rely on.
- `drafting`: the draft: order document, envelopes in scope, canonical body and digest.
- `signing`: submission (under the monthly cap) and co-signing by legal officers.
- `decisions`: what a key-holder checks, and their signed approval or rejection; quorum.
- `reveal`: opening the envelopes, viewing the identities within the window, telling the person.
- `extensions`, `withdrawal`: a longer notification delay; withdrawing an open request.
- `expiry`: expiry and the deletion of partial decryptions when windows close.
- `reading`: one request, pages of them, the order document, and a request's page for one officer.
- `views`: the frozen values all of these return; `serialize`: their JSON form (the API and the
  request document the officer tool signs); `_shared`: private helpers.
"""

from __future__ import annotations

from escrow.services.disclosure.courts import add_court, list_courts, page_courts
from escrow.services.disclosure.decisions import (
    decide_request,
    holder_order_document,
    holder_package,
    holder_requests,
    partials_bytes,
)
from escrow.services.disclosure.drafting import MAX_ORDER_BYTES, create_draft
from escrow.services.disclosure.expiry import sweep_disclosures
from escrow.services.disclosure.extensions import (
    MAX_EXTENSION_ORDER_BYTES,
    cosign_extension,
    propose_extension,
)
from escrow.services.disclosure.notices import announce_due_notices, person_notices, signed_notice
from escrow.services.disclosure.officer_keys import (
    record_officer_certificate,
    register_officer_key,
    registered_officer_key,
)
from escrow.services.disclosure.policy import (
    DisclosurePolicy,
    OfficerActions,
    SigningPrompt,
    SigningRole,
)
from escrow.services.disclosure.reading import (
    get_request,
    list_requests,
    logged_request,
    order_document,
    page_requests,
    request_page,
)
from escrow.services.disclosure.reveal import check_revealed_identities, reveal_package
from escrow.services.disclosure.serialize import view_json
from escrow.services.disclosure.signing import cosign_request, policy_status, submit_request
from escrow.services.disclosure.states import ExtensionState, HolderDecision, RequestState
from escrow.services.disclosure.views import (
    CourtView,
    DisclosureNotice,
    DisclosureView,
    ExtensionView,
    HolderPackage,
    PolicyStatus,
    RequestPage,
    RevealPackage,
)
from escrow.services.disclosure.withdrawal import withdraw_request

__all__ = [
    "MAX_EXTENSION_ORDER_BYTES",
    "MAX_ORDER_BYTES",
    "CourtView",
    "DisclosureNotice",
    "DisclosurePolicy",
    "DisclosureView",
    "ExtensionState",
    "ExtensionView",
    "HolderDecision",
    "HolderPackage",
    "OfficerActions",
    "PolicyStatus",
    "RequestPage",
    "RequestState",
    "RevealPackage",
    "SigningPrompt",
    "SigningRole",
    "add_court",
    "cosign_extension",
    "cosign_request",
    "create_draft",
    "decide_request",
    "get_request",
    "holder_package",
    "holder_requests",
    "list_courts",
    "list_requests",
    "logged_request",
    "order_document",
    "holder_order_document",
    "page_courts",
    "page_requests",
    "partials_bytes",
    "announce_due_notices",
    "person_notices",
    "signed_notice",
    "policy_status",
    "propose_extension",
    "record_officer_certificate",
    "register_officer_key",
    "registered_officer_key",
    "request_page",
    "submit_request",
    "sweep_disclosures",
    "reveal_package",
    "check_revealed_identities",
    "view_json",
    "withdraw_request",
]
