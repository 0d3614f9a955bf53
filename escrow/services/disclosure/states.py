"""The states of a disclosure request, of its extensions and of a key-holder's decision (docs/disclosure.md).

The values are the strings stored in the database (and checked by its constraints), so this enum
changes no stored data and needs no migration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RequestState(StrEnum):
    """Where a disclosure request is in its state machine (DESIGN.md section 8)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    COSIGNED = "cosigned"
    DISCLOSED = "disclosed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class ExtensionState(StrEnum):
    """Where a proposed extension of the notification delay is."""

    PROPOSED = "proposed"
    EFFECTIVE = "effective"
    SUPERSEDED = "superseded"


class HolderDecision(StrEnum):
    """What a key-holder decided on a co-signed request."""

    APPROVE = "approve"
    REJECT = "reject"


# Open: the request still waits for signatures or decisions, and expires at its expiry.
# Tuples, not sets: queries use them in `IN (...)`, which wants a stable order.
OPEN_STATES: Final = (RequestState.SUBMITTED, RequestState.COSIGNED)
EXPIRABLE_STATES: Final = (RequestState.DRAFT, *OPEN_STATES)
WITHDRAWABLE_STATES: Final = (RequestState.DRAFT, *OPEN_STATES)
EXTENDABLE_STATES: Final = (*OPEN_STATES, RequestState.DISCLOSED)
