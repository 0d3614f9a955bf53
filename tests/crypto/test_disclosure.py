"""Disclosure signatures and officer key files: each signature is bound to its role, digest and key."""

from __future__ import annotations

import json

import nacl.pwhash
import pytest

from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_SUBMIT,
    DisclosureSignatureError,
    OfficerKeyFileError,
    OfficerSecrets,
    court_verdict,
    decrypt_officer_key,
    encrypt_officer_key,
    new_officer_secrets,
    public_key,
    request_digest,
    sign_court_order,
    sign_decision,
    sign_officer,
    verify_court_order,
    verify_decision,
    verify_officer,
)
from escrow.crypto.errors import EncodingError
from escrow.crypto.transcript import b64u_encode

FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN, "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
SEED = b"\x07" * 32
DIGEST = request_digest({"case": "1", "scope": []})
OTHER_DIGEST = request_digest({"case": "2", "scope": []})


def test_officer_signature_verifies_for_its_role_and_digest_only() -> None:
    signature = sign_officer(SEED, ROLE_SUBMIT, DIGEST)
    verify_officer(public_key(SEED), ROLE_SUBMIT, DIGEST, signature)
    with pytest.raises(DisclosureSignatureError):
        verify_officer(public_key(SEED), ROLE_COSIGN, DIGEST, signature)  # a submission is no co-signature
    with pytest.raises(DisclosureSignatureError):
        verify_officer(public_key(SEED), ROLE_SUBMIT, OTHER_DIGEST, signature)  # nor for another request
    with pytest.raises(DisclosureSignatureError):
        verify_officer(public_key(b"\x08" * 32), ROLE_SUBMIT, DIGEST, signature)  # nor by another key
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(DisclosureSignatureError):
        verify_officer(public_key(SEED), ROLE_SUBMIT, DIGEST, flipped)


@pytest.mark.parametrize(
    ("role", "digest", "signature"),
    [
        ("approve", DIGEST, b"\x00" * 64),
        (ROLE_SUBMIT, b"\x00" * 31, b"\x00" * 64),
        (ROLE_SUBMIT, DIGEST, b"\x00"),
    ],
)
def test_malformed_officer_signature_inputs_are_encoding_errors(
    role: str, digest: bytes, signature: bytes
) -> None:
    with pytest.raises(EncodingError):
        verify_officer(public_key(SEED), role, digest, signature)


def test_wrong_length_seed_is_refused() -> None:
    with pytest.raises(EncodingError):
        public_key(b"\x01" * 31)


def test_holder_decision_is_bound_to_decision_and_detail() -> None:
    signature = sign_decision(SEED, DIGEST, "approve", b"partials")
    verify_decision(public_key(SEED), DIGEST, "approve", b"partials", signature)
    with pytest.raises(DisclosureSignatureError):
        verify_decision(public_key(SEED), DIGEST, "reject", b"partials", signature)
    with pytest.raises(DisclosureSignatureError):
        verify_decision(public_key(SEED), DIGEST, "approve", b"other partials", signature)
    with pytest.raises(EncodingError):
        sign_decision(SEED, DIGEST, "maybe", b"")


def test_court_order_signature_covers_the_document() -> None:
    signature = sign_court_order(SEED, b"%PDF-order")
    verify_court_order(public_key(SEED), b"%PDF-order", signature)
    with pytest.raises(DisclosureSignatureError):
        verify_court_order(public_key(SEED), b"%PDF-other", signature)


def test_court_verdict_is_one_function_for_server_and_holder_tool() -> None:
    key, signature = public_key(SEED), sign_court_order(SEED, b"%PDF-order")
    assert court_verdict(key, b"%PDF-order", signature) == "verified"
    assert court_verdict(key, b"%PDF-order", None) == "unsigned"
    assert court_verdict(key, b"%PDF-other", signature) == "signature-invalid"
    assert court_verdict(public_key(b"\x08" * 32), b"%PDF-order", signature) == "signature-invalid"
    assert court_verdict(None, b"%PDF-order", signature) == "signature-invalid"
    assert court_verdict(key, b"%PDF-order", signature[:-1]) == "signature-invalid"
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert court_verdict(key, b"%PDF-order", flipped) == "signature-invalid"


def test_request_digest_refuses_non_canonical_bodies() -> None:
    with pytest.raises(EncodingError):
        request_digest({"amount": 1.5})


def test_officer_key_file_round_trips_and_hides_the_seed() -> None:
    secrets = new_officer_secrets("alice")
    data = encrypt_officer_key(secrets, "pass phrase", **FAST)
    assert b64u_encode(secrets.signing_seed).encode() not in data
    opened = decrypt_officer_key(data, "pass phrase")
    assert opened.username == "alice"
    assert opened.public_key == secrets.public_key
    assert "<hidden>" in repr(opened)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {**d, "format": "escrow-holder-file"}, "not an officer key file"),
        (lambda d: {**d, "version": 2}, "unsupported"),
        (lambda d: {**d, "aead": "aes"}, "algorithms"),
        (lambda d: {**d, "nonce": "!"}, "bad header"),
        (lambda d: {**d, "kdf": {**d["kdf"], "opslimit": 10**6}}, "out of range"),
        (lambda d: {**d, "public_key": "AAAA"}, "wrong passphrase or damaged file"),
    ],
)
def test_tampered_or_foreign_key_files_are_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(encrypt_officer_key(OfficerSecrets("bob", SEED), "pass phrase", **FAST))
    with pytest.raises(OfficerKeyFileError, match=message):
        decrypt_officer_key(json.dumps(change(document)).encode(), "pass phrase")


def test_key_file_needs_the_right_passphrase_and_json() -> None:
    data = encrypt_officer_key(OfficerSecrets("bob", SEED), "pass phrase", **FAST)
    with pytest.raises(OfficerKeyFileError, match="wrong passphrase"):
        decrypt_officer_key(data, "other phrase")
    with pytest.raises(OfficerKeyFileError, match="passphrase is required"):
        decrypt_officer_key(data, "")
    with pytest.raises(OfficerKeyFileError, match="not JSON"):
        decrypt_officer_key(b"\xff", "pass phrase")
    with pytest.raises(OfficerKeyFileError, match="passphrase is required"):
        encrypt_officer_key(OfficerSecrets("bob", SEED), "", **FAST)
    with pytest.raises(OfficerKeyFileError, match="out of range"):
        encrypt_officer_key(OfficerSecrets("bob", SEED), "x", opslimit=10**6, memlimit=FAST["memlimit"])
