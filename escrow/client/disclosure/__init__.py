"""The disclosure tools that run on officers' and key-holders' own machines (issue 6), by role.

- ``officers``  the legal officer's tool: read a request document, sign submit, co-sign, extension,
                withdrawal
- ``holders``   the key-holder's tool: check a request against the transparency log, approve or reject
- ``reveal``    the submitting officer's reveal: open the envelopes here and prove each is the right person
- ``courts``    the court's part, checked by the holder's tool: the order and the court's signature
- ``shared``    reading a request body (escrow.protocol.disclosure) and the log as of a checkpoint

client/ imports only escrow.protocol, escrow.crypto, escrow.errors and its own modules (tests/test_layers.py).
"""

from __future__ import annotations

from escrow.client.disclosure.holders import (
    CheckedRequest,
    approve,
    check_package,
    fetch_checked,
    fetch_order,
    reject,
)
from escrow.client.disclosure.officers import (
    PreparedExtension,
    extension_summary,
    officer_cosign_extension,
    officer_propose_extension,
    officer_sign,
    officer_submit,
    officer_summary,
    officer_withdraw,
    prepare_extension,
)
from escrow.client.disclosure.shared import LogView, PublicFetch, establish_checkpoint

__all__ = [
    "CheckedRequest",
    "LogView",
    "PreparedExtension",
    "PublicFetch",
    "approve",
    "check_package",
    "establish_checkpoint",
    "extension_summary",
    "fetch_checked",
    "fetch_order",
    "officer_cosign_extension",
    "officer_propose_extension",
    "officer_sign",
    "officer_submit",
    "officer_summary",
    "officer_withdraw",
    "prepare_extension",
    "reject",
]
