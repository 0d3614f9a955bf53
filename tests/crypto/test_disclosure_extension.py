"""Extension and withdrawal digests (issue 6): domain-separated, bound to the request, fixed vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_SUBMIT,
    ROLE_WITHDRAW,
    DisclosureSignatureError,
    extension_body,
    extension_digest,
    public_key,
    request_digest,
    sign_officer,
    verify_officer,
    withdrawal_body,
    withdrawal_digest,
)
from escrow.crypto.errors import EncodingError
from escrow.crypto.transcript import canonical_json

SEED = b"\x07" * 32
REQUEST = request_digest({"case": "1", "scope": []})
OTHER_REQUEST = request_digest({"case": "2", "scope": []})


def _extension(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "request_id": 7,
        "request_digest": REQUEST,
        "sequence": 1,
        "old_delay_days": 30,
        "new_delay_days": 90,
        "reason": "ongoing investigation; art. 126bb",
        "order_reference": "2026/CR/0042-EXT-1",
        "order_sha256": None,
        "proposer": "alice",
    }
    fields.update(overrides)
    return extension_body(**fields)  # type: ignore[arg-type]


def _withdrawal(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "request_id": 7,
        "request_digest": REQUEST,
        "officer": "alice",
        "reason": "order set aside on appeal",
    }
    fields.update(overrides)
    return withdrawal_body(**fields)  # type: ignore[arg-type]


# Known answers (docs/disclosure.md#who-signs-what): a second implementation must reproduce these.
EXTENSION_CANONICAL = (
    b'{"kind":"notification-extension","new_delay_days":90,"old_delay_days":30,"order_reference":'
    b'"2026/CR/0042-EXT-1","order_sha256":null,"proposer":"alice","reason":"ongoing investigation; '
    b'art. 126bb","request":7,"request_digest":"EPuVJ9mzmOuhmGaYEa8e1_M1rc8vTUjazjcXkNzHk_Q",'
    b'"sequence":1,"v":1}'
)
EXTENSION_DIGEST_HEX = "15b8686c1dd92042e134c1e6582a9cd55d330aa2882010698ff87f0b5640bbb7"
WITHDRAWAL_DIGEST_HEX = "85b63306272bdfd14147a2f6526507b949fcff92189973e1d5ee651ff8797f2b"
EXTEND_SIGNATURE_HEX = (
    "b0d1268433b5fc38aa30d7b0705ef25d0ae9750377a3a37d471cebb57423f50b"
    "eafae8771c80784bfb611f400e7d00ea4e817c4b242c5943ef51fd5ba549e909"
)


def test_extension_digest_matches_the_fixed_vector_and_an_independent_computation() -> None:
    body = _extension()
    canonical = canonical_json(body)
    assert canonical == EXTENSION_CANONICAL
    independent = hashlib.sha256(b"escrow/v1/disclosure/extension\x00" + canonical).digest()
    assert extension_digest(body) == independent
    assert extension_digest(body).hex() == EXTENSION_DIGEST_HEX
    signature = sign_officer(SEED, ROLE_EXTEND, extension_digest(body))
    assert signature.hex() == EXTEND_SIGNATURE_HEX  # Ed25519 is deterministic (RFC 8032)


def test_withdrawal_digest_matches_the_fixed_vector() -> None:
    body = _withdrawal()
    independent = hashlib.sha256(b"escrow/v1/disclosure/withdrawal\x00" + canonical_json(body)).digest()
    assert withdrawal_digest(body) == independent
    assert withdrawal_digest(body).hex() == WITHDRAWAL_DIGEST_HEX


def test_extension_signature_is_bound_to_its_role_digest_and_request() -> None:
    digest = extension_digest(_extension())
    signature = sign_officer(SEED, ROLE_EXTEND, digest)
    verify_officer(public_key(SEED), ROLE_EXTEND, digest, signature)
    for role in (ROLE_EXTEND_COSIGN, ROLE_SUBMIT, ROLE_COSIGN, ROLE_WITHDRAW):
        with pytest.raises(DisclosureSignatureError):
            verify_officer(public_key(SEED), role, digest, signature)
    replayed = extension_digest(_extension(request_digest=OTHER_REQUEST))
    with pytest.raises(DisclosureSignatureError):
        verify_officer(public_key(SEED), ROLE_EXTEND, replayed, signature)
    # a co-signature of the request itself is no extension co-signature, whatever digest it is tried on
    request_cosign = sign_officer(SEED, ROLE_COSIGN, REQUEST)
    for target in (REQUEST, digest):
        with pytest.raises(DisclosureSignatureError):
            verify_officer(public_key(SEED), ROLE_EXTEND_COSIGN, target, request_cosign)


def test_extension_withdrawal_and_request_digests_never_coincide() -> None:
    # The same fields hashed as a request body, an extension and a withdrawal give three digests.
    body = _extension()
    assert len({request_digest(body), extension_digest(body), withdrawal_digest(body)}) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"request": "7", "request_digest": "AAAA"},
        {"request": 7},
        {"request": 7, "request_digest": "AAAA"},
        {"request": 7, "request_digest": "!!"},
    ],
)
def test_digests_refuse_bodies_that_do_not_name_a_request(body: dict[str, object]) -> None:
    with pytest.raises(EncodingError):
        extension_digest(body)
    with pytest.raises(EncodingError):
        withdrawal_digest(body)


def test_bodies_need_a_32_byte_request_digest() -> None:
    with pytest.raises(EncodingError):
        _extension(request_digest=b"\x00" * 31)
    with pytest.raises(EncodingError):
        _withdrawal(request_digest=b"\x00" * 31)
    with pytest.raises(EncodingError):
        extension_digest({**_extension(), "reason": 1.5})


@given(
    sequence=st.integers(min_value=1, max_value=10**6),
    old=st.integers(min_value=0, max_value=3650),
    new=st.integers(min_value=0, max_value=3650),
    reason=st.text(max_size=40),
    request_id=st.integers(min_value=1, max_value=10**9),
)
def test_any_change_to_an_extension_changes_its_digest(
    sequence: int, old: int, new: int, reason: str, request_id: int
) -> None:
    base = _extension(
        request_id=request_id, sequence=sequence, old_delay_days=old, new_delay_days=new, reason=reason
    )
    digest = extension_digest(base)
    for field, value in (
        ("request", request_id + 1),
        ("sequence", sequence + 1),
        ("old_delay_days", old + 1),
        ("new_delay_days", new + 1),
        ("reason", reason + "."),
        (
            "request_digest",
            extension_body(**{**_args(base), "request_digest": OTHER_REQUEST})["request_digest"],
        ),
    ):
        assert extension_digest({**base, field: value}) != digest


def _args(body: dict[str, object]) -> dict[str, object]:
    return {
        "request_id": body["request"],
        "request_digest": REQUEST,
        "sequence": body["sequence"],
        "old_delay_days": body["old_delay_days"],
        "new_delay_days": body["new_delay_days"],
        "reason": body["reason"],
        "order_reference": body["order_reference"],
        "order_sha256": body["order_sha256"],
        "proposer": body["proposer"],
    }
