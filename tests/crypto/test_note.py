"""Tests for escrow.crypto.note: C2SP signed notes and tlog checkpoints with Ed25519."""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest

from escrow.crypto.note import (
    Checkpoint,
    InvalidKeyNameError,
    InvalidNoteSignatureError,
    MalformedCheckpointError,
    MalformedNoteError,
    MalformedVerifierKeyError,
    NoteError,
    NoteVerifier,
    UnverifiedNoteError,
    format_checkpoint,
    key_hash,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verifier_key_string,
)

NAME = "escrow.example/log"
SEED = b"escrow test seed: note signing!!"  # fixed 32-byte Ed25519 seed, test only
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
# Ed25519 (RFC 8032) signatures are deterministic, so the signed checkpoint is a fixed string.
KAT_VERIFIER_KEY = "escrow.example/log+09b4496a+AXE0mH8Vp9IKC0mPF8JOMOmBMLdH8WNqBW0DkPE60rQl"
KAT_BODY = "escrow.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
KAT_NOTE = (
    KAT_BODY + "\n"
    "\u2014 escrow.example/log CbRJaoEOPKXar/N0VRAH7id/4BsI8aBhxfvMCpw3ba3J9L02lqJ8r8QmY8C1"
    "R+B/Fl5OYIikFZINuPKZIQaEtecIyAw=\n"
)

# The example in golang.org/x/mod/sumdb/note's package documentation: an external vector.
GO_SIGNER_KEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || seed
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture
def signing_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(SEED)


@pytest.fixture
def verifier(signing_key: nacl.signing.SigningKey) -> NoteVerifier:
    return NoteVerifier.from_verify_key(NAME, signing_key.verify_key)


def _signature_line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode('ascii')}\n"


# --- known answers -------------------------------------------------------------------------------


def test_signed_checkpoint_matches_fixed_vector(signing_key: nacl.signing.SigningKey) -> None:
    body = format_checkpoint(NAME, 8, ROOT)
    assert body == KAT_BODY
    assert sign_note(body, NAME, signing_key) == KAT_NOTE
    assert verifier_key_string(NAME, signing_key.verify_key) == KAT_VERIFIER_KEY
    assert open_note(KAT_NOTE, parse_verifier_key(KAT_VERIFIER_KEY)) == KAT_BODY


def test_matches_go_sumdb_note_documentation_example() -> None:
    raw = base64.b64decode(GO_SIGNER_KEY_B64)
    signing_key = nacl.signing.SigningKey(raw[1:])
    assert verifier_key_string("PeterNeumann", signing_key.verify_key) == GO_VERIFIER_KEY
    assert sign_note(GO_TEXT, "PeterNeumann", signing_key) == GO_NOTE
    assert open_note(GO_NOTE, parse_verifier_key(GO_VERIFIER_KEY)) == GO_TEXT


def test_key_hash_is_truncated_sha256_of_name_type_and_key(
    signing_key: nacl.signing.SigningKey,
) -> None:
    public_key = bytes(signing_key.verify_key)
    expected = hashlib.sha256(NAME.encode() + b"\n\x01" + public_key).digest()[:4]
    assert key_hash(NAME, public_key) == expected


# --- round trips ---------------------------------------------------------------------------------


def test_sign_then_open_returns_body(signing_key: nacl.signing.SigningKey, verifier: NoteVerifier) -> None:
    body = "hello\n\nworld, with an empty line inside\n"
    assert open_note(sign_note(body, NAME, signing_key), verifier) == body


def test_verifier_key_string_round_trips(
    signing_key: nacl.signing.SigningKey, verifier: NoteVerifier
) -> None:
    parsed = parse_verifier_key(verifier_key_string(NAME, signing_key.verify_key))
    assert parsed == verifier
    assert parsed.public_key == bytes(signing_key.verify_key)
    assert len(parsed.key_hash) == 4


def test_checkpoint_round_trips_with_extensions() -> None:
    body = format_checkpoint(NAME, 0, ROOT, extensions=["ext one", "ext-2"])
    assert parse_checkpoint(body) == Checkpoint(NAME, 0, ROOT, ("ext one", "ext-2"))
    assert parse_checkpoint(KAT_BODY) == Checkpoint(NAME, 8, ROOT)


def test_opened_checkpoint_parses(signing_key: nacl.signing.SigningKey) -> None:
    # Given a signed checkpoint
    note = sign_note(format_checkpoint(NAME, 2**63 - 1, ROOT), NAME, signing_key)
    # When it is opened and parsed
    checkpoint = parse_checkpoint(open_note(note, parse_verifier_key(KAT_VERIFIER_KEY)))
    # Then the values come back
    assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (NAME, 2**63 - 1, ROOT)


