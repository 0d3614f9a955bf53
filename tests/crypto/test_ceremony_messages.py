"""Holder identities, signed ceremony messages, sealed share transport and publicly checkable box keys."""

from __future__ import annotations

import pytest

from escrow.crypto.ceremony_messages import (
    HolderPublicKeys,
    InvalidSignatureError,
    ShareTransportError,
    b64,
    box_key,
    digests_equal,
    fingerprint,
    generate_holder_keys,
    open_share,
    open_share_with_box_key,
    public_keys,
    seal_share,
    sign_message,
    sign_request,
    transcript_hash,
    unb64,
    verify_message,
    verify_request,
)
from escrow.crypto.errors import EncodingError
from escrow.crypto.group import Scalar
from tests.crypto.support import SeededRandom


@pytest.fixture
def alice() -> tuple[bytes, bytes]:
    return generate_holder_keys(rand=SeededRandom(b"alice"))


@pytest.fixture
def bob() -> tuple[bytes, bytes]:
    return generate_holder_keys(rand=SeededRandom(b"bob"))


def test_message_signature_verifies_under_signer_key(alice: tuple[bytes, bytes]) -> None:
    body = {"kind": "round1", "ceremony": 1}

    signature = sign_message(alice[0], body)

    verify_message(public_keys(*alice).signing_key, body, signature)


def test_message_signature_fails_for_other_holder(
    alice: tuple[bytes, bytes], bob: tuple[bytes, bytes]
) -> None:
    body = {"kind": "round1"}

    with pytest.raises(InvalidSignatureError):
        verify_message(public_keys(*bob).signing_key, body, sign_message(alice[0], body))


def test_message_signature_fails_for_changed_body(alice: tuple[bytes, bytes]) -> None:
    signature = sign_message(alice[0], {"kind": "round1"})

    with pytest.raises(InvalidSignatureError):
        verify_message(public_keys(*alice).signing_key, {"kind": "round2"}, signature)


def test_message_signature_of_wrong_length_is_refused(alice: tuple[bytes, bytes]) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_message(public_keys(*alice).signing_key, {}, b"\x00" * 63)


def test_request_signature_is_not_a_message_signature(alice: tuple[bytes, bytes]) -> None:
    # Domain separation: a signed request can never be replayed as a signed ceremony message.
    signature = sign_request(alice[0], "post", "/api/x", 5, b"{}")
    verify_request(public_keys(*alice).signing_key, "POST", "/api/x", 5, b"{}", signature)

    with pytest.raises(InvalidSignatureError):
        verify_request(public_keys(*alice).signing_key, "POST", "/api/x", 6, b"{}", signature)


def test_sealed_share_opens_only_for_recipient(alice: tuple[bytes, bytes], bob: tuple[bytes, bytes]) -> None:
    share = Scalar.from_int(12345)
    sealed = seal_share(public_keys(*bob).exchange_key, share)

    assert open_share(bob[1], sealed) == share
    with pytest.raises(ShareTransportError):
        open_share(alice[1], sealed)


def test_revealed_box_key_lets_anyone_open_that_box(bob: tuple[bytes, bytes]) -> None:
    share = Scalar.from_int(99)
    bob_public = public_keys(*bob).exchange_key
    sealed = seal_share(bob_public, share)

    revealed = box_key(bob[1], sealed)

    assert open_share_with_box_key(bob_public, sealed, revealed) == share


def test_made_up_box_key_does_not_open_box(bob: tuple[bytes, bytes]) -> None:
    sealed = seal_share(public_keys(*bob).exchange_key, Scalar.from_int(1))

    with pytest.raises(ShareTransportError):
        open_share_with_box_key(public_keys(*bob).exchange_key, sealed, b"\x01" * 32)


@pytest.mark.parametrize("sealed", [b"", b"\x00" * 10])
def test_truncated_sealed_share_is_refused(bob: tuple[bytes, bytes], sealed: bytes) -> None:
    with pytest.raises(ShareTransportError):
        open_share(bob[1], sealed)
    with pytest.raises(ShareTransportError):
        box_key(bob[1], sealed)
    with pytest.raises(ShareTransportError):
        open_share_with_box_key(public_keys(*bob).exchange_key, sealed, b"\x00" * 32)


def test_sealed_non_scalar_is_refused(bob: tuple[bytes, bytes]) -> None:
    import nacl.bindings

    sealed = nacl.bindings.crypto_box_seal(b"\xff" * 32, public_keys(*bob).exchange_key)

    with pytest.raises(ShareTransportError):
        open_share(bob[1], sealed)


def test_wrong_key_lengths_are_refused() -> None:
    with pytest.raises(EncodingError):
        public_keys(b"short", b"\x00" * 32)
    with pytest.raises(EncodingError):
        HolderPublicKeys(b"\x00" * 31, b"\x00" * 32)
    with pytest.raises(EncodingError):
        seal_share(b"\x00", Scalar.from_int(1))
    with pytest.raises(EncodingError):
        sign_message(b"\x00", {})


def test_fingerprint_is_stable_and_grouped(alice: tuple[bytes, bytes]) -> None:
    key = public_keys(*alice).signing_key

    assert fingerprint(key) == fingerprint(key)
    assert len(fingerprint(key).split(" ")) == 8


def test_transcript_hash_changes_with_any_message() -> None:
    header = {"ceremony": 1}

    assert transcript_hash(header, [{"a": 1}]) != transcript_hash(header, [{"a": 2}])
    assert digests_equal(transcript_hash(header, []), transcript_hash(header, []))


def test_b64_round_trip_and_non_text_refused() -> None:
    assert unb64(b64(b"abc")) == b"abc"
    with pytest.raises(EncodingError):
        unb64(12)
