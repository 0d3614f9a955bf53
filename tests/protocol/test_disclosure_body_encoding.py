"""What the strict parsers accept, their own encoder can encode, and whatever they
refuse is a ProtocolError (never UnicodeEncodeError or RecursionError, which become 500s or tracebacks)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from escrow.client.disclosure.shared import read_body
from escrow.client.holder import HolderClientError
from escrow.protocol.disclosure import DisclosureBody
from escrow.protocol.errors import ProtocolError
from tests.protocol.support import ITEMS, dict_literal


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(dict_literal(ITEMS))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    "path",
    [("case_number",), ("legal_basis",), ("court", "name"), ("submitter", "organisation"), ("key_id",)],
)
def test_a_lone_surrogate_in_a_text_member_is_a_protocol_error(path: tuple[str, ...]) -> None:
    # JSON may carry "\ud800"; such a string has no UTF-8 encoding, so it has no canonical bytes
    with pytest.raises(ProtocolError):
        DisclosureBody.from_dict(_with(path, "x\ud800"))


def test_the_tools_refuse_a_body_with_a_lone_surrogate_cleanly() -> None:
    with pytest.raises(HolderClientError):
        read_body(_with(("legal_basis",), "\udfff"), "digest", mismatch="mismatch")


def test_deeply_nested_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        DisclosureBody.from_json("[" * 100_000 + "]" * 100_000)