# --- open_note: signatures -----------------------------------------------------------------------


def test_tampered_body_is_rejected(verifier: NoteVerifier) -> None:
    tampered = KAT_NOTE.replace("\n8\n", "\n9\n")
    with pytest.raises(InvalidNoteSignatureError):
        open_note(tampered, verifier)


@pytest.mark.parametrize("position", [0, 3, 4, 20, 67])
def test_tampered_signature_is_rejected(verifier: NoteVerifier, position: int) -> None:
    raw = bytearray(key_hash(NAME, verifier.public_key) + _kat_signature())
    raw[position] ^= 0x01
    note = KAT_BODY + "\n" + _signature_line(NAME, bytes(raw))
    # Flipping a key-hash byte makes the line an unknown key's; flipping the signature fails it.
    expected = UnverifiedNoteError if position < 4 else InvalidNoteSignatureError
    with pytest.raises(UnverifiedNoteError) as info:
        open_note(note, verifier)
    assert type(info.value) is expected


def _kat_signature() -> bytes:
    line = KAT_NOTE.rsplit(" ", 1)[1].strip()
    return base64.b64decode(line)[4:]


def test_wrong_key_is_rejected() -> None:
    other = nacl.signing.SigningKey(b"\x07" * 32)
    other_verifier = NoteVerifier.from_verify_key(NAME, other.verify_key)
    with pytest.raises(UnverifiedNoteError):
        open_note(KAT_NOTE, other_verifier)


def test_known_key_hash_with_wrong_public_key_fails_verification(verifier: NoteVerifier) -> None:
    # An attacker can collide the 4-byte key hash; the configured public key still decides.
    impostor = NoteVerifier(
        name=NAME,
        key_hash=verifier.key_hash,
        public_key=bytes(nacl.signing.SigningKey(b"\x09" * 32).verify_key),
    )
    with pytest.raises(InvalidNoteSignatureError):
        open_note(KAT_NOTE, impostor)


def test_signature_by_unknown_name_is_ignored_but_not_sufficient(
    verifier: NoteVerifier,
) -> None:
    # Given a note signed by another key, then by ours
    witness = nacl.signing.SigningKey(b"\x05" * 32)
    witnessed = sign_note(KAT_BODY, "witness.example", witness)
    both = witnessed + KAT_NOTE.split("\n\n", 1)[1]
    # Then ours alone verifies it
    assert open_note(both, verifier) == KAT_BODY
    # And the other signature alone does not
    with pytest.raises(UnverifiedNoteError) as info:
        open_note(witnessed, verifier)
    assert not isinstance(info.value, InvalidNoteSignatureError)


def test_unknown_signature_of_other_algorithm_length_is_ignored(verifier: NoteVerifier) -> None:
    other = _signature_line("witness.example", b"\x00\x01\x02\x03" + b"\xaa" * 100)
    assert open_note(KAT_NOTE + other, verifier) == KAT_BODY


def test_known_key_signature_of_wrong_length_is_rejected(verifier: NoteVerifier) -> None:
    line = _signature_line(NAME, verifier.key_hash + _kat_signature()[:63])
    with pytest.raises(InvalidNoteSignatureError):
        open_note(KAT_BODY + "\n" + line, verifier)


def test_invalid_signature_from_known_key_rejects_note_even_with_valid_one(
    verifier: NoteVerifier,
) -> None:
    bad = _signature_line(NAME, verifier.key_hash + b"\x00" * 64)
    with pytest.raises(InvalidNoteSignatureError):
        open_note(KAT_NOTE + bad, verifier)


def test_errors_share_one_family() -> None:
    assert issubclass(InvalidNoteSignatureError, UnverifiedNoteError)
    assert issubclass(MalformedCheckpointError, MalformedNoteError)
    for error in (MalformedNoteError, UnverifiedNoteError, InvalidKeyNameError):
        assert issubclass(error, NoteError)


# --- open_note: malformed notes ------------------------------------------------------------------

_SIG_BLOCK = KAT_NOTE[len(KAT_BODY) + 1 :]


