"""Ed25519 signed notes and log checkpoints: C2SP signed-note v1 and tlog-checkpoint v1."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing

from escrow.crypto.errors import CryptoError

__all__ = [
    "Checkpoint",
    "Cosignature",
    "CosignerKey",
    "InvalidCosignatureError",
    "add_signature_lines",
    "cosign",
    "cosigned_message",
    "cosigner_key_hash",
    "parse_cosigner_vkey",
    "verify_cosignatures",
    "InvalidKeyNameError",
    "InvalidNoteSignatureError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "MalformedVerifierKeyError",
    "NoteError",
    "NoteVerifier",
    "UnverifiedNoteError",
    "format_checkpoint",
    "key_hash",
    "open_note",
    "split_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_note",
    "verifier_key_string",
]

ED25519_SIGNATURE_TYPE = b"\x01"  # c2sp.org/signed-note "Signature types": 0x01 = Ed25519
KEY_HASH_SIZE = 4  # c2sp.org/signed-note: uint32 key ID, big-endian
_PUBLIC_KEY_SIZE = 32  # RFC 8032 §5.1.5
_SIGNATURE_SIZE = 64  # RFC 8032 §5.1.6
_ROOT_HASH_SIZE = 32  # tlog-checkpoint: RFC 6962 SHA-256 root
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space: c2sp.org/signed-note "Format"
# c2sp.org/signed-note: verifiers SHOULD cap signatures and MUST accept 16; Go's note caps at 100.
MAX_SIGNATURES = 100
# Go's tlog stores sizes as int64; a longer decimal string cannot be a real tree size.
_MAX_TREE_SIZE = 2**63 - 1


class NoteError(CryptoError):
    """Base class for every signed-note and checkpoint error raised by this module."""


class MalformedNoteError(NoteError, ValueError):
    """A note's text or signature block does not follow c2sp.org/signed-note."""


class MalformedCheckpointError(MalformedNoteError):
    """A note body is not a valid c2sp.org/tlog-checkpoint."""


class UnverifiedNoteError(NoteError):
    """A note carries no valid signature by the expected key."""


class InvalidNoteSignatureError(UnverifiedNoteError):
    """A signature line names the expected key, but its signature does not verify."""


class InvalidKeyNameError(NoteError, ValueError):
    """A key name is empty or contains a space, a '+' or a control character."""


class MalformedVerifierKeyError(NoteError, ValueError):
    """A verifier key string is not '<name>+<hex key hash>+<base64(0x01 || public key)>'."""


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """An Ed25519 note verifier: key name, 4-byte key hash and 32-byte public key."""

    name: str
    key_hash: bytes
    public_key: bytes

    @classmethod
    def from_verify_key(cls, name: str, verify_key: nacl.signing.VerifyKey) -> NoteVerifier:
        """Return the verifier of name and verify_key. Raises InvalidKeyNameError for a bad name."""
        _check_name(name, InvalidKeyNameError)
        public_key = bytes(verify_key)
        return cls(name=name, key_hash=key_hash(name, public_key), public_key=public_key)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed tlog-checkpoint body: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _check_name(name: object, error: type[NoteError]) -> str:
    # c2sp.org/signed-note: non-empty, no Unicode spaces, no '+'. Control characters would break
    # the line format, so they are refused too.
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or any(ch.isspace() or ord(ch) < 0x20 for ch in name)
        or not _is_utf8(name)
    ):
        raise error("key name must be non-empty without spaces, '+' or control characters")
    return name


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _b64decode(text: str, error: type[NoteError]) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as e:
        raise error("invalid base64") from e
    # Refuse non-canonical encodings (stray padding bits) so each value has one spelling.
    if base64.b64encode(raw).decode("ascii") != text:
        raise error("non-canonical base64")
    return raw


def key_hash(name: str, public_key: bytes) -> bytes:
    """Return the 4-byte Ed25519 key hash SHA-256(name || 0x0A || 0x01 || public_key)[:4].

    Raises InvalidKeyNameError for a bad name, MalformedVerifierKeyError if public_key is not 32
    bytes.
    """
    _check_name(name, InvalidKeyNameError)
    if not isinstance(public_key, bytes) or len(public_key) != _PUBLIC_KEY_SIZE:
        raise MalformedVerifierKeyError(f"public key must be {_PUBLIC_KEY_SIZE} bytes")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_SIGNATURE_TYPE + public_key)
    return digest.digest()[:KEY_HASH_SIZE]


