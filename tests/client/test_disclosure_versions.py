"""An older disclosure tool refuses a newer request body by its version, on the officer's and the holder's
machine alike, before it shows or signs anything (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.client.disclosure import LogView, check_package, officer_summary
from escrow.client.holder import HolderClientError
from escrow.crypto.disclosure import request_digest
from escrow.crypto.transcript import b64u_encode, sha256
from tests.protocol.support import ITEMS, dict_literal

BODY: dict[str, Any] = dict_literal(ITEMS[:1])
NEWER = {**BODY, "v": 3, "scope": [{"kind": "account", "account": "x"}]}
NEWER_KIND = {**BODY, "scope": [{"kind": "account", "account": "x"}]}


def _no_log() -> LogView:
    def fetch(path: str) -> bytes:
        raise AssertionError(f"the tool read the log ({path}) before refusing the body")

    return LogView(fetch, None)  # type: ignore[arg-type]  # never reached


def _document(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": 7, "body": body, "digest": b64u_encode(request_digest(body)), "log_index": 3}


@pytest.mark.parametrize("read", [officer_summary, lambda d: check_package(d, _no_log(), None)])
def test_a_newer_body_version_is_refused_by_name(read: Any) -> None:
    with pytest.raises(HolderClientError) as caught:
        read(_document(NEWER))

    assert (
        "disclosure request body version 3 is not supported (this tool understands 2)" in caught.value.detail
    )


@pytest.mark.parametrize("read", [officer_summary, lambda d: check_package(d, _no_log(), None)])
def test_a_newer_scope_kind_is_refused_by_name(read: Any) -> None:
    with pytest.raises(HolderClientError, match="scope kind 'account' is not supported"):
        read(_document(NEWER_KIND))


def test_a_body_with_an_extra_member_is_refused_not_ignored() -> None:
    with pytest.raises(HolderClientError, match="unknown member"):
        officer_summary(_document({**BODY, "court_order_is_optional": True}))


def test_the_digest_is_recomputed_from_the_body() -> None:
    document = {**_document(BODY), "digest": b64u_encode(sha256(b"what the server says"))}

    with pytest.raises(HolderClientError, match="does not match its body"):
        officer_summary(document)


def test_a_current_body_reads_as_before() -> None:
    request_id, digest, lines = officer_summary(_document(BODY))

    assert (request_id, digest) == (7, request_digest(BODY))
    assert "expires: 2031-05-17T09:30:12Z  user told after 30 day(s)" in lines
    assert f"scope: forum / pseudo-a  envelope {BODY['scope'][0]['envelope_digest']}" in lines