@pytest.mark.parametrize(
    "note",
    [
        pytest.param(KAT_BODY + _SIG_BLOCK, id="missing-blank-line"),
        pytest.param(KAT_NOTE[:-1], id="no-final-newline"),
        pytest.param(KAT_BODY + "\n", id="no-signature-lines"),
        pytest.param(KAT_NOTE.replace("\u2014", "-"), id="hyphen-not-em-dash"),
        pytest.param(KAT_NOTE.replace("\u2014 ", "\u2014"), id="no-space-after-dash"),
        pytest.param(KAT_NOTE.replace(f"{NAME} ", NAME), id="no-space-after-name"),
        pytest.param(KAT_NOTE.replace("CbRJ", "Cb!J"), id="bad-base64-char"),
        pytest.param(KAT_NOTE.replace("yAw=", "yAw"), id="bad-base64-padding"),
        pytest.param(KAT_NOTE.replace("yAw=", "yAx="), id="non-canonical-base64"),
        pytest.param(KAT_BODY + "\n" + _signature_line(NAME, b"\x09\xb4\x49\x6a"), id="key-hash-only"),
        pytest.param(KAT_BODY + "\n" + _signature_line(NAME, b"\x09\xb4"), id="short-key-hash"),
        pytest.param(KAT_BODY + "\n\u2014  AAAAAAA=\n", id="empty-name"),
        pytest.param(KAT_BODY + "\n" + _signature_line("a+b", b"\x00" * 68), id="plus-in-name"),
        pytest.param(KAT_NOTE.replace("\n8\n", "\n8\r\n"), id="control-character"),
        pytest.param(KAT_NOTE.replace("\n8\n", "\n8\ud800\n"), id="lone-surrogate"),
        pytest.param(KAT_NOTE + "\n", id="trailing-blank-line"),
        pytest.param(KAT_NOTE + _SIG_BLOCK * 100, id="too-many-signatures"),
        pytest.param(b"bytes\n\n", id="not-str"),
    ],
)
def test_malformed_note_is_rejected(note: str, verifier: NoteVerifier) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(note, verifier)


def test_many_signatures_up_to_limit_are_accepted(verifier: NoteVerifier) -> None:
    assert open_note(KAT_NOTE + _SIG_BLOCK * 99, verifier) == KAT_BODY