def verifier_key_string(name: str, verify_key: nacl.signing.VerifyKey) -> str:
    """Return '<name>+<hex key hash>+<base64(0x01 || public key)>' (golang.org/x/mod/sumdb/note).

    Raises InvalidKeyNameError for a bad name.
    """
    public_key = bytes(verify_key)
    hash_hex = key_hash(name, public_key).hex()
    key_b64 = base64.b64encode(ED25519_SIGNATURE_TYPE + public_key).decode("ascii")
    return f"{name}+{hash_hex}+{key_b64}"


def parse_verifier_key(verifier_key: str) -> NoteVerifier:
    """Return the NoteVerifier encoded by a '<name>+<hex key hash>+<base64 key>' string.

    Raises MalformedVerifierKeyError if the string is malformed, the key type is not Ed25519,
    the public key is not a valid Ed25519 point, or the key hash does not match name and key.
    """
    if not isinstance(verifier_key, str):
        raise MalformedVerifierKeyError("verifier key must be a str")
    # The name has no '+' and the hash is hex, but standard base64 may contain '+': split twice only,
    # as golang.org/x/mod/sumdb/note does.
    parts = verifier_key.split("+", 2)
    if len(parts) != 3:
        raise MalformedVerifierKeyError("verifier key must have three '+'-separated fields")
    name, hash_hex, key_b64 = parts
    _check_name(name, MalformedVerifierKeyError)
    if len(hash_hex) != 2 * KEY_HASH_SIZE or any(ch not in "0123456789abcdef" for ch in hash_hex):
        raise MalformedVerifierKeyError("key hash must be 8 lowercase hex digits")
    raw = _b64decode(key_b64, MalformedVerifierKeyError)
    if raw[:1] != ED25519_SIGNATURE_TYPE or len(raw) != 1 + _PUBLIC_KEY_SIZE:
        raise MalformedVerifierKeyError("key must be 0x01 followed by a 32-byte Ed25519 key")
    public_key = raw[1:]
    # Reject small-order and non-canonical points up front: no signature could be trusted.
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(public_key):
        raise MalformedVerifierKeyError("public key is not a valid Ed25519 point")
    expected = key_hash(name, public_key)
    if not hmac.compare_digest(bytes.fromhex(hash_hex), expected):
        raise MalformedVerifierKeyError("key hash does not match name and key")
    return NoteVerifier(name=name, key_hash=expected, public_key=public_key)


def _check_text(text: object) -> str:
    # c2sp.org/signed-note "Format": non-empty text ending in newline, valid UTF-8, no ASCII
    # control characters except newline.
    if not isinstance(text, str) or not text or not text.endswith("\n"):
        raise MalformedNoteError("note text must be a non-empty str ending in a newline")
    if _has_control(text) or not _is_utf8(text):
        raise MalformedNoteError("note text must be UTF-8 without control characters")
    return text


def sign_note(body: str, name: str, signing_key: nacl.signing.SigningKey) -> str:
    """Return body signed by signing_key as a signed note with one signature line for name.

    Raises MalformedNoteError if body is not valid note text (non-empty, ending in a newline,
    no control characters but newline); InvalidKeyNameError for a bad name.
    """
    _check_text(body)
    _check_name(name, InvalidKeyNameError)
    public_key = bytes(signing_key.verify_key)
    signature = signing_key.sign(body.encode("utf-8")).signature
    encoded = base64.b64encode(key_hash(name, public_key) + signature).decode("ascii")
    return f"{body}\n{_SIGNATURE_PREFIX}{name} {encoded}\n"


