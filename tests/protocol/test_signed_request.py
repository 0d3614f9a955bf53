"""The Escrow-Holder signed request (escrow.protocol.signed_request): round trip, strict header parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.ceremony_messages import b64
from escrow.protocol.signed_request import (
    AUTH_SCHEME,
    HolderAuthorization,
    InvalidHolderSignatureError,
    request_target,
    sign_holder_request,
    split_target,
)

SEED = bytes(range(32))
TS = 1_764_000_000_000


def _signed(body: bytes = b'{"a":1}') -> HolderAuthorization:
    return sign_holder_request(
        SEED, method="POST", target="/api/v1/ceremonies/1/messages", timestamp_ms=TS, body=body
    )


def test_header_round_trips_and_verifies() -> None:
    authorization = _signed()

    parsed = HolderAuthorization.parse(authorization.to_header())

    assert parsed == authorization
    parsed.verify("POST", "/api/v1/ceremonies/1/messages", b'{"a":1}')


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/ceremonies/1/messages", b'{"a":1}'),
        ("POST", "/api/v1/ceremonies/2/messages", b'{"a":1}'),
        ("POST", "/api/v1/ceremonies/1/messages", b'{"a":2}'),
    ],
)
def test_signature_covers_method_path_and_body(method: str, path: str, body: bytes) -> None:
    with pytest.raises(InvalidHolderSignatureError, match="does not verify"):
        _signed().verify(method, path, body)


def test_signature_covers_the_timestamp() -> None:
    authorization = _signed()
    later = HolderAuthorization(authorization.signing_key, TS + 1, authorization.signature)

    with pytest.raises(InvalidHolderSignatureError, match="does not verify"):
        later.verify("POST", "/api/v1/ceremonies/1/messages", b'{"a":1}')


def _header(**fields: str) -> str:
    return f"{AUTH_SCHEME} " + ", ".join(f"{k}={v}" for k, v in fields.items())


KEY = b64(bytes(32))
SIG = b64(bytes(64))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Escrow-Holderkey=x",
        _header(key=KEY, ts=str(TS)),  # no signature
        _header(key=KEY, ts=str(TS), sig=SIG, extra="1"),  # an unknown field
        f"{_header(key=KEY, ts=str(TS), sig=SIG)}, key={KEY}",  # a field twice
        _header(key=KEY, ts="-5", sig=SIG),
        _header(key=KEY, ts="0012", sig=SIG),  # leading zeros: not canonical
        _header(key=KEY, ts="١٢٣", sig=SIG),  # Arabic-Indic digits pass str.isdigit(), not the parser
        _header(key=KEY, ts="1" * 17, sig=SIG),  # beyond any millisecond clock
        _header(key=KEY, ts="12.5", sig=SIG),
        _header(key=b64(bytes(31)), ts=str(TS), sig=SIG),  # short key
        _header(key=KEY, ts=str(TS), sig=b64(bytes(63))),  # short signature
        _header(key=KEY + "=", ts=str(TS), sig=SIG),  # padded base64
        _header(key=KEY, ts=str(TS), sig=SIG) + "x" * 600,  # too long
        _header(key=KEY, ts=str(TS), sig=SIG + "A"),  # non-canonical length
    ],
)
def test_parser_refuses_malformed_headers(header: str | None) -> None:
    with pytest.raises(InvalidHolderSignatureError):
        HolderAuthorization.parse(header)


@given(st.text(max_size=300))
def test_parser_raises_only_its_own_error_for_any_text(text: str) -> None:
    # Whatever a client sends, the answer is a 401 problem, never a 500.
    with contextlib.suppress(InvalidHolderSignatureError):
        HolderAuthorization.parse(f"{AUTH_SCHEME} {text}")


# --- issue 16: the query string is signed too ----------------------------------------------------


def test_a_query_added_to_changed_in_or_dropped_from_a_signed_request_is_refused() -> None:
    target = request_target("/api/v1/holder/disclosures", "page=2")
    signed = sign_holder_request(SEED, method="GET", target=target, timestamp_ms=TS, body=b"")
    signed.verify("GET", "/api/v1/holder/disclosures?page=2", b"")
    for path, query in (("/api/v1/holder/disclosures", ""), ("/api/v1/holder/disclosures", "page=3")):
        with pytest.raises(InvalidHolderSignatureError, match="does not verify"):
            signed.verify("GET", request_target(path, query), b"")
    unqueried = sign_holder_request(
        SEED, method="GET", target=request_target("/api/v1/keyholders/me"), timestamp_ms=TS, body=b""
    )
    with pytest.raises(InvalidHolderSignatureError, match="does not verify"):
        unqueried.verify("GET", request_target("/api/v1/keyholders/me", "as=2"), b"")


def test_the_tool_and_the_service_build_the_same_target_with_one_function() -> None:
    assert request_target(*split_target("/a/b?x=1&y=2")) == "/a/b?x=1&y=2"
    assert request_target(*split_target("/a/b?")) == request_target("/a/b", "") == "/a/b"
    with pytest.raises(InvalidHolderSignatureError):
        request_target("/a?b", "c")