# --- sign_note -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "no newline", "a\tb\n", "\ud800\n", b"bytes\n"])
def test_sign_rejects_malformed_body(body: str, signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(MalformedNoteError):
        sign_note(body, NAME, signing_key)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\x00b", "\ud800", None])
def test_sign_rejects_invalid_name(name: str, signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(InvalidKeyNameError):
        sign_note(KAT_BODY, name, signing_key)
    with pytest.raises(InvalidKeyNameError):
        verifier_key_string(name, signing_key.verify_key)
    with pytest.raises(InvalidKeyNameError):
        NoteVerifier.from_verify_key(name, signing_key.verify_key)


def test_key_hash_rejects_wrong_public_key_length() -> None:
    with pytest.raises(MalformedVerifierKeyError):
        key_hash(NAME, b"\x00" * 31)


# --- parse_verifier_key --------------------------------------------------------------------------

_KEY_B64 = KAT_VERIFIER_KEY.rsplit("+", 1)[1]


def _with_key(raw: bytes, hash_hex: str = "09b4496a") -> str:
    return f"{NAME}+{hash_hex}+{base64.b64encode(raw).decode('ascii')}"


@pytest.mark.parametrize(
    "verifier_key",
    [
        pytest.param(f"{NAME}+09b4496a", id="two-fields"),
        pytest.param(f"{NAME}+09b4496a+{_KEY_B64}+x", id="four-fields"),
        pytest.param(f"+09b4496a+{_KEY_B64}", id="empty-name"),
        pytest.param(f"a b+09b4496a+{_KEY_B64}", id="space-in-name"),
        pytest.param(f"{NAME}+09b4496+{_KEY_B64}", id="short-hash"),
        pytest.param(f"{NAME}+09B4496A+{_KEY_B64}", id="uppercase-hash"),
        pytest.param(f"{NAME}+09b4496g+{_KEY_B64}", id="non-hex-hash"),
        pytest.param(f"{NAME}+19b4496a+{_KEY_B64}", id="wrong-hash"),
        pytest.param(f"other.example+09b4496a+{_KEY_B64}", id="hash-of-other-name"),
        pytest.param(f"{NAME}+09b4496a+{_KEY_B64[:-1]}", id="bad-base64"),
        pytest.param(f"{NAME}+09b4496a+{_KEY_B64}\u00e9", id="non-ascii-base64"),
        pytest.param(_with_key(b"\x02" + b"\x11" * 32), id="wrong-algorithm"),
        pytest.param(_with_key(b"\x01" + b"\x11" * 31), id="short-key"),
        pytest.param(_with_key(b"\x01" + b"\x11" * 33), id="long-key"),
        pytest.param(_with_key(b""), id="empty-key"),
        pytest.param(_with_key(b"\x01" + b"\x00" * 32), id="small-order-point"),
        pytest.param(b"bytes", id="not-str"),
    ],
)
def test_malformed_verifier_key_is_rejected(verifier_key: str) -> None:
    with pytest.raises(MalformedVerifierKeyError):
        parse_verifier_key(verifier_key)


# --- checkpoints ---------------------------------------------------------------------------------

_ROOT_B64 = base64.b64encode(ROOT).decode("ascii")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"{NAME}\n8\n{_ROOT_B64}", id="no-final-newline"),
        pytest.param(f"{NAME}\n8\n", id="two-lines"),
        pytest.param(f"\n8\n{_ROOT_B64}\n", id="empty-origin"),
        pytest.param(f"{NAME}\n08\n{_ROOT_B64}\n", id="leading-zero"),
        pytest.param(f"{NAME}\n00\n{_ROOT_B64}\n", id="double-zero"),
        pytest.param(f"{NAME}\n-1\n{_ROOT_B64}\n", id="negative"),
        pytest.param(f"{NAME}\n+8\n{_ROOT_B64}\n", id="plus-sign"),
        pytest.param(f"{NAME}\n 8\n{_ROOT_B64}\n", id="space"),
        pytest.param(f"{NAME}\n1_0\n{_ROOT_B64}\n", id="underscore"),
        pytest.param(f"{NAME}\n\u0668\n{_ROOT_B64}\n", id="non-ascii-digit"),
        pytest.param(f"{NAME}\n\n{_ROOT_B64}\n", id="empty-size"),
        pytest.param(f"{NAME}\n{2**63}\n{_ROOT_B64}\n", id="size-overflow"),
        pytest.param(f"{NAME}\n{'9' * 5000}\n{_ROOT_B64}\n", id="huge-size"),
        pytest.param(f"{NAME}\n8\n{base64.b64encode(ROOT[:31]).decode()}\n", id="short-root"),
        pytest.param(f"{NAME}\n8\n{base64.b64encode(ROOT + b'x').decode()}\n", id="long-root"),
        pytest.param(f"{NAME}\n8\n{ROOT.hex()}\n", id="hex-root"),
        pytest.param(f"{NAME}\n8\n{_ROOT_B64}\n\n", id="empty-extension"),
        pytest.param(f"{NAME}\n8\n{_ROOT_B64}\na\tb\n", id="control-in-extension"),
        pytest.param(None, id="not-str"),
    ],
)
def test_malformed_checkpoint_is_rejected(body: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        parse_checkpoint(body)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        pytest.param("", 1, ROOT, (), id="empty-origin"),
        pytest.param("a\nb", 1, ROOT, (), id="newline-in-origin"),
        pytest.param("\ud800", 1, ROOT, (), id="lone-surrogate-origin"),
        pytest.param(NAME, -1, ROOT, (), id="negative-size"),
        pytest.param(NAME, 2**63, ROOT, (), id="size-overflow"),
        pytest.param(NAME, True, ROOT, (), id="bool-size"),
        pytest.param(NAME, "8", ROOT, (), id="str-size"),
        pytest.param(NAME, 1, ROOT[:31], (), id="short-root"),
        pytest.param(NAME, 1, ROOT.hex(), (), id="str-root"),
        pytest.param(NAME, 1, ROOT, ("",), id="empty-extension"),
        pytest.param(NAME, 1, ROOT, ("a\nb",), id="newline-in-extension"),
        pytest.param(NAME, 1, ROOT, "ext", id="str-extensions"),
    ],
)
def test_format_checkpoint_rejects_invalid_values(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(MalformedCheckpointError):
        format_checkpoint(origin, size, root, extensions=extensions)


def test_verifier_key_whose_base64_contains_plus_round_trips() -> None:
    # Regression: a key whose standard base64 holds '+' was refused as having too many fields.
    import nacl.signing as _signing

    from escrow.crypto.note import parse_verifier_key as _parse
    from escrow.crypto.note import verifier_key_string as _format

    seed = next(
        bytes([i]) * 32
        for i in range(256)
        if "+" in _format("escrow.test/log", _signing.SigningKey(bytes([i]) * 32).verify_key).split("+", 2)[2]
    )
    key = _signing.SigningKey(seed).verify_key
    text = _format("escrow.test/log", key)
    assert _parse(text).public_key == bytes(key)