def open_note(note_text: str, verifier: NoteVerifier) -> str:
    """Return the body of note_text after checking verifier's signature on it.

    Signature lines from other keys (a different name or key hash) are ignored, as
    c2sp.org/signed-note requires, but they never suffice on their own.

    Raises MalformedNoteError if the note does not follow c2sp.org/signed-note (no blank line
    before the signatures, a line without the em dash prefix, a bad name, bad base64, a signature
    shorter than a key hash plus one byte, more than MAX_SIGNATURES lines);
    InvalidNoteSignatureError if a line by verifier does not verify; UnverifiedNoteError if no
    line by verifier is present.
    """
    body, lines = split_note(note_text)
    is_verified = False
    for name, signature in lines:
        if name != verifier.name or signature[:KEY_HASH_SIZE] != verifier.key_hash:
            continue
        _verify_signature(body, signature[KEY_HASH_SIZE:], verifier)
        is_verified = True
    if not is_verified:
        raise UnverifiedNoteError(f"note carries no signature by {verifier.name}")
    return body


def split_note(note_text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Return a note's text and its signature lines as (key name, key hash || signature) pairs.

    Checks only the format (c2sp.org/signed-note), never a signature. Raises MalformedNoteError as
    open_note does.
    """
    if not isinstance(note_text, str):
        raise MalformedNoteError("note must be a str")
    if _has_control(note_text) or not _is_utf8(note_text):
        raise MalformedNoteError("note must be UTF-8 without control characters")
    # The text ends at the LAST blank line: the text itself may contain blank lines.
    split = note_text.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    body, signature_block = note_text[: split + 1], note_text[split + 2 :]
    if not signature_block.endswith("\n"):
        raise MalformedNoteError("note has no signature lines ending in a newline")
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError("note has too many signatures")
    return body, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise MalformedNoteError("signature line must start with an em dash and a space")
    name, space, signature_b64 = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise MalformedNoteError("signature line must be '<name> <base64 signature>'")
    _check_name(name, MalformedNoteError)
    signature = _b64decode(signature_b64, MalformedNoteError)
    if len(signature) <= KEY_HASH_SIZE:
        raise MalformedNoteError("signature must hold a 4-byte key hash and a signature")
    return name, signature


def _verify_signature(body: str, signature: bytes, verifier: NoteVerifier) -> None:
    if len(signature) != _SIGNATURE_SIZE:
        raise InvalidNoteSignatureError(f"Ed25519 signature by {verifier.name} has wrong length")
    try:
        nacl.signing.VerifyKey(verifier.public_key).verify(body.encode("utf-8"), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as e:
        raise InvalidNoteSignatureError(f"signature by {verifier.name} does not verify") from e


def _check_line(line: object, what: str) -> str:
    if not isinstance(line, str) or not line or "\n" in line or _has_control(line):
        raise MalformedCheckpointError(f"{what} must be a non-empty line, no control characters")
    if not _is_utf8(line):
        raise MalformedCheckpointError(f"{what} must be UTF-8")
    return line


def format_checkpoint(origin: str, size: int, root_hash: bytes, *, extensions: Sequence[str] = ()) -> str:
    """Return the tlog-checkpoint body 'origin\\nsize\\nbase64(root_hash)\\n[extension\\n...]'.

    Raises MalformedCheckpointError if origin or an extension line is empty or contains a newline
    or control character, size is not an int in [0, 2**63), or root_hash is not 32 bytes.
    """
    _check_line(origin, "origin")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_TREE_SIZE:
        raise MalformedCheckpointError("tree size must be an int in [0, 2**63)")
    if not isinstance(root_hash, bytes) or len(root_hash) != _ROOT_HASH_SIZE:
        raise MalformedCheckpointError(f"root hash must be {_ROOT_HASH_SIZE} bytes")
    if isinstance(extensions, str):
        raise MalformedCheckpointError("extensions must be a sequence of lines, not a str")
    lines = [origin, str(size), base64.b64encode(root_hash).decode("ascii")]
    lines.extend(_check_line(line, "extension line") for line in extensions)
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(body: str) -> Checkpoint:
    """Return the Checkpoint in a tlog-checkpoint note body (as returned by open_note).

    Raises MalformedCheckpointError if the body does not end in a newline, has fewer than three
    lines, an empty line, a tree size that is not canonical decimal (leading zero, sign, spaces)
    or exceeds 2**63 - 1, or a root hash that is not canonical base64 of 32 bytes.
    """
    if not isinstance(body, str) or not body.endswith("\n"):
        raise MalformedCheckpointError("checkpoint body must be a str ending in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpointError("checkpoint needs origin, size and root hash lines")
    origin = _check_line(lines[0], "origin")
    size_text = _check_line(lines[1], "tree size")
    # tlog-checkpoint: ASCII decimal without leading zeroes; Python's int() would accept '+5',
    # ' 5', '0_5' and non-ASCII digits, so the digits are checked first.
    if (
        not size_text.isascii()
        or not size_text.isdigit()
        or (size_text != "0" and size_text.startswith("0"))
        or len(size_text) > len(str(_MAX_TREE_SIZE))
    ):
        raise MalformedCheckpointError("tree size must be canonical ASCII decimal")
    size = int(size_text)
    if size > _MAX_TREE_SIZE:
        raise MalformedCheckpointError("tree size exceeds 2**63 - 1")
    root_hash = _b64decode(_check_line(lines[2], "root hash"), MalformedCheckpointError)
    if len(root_hash) != _ROOT_HASH_SIZE:
        raise MalformedCheckpointError(f"root hash must be {_ROOT_HASH_SIZE} bytes")
    extensions = tuple(_check_line(line, "extension line") for line in lines[3:])
    return Checkpoint(origin=origin, size=size, root_hash=root_hash, extensions=extensions)


# --- c2sp.org/tlog-cosignature v1 (Ed25519): a witness's timestamped statement on a checkpoint ---

COSIGNATURE_TYPE = b"\x04"  # tlog-cosignature: key ID algorithm byte (and vkey type) of cosignature/v1
COSIGNATURE_HEADER = "cosignature/v1\n"
_TIMESTAMP_SIZE = 8  # u64, big-endian (RFC 8446 section 3.3)
_MAX_TIMESTAMP = 2**63 - 1


class InvalidCosignatureError(UnverifiedNoteError):
    """A cosignature line names the expected cosigner but does not verify, or is malformed."""


@dataclass(frozen=True, slots=True)
class CosignerKey:
    """A cosigner (witness): its name, 4-byte key ID (algorithm byte 0x04) and Ed25519 public key."""

    name: str
    key_hash: bytes
    public_key: bytes

    @classmethod
    def from_verify_key(cls, name: str, verify_key: nacl.signing.VerifyKey) -> CosignerKey:
        """Return the cosigner key of name. Raises InvalidKeyNameError for a bad name."""
        public_key = bytes(verify_key)
        return cls(name=name, key_hash=cosigner_key_hash(name, public_key), public_key=public_key)

    @property
    def vkey(self) -> str:
        """'<name>+<hex key ID>+<base64(0x04 || public key)>' (a signed-note vkey of type 0x04)."""
        key_b64 = base64.b64encode(COSIGNATURE_TYPE + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{key_b64}"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: who made it and when (POSIX seconds, the cosigner's clock)."""

    name: str
    timestamp: int


def cosigner_key_hash(name: str, public_key: bytes) -> bytes:
    """Return SHA-256(name || 0x0A || 0x04 || public_key)[:4], the cosignature/v1 key ID.

    Raises InvalidKeyNameError for a bad name, MalformedVerifierKeyError if public_key is not 32 bytes.
    """
    _check_name(name, InvalidKeyNameError)
    if not isinstance(public_key, bytes) or len(public_key) != _PUBLIC_KEY_SIZE:
        raise MalformedVerifierKeyError(f"public key must be {_PUBLIC_KEY_SIZE} bytes")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + COSIGNATURE_TYPE + public_key)
    return digest.digest()[:KEY_HASH_SIZE]


def parse_cosigner_vkey(vkey: str) -> CosignerKey:
    """Return the cosigner key in a '<name>+<hex key ID>+<base64(0x04 || key)>' string.

    Raises MalformedVerifierKeyError if it is malformed, not of type 0x04, not a valid Ed25519 point,
    or its key ID does not match the name and key.
    """
    if not isinstance(vkey, str):
        raise MalformedVerifierKeyError("cosigner key must be a str")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise MalformedVerifierKeyError("cosigner key must have three '+'-separated fields")
    name, hash_hex, key_b64 = parts
    _check_name(name, MalformedVerifierKeyError)
    if len(hash_hex) != 2 * KEY_HASH_SIZE or any(ch not in "0123456789abcdef" for ch in hash_hex):
        raise MalformedVerifierKeyError("key ID must be 8 lowercase hex digits")
    raw = _b64decode(key_b64, MalformedVerifierKeyError)
    if raw[:1] != COSIGNATURE_TYPE or len(raw) != 1 + _PUBLIC_KEY_SIZE:
        raise MalformedVerifierKeyError("cosigner key must be 0x04 followed by a 32-byte Ed25519 key")
    public_key = raw[1:]
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(public_key):
        raise MalformedVerifierKeyError("public key is not a valid Ed25519 point")
    expected = cosigner_key_hash(name, public_key)
    if not hmac.compare_digest(bytes.fromhex(hash_hex), expected):
        raise MalformedVerifierKeyError("key ID does not match name and key")
    return CosignerKey(name=name, key_hash=expected, public_key=public_key)


def cosigned_message(body: str, timestamp: int) -> bytes:
    """Return the bytes a cosignature/v1 signs: 'cosignature/v1\\ntime <T>\\n' || the checkpoint body."""
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise InvalidCosignatureError("cosignature timestamp must be an int in [0, 2**63)")
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{_check_text(body)}".encode()


def cosign(body: str, name: str, signing_key: nacl.signing.SigningKey, timestamp: int) -> str:
    """Return the cosignature line '— <name> base64(key ID || u64 timestamp || signature)\\n' on body.

    Raises MalformedNoteError for a body that is not note text, InvalidKeyNameError for a bad name.
    """
    message = cosigned_message(body, timestamp)
    _check_name(name, InvalidKeyNameError)
    key_id = cosigner_key_hash(name, bytes(signing_key.verify_key))
    signature = signing_key.sign(message).signature
    encoded = base64.b64encode(key_id + timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature).decode()
    return f"{_SIGNATURE_PREFIX}{name} {encoded}\n"


def verify_cosignatures(note_text: str, cosigners: Sequence[CosignerKey]) -> dict[str, Cosignature]:
    """Return, per cosigner name, the cosignature of `cosigners` on the note's checkpoint that verifies.

    Lines by other keys are ignored (tlog-cosignature: clients ignore unknown cosigners). Raises
    MalformedNoteError for a malformed note and InvalidCosignatureError if a line carrying a known
    cosigner's name and key ID does not verify (a forged or altered cosignature is never ignored).
    """
    body, lines = split_note(note_text)
    known = {(c.name, c.key_hash): c for c in cosigners}
    found: dict[str, Cosignature] = {}
    for name, signature in lines:
        cosigner = known.get((name, signature[:KEY_HASH_SIZE]))
        if cosigner is None:
            continue
        rest = signature[KEY_HASH_SIZE:]
        if len(rest) != _TIMESTAMP_SIZE + _SIGNATURE_SIZE:
            raise InvalidCosignatureError(f"cosignature by {name} has the wrong length")
        timestamp = int.from_bytes(rest[:_TIMESTAMP_SIZE], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise InvalidCosignatureError(f"cosignature by {name} has a timestamp past 2**63 - 1")
        try:
            nacl.signing.VerifyKey(cosigner.public_key).verify(
                cosigned_message(body, timestamp), rest[_TIMESTAMP_SIZE:]
            )
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as e:
            raise InvalidCosignatureError(f"cosignature by {name} does not verify") from e
        found[name] = Cosignature(name, timestamp)
    return found


def add_signature_lines(note_text: str, lines: Sequence[str]) -> str:
    """Return note_text with each signature line (ending in a newline) appended once.

    Raises MalformedNoteError if the note or a line is malformed.
    """
    split_note(note_text)
    present = set(note_text[note_text.rfind("\n\n") + 2 :].splitlines(keepends=True))
    added = [line for line in dict.fromkeys(lines) if line not in present]
    result = note_text + "".join(added)
    split_note(result)
    return result
