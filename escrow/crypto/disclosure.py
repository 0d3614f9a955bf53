"""Disclosure signatures and legal officers' key files: Ed25519 (RFC 8032) over domain-separated digests.

- Request digest: SHA-256 of the request's canonical JSON (escrow.crypto.transcript.canonical_json).
- Officer signatures: Ed25519 over `"escrow/v1/disclosure/<role>\\0" || digest`, role `submit`,
  `cosign`, `reveal` (request digest: the submitter fetching the blinded partials), `oprf-check`
  (oprf_check_digest), `extend`, `extend-cosign` (extension digest) or `withdraw` (withdrawal
  digest), so a signature for one role or one request can never be replayed as another.
- Extension and withdrawal digests: SHA-256 of `"escrow/v1/disclosure/<kind>\\0" || canonical JSON`,
  kind `extension` or `withdrawal`; each body names the request id and the request digest. The prefix
  is not JSON, so neither can equal a request digest (SHA-256 of bare canonical JSON) or each other.
- Holder decisions: Ed25519 over `"escrow/v1/disclosure/decision\\0" || canonical JSON of {request
  digest, decision, SHA-256 of the partial decryptions or of the reason}`.
- Blinding points (issue 14): for scope item j the submitting officer's tool signs
  `"escrow/v2/disclosure/blind\\0" || body nonce || 0x00 || envelope digest` with their Ed25519 key
  (deterministic, RFC 8032), takes seed_j = SHA-256(signature) and b_j = the Ed25519 secret scalar of
  seed_j (RFC 8032 section 5.1.5: SHA-512, first half, clamped), reduced mod L; B_j = b_j*G is then
  seed_j's Ed25519 public key, which a browser's WebCrypto computes too. b_j is re-derived, never
  stored; B_j goes into the request before it is signed.
- Court orders: a detached Ed25519 signature by the court's key over the order document's bytes.
- Rosters (issue 16): each key-holder's Ed25519 signature over `"escrow/v1/roster\\0" || roster digest`
  (SHA-256 of the roster's canonical JSON, escrow.protocol.roster); officer certificates: the
  organisation key's signature over `"escrow/v1/officer-certificate\\0" || certificate digest`.
- Officer key file (version 1): the holder-file construction (Argon2id, RFC 9106, then
  XChaCha20-Poly1305 with the header as associated data) under its own format name
  `escrow-officer-key`; the plaintext is the canonical JSON {username, signing_seed}. No I/O here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import nacl.bindings as _sodium
import nacl.exceptions
import nacl.pwhash

from escrow.crypto.errors import CryptoError, EncodingError, HolderFileError
from escrow.crypto.group import Point, RandomSource, Scalar
from escrow.crypto.holderfile import derive_file_key
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256

KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
DIGEST_BYTES: Final = 32
ROLE_SUBMIT: Final = "submit"
ROLE_COSIGN: Final = "cosign"
ROLE_EXTEND: Final = "extend"
ROLE_EXTEND_COSIGN: Final = "extend-cosign"
ROLE_WITHDRAW: Final = "withdraw"
ROLE_REVEAL: Final = "reveal"
ROLE_OPRF_CHECK: Final = "oprf-check"
_ROLES: Final = (
    ROLE_SUBMIT,
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_WITHDRAW,
    ROLE_REVEAL,
    ROLE_OPRF_CHECK,
)
_EXTENSION_DOMAIN: Final = b"escrow/v1/disclosure/extension\x00"
_WITHDRAWAL_DOMAIN: Final = b"escrow/v1/disclosure/withdrawal\x00"
_DECISION_DOMAIN: Final = b"escrow/v1/disclosure/decision\x00"
_BLIND_DOMAIN: Final = b"escrow/v2/disclosure/blind\x00"
_OPRF_CHECK_DOMAIN: Final = b"escrow/v2/disclosure/oprf-check\x00"
KEY_FILE_FORMAT: Final = "escrow-officer-key"
KEY_FILE_VERSION: Final = 1
_KDF_ALG: Final = "argon2id13"
_AEAD: Final = "xchacha20poly1305-ietf"
_SALT_BYTES: Final = nacl.pwhash.argon2id.SALTBYTES
_NONCE_BYTES: Final = 24
_OPSLIMIT_RANGE: Final = (nacl.pwhash.argon2id.OPSLIMIT_MIN, 32)
_MEMLIMIT_RANGE: Final = (nacl.pwhash.argon2id.MEMLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE * 2)


class DisclosureSignatureError(CryptoError):
    """A disclosure signature (officer, holder decision or court order) does not verify."""


class OfficerKeyFileError(HolderFileError):
    """An officer key file could not be read: wrong passphrase, damaged file, or bad format."""


def request_digest(body: Mapping[str, Any]) -> bytes:
    """Returns SHA-256 of the canonical JSON of a request body. Raises EncodingError if not canonical."""
    return sha256(canonical_json(dict(body)))


def _bound_digest(domain: bytes, body: Mapping[str, Any], request_digest_b64: object) -> bytes:
    # Every such body must name the request it is about, by id and digest (docs/disclosure.md).
    if type(body.get("request")) is not int or not isinstance(request_digest_b64, str):
        raise EncodingError("the body must name the request id and digest")
    try:
        if len(b64u_decode(request_digest_b64)) != DIGEST_BYTES:
            raise EncodingError("a request digest is 32 bytes")
    except CryptoError as e:
        raise EncodingError("the request digest must be base64url of 32 bytes") from e
    return sha256(domain + canonical_json(dict(body)))


EXTENSION_VERSION: Final = 1
WITHDRAWAL_VERSION: Final = 1


def extension_body(
    *,
    request_id: int,
    request_digest: bytes,
    sequence: int,
    old_delay_days: int,
    new_delay_days: int,
    reason: str,
    order_reference: str,
    order_sha256: str | None,
    proposer: str,
) -> dict[str, Any]:
    """Returns the canonical body of a notification-delay extension (what extension_digest hashes)."""
    if not isinstance(request_digest, bytes) or len(request_digest) != DIGEST_BYTES:
        raise EncodingError("a request digest is 32 bytes")
    return {
        "v": EXTENSION_VERSION,
        "kind": "notification-extension",
        "request": request_id,
        "request_digest": b64u_encode(request_digest),
        "sequence": sequence,
        "old_delay_days": old_delay_days,
        "new_delay_days": new_delay_days,
        "reason": reason,
        "order_reference": order_reference,
        "order_sha256": order_sha256,
        "proposer": proposer,
    }


def withdrawal_body(*, request_id: int, request_digest: bytes, officer: str, reason: str) -> dict[str, Any]:
    """Returns the canonical body of a withdrawal (what withdrawal_digest hashes)."""
    if not isinstance(request_digest, bytes) or len(request_digest) != DIGEST_BYTES:
        raise EncodingError("a request digest is 32 bytes")
    return {
        "v": WITHDRAWAL_VERSION,
        "kind": "withdrawal",
        "request": request_id,
        "request_digest": b64u_encode(request_digest),
        "officer": officer,
        "reason": reason,
    }


def extension_digest(body: Mapping[str, Any]) -> bytes:
    """Returns SHA-256("escrow/v1/disclosure/extension\\0" || canonical JSON of an extension body).

    The body binds the request id and digest, sequence number, old and new delay and the reason.
    Raises EncodingError if it is not canonical or names no request.
    """
    return _bound_digest(_EXTENSION_DOMAIN, body, body.get("request_digest"))


def withdrawal_digest(body: Mapping[str, Any]) -> bytes:
    """Returns SHA-256("escrow/v1/disclosure/withdrawal\\0" || canonical JSON of a withdrawal body).

    Raises EncodingError if it is not canonical or names no request.
    """
    return _bound_digest(_WITHDRAWAL_DOMAIN, body, body.get("request_digest"))


def _check_lengths(key: bytes, signature: bytes | None = None) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise EncodingError("an Ed25519 key or seed is 32 bytes")
    if signature is not None and (not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES):
        raise EncodingError("an Ed25519 signature is 64 bytes")


def _sign(seed: bytes, message: bytes) -> bytes:
    _check_lengths(seed)
    _, secret = _sodium.crypto_sign_seed_keypair(seed)
    return _sodium.crypto_sign(message, secret)[:SIGNATURE_BYTES]


def _verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    _check_lengths(public_key, signature)
    try:
        _sodium.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as e:
        raise DisclosureSignatureError("signature does not verify") from e


def public_key(seed: bytes) -> bytes:
    """Returns the Ed25519 public key of a 32-byte seed. Raises EncodingError for a wrong length."""
    _check_lengths(seed)
    return bytes(_sodium.crypto_sign_seed_keypair(seed)[0])


def _officer_message(role: str, digest: bytes) -> bytes:
    if role not in _ROLES:
        raise EncodingError("unknown officer signature role")
    if not isinstance(digest, bytes) or len(digest) != DIGEST_BYTES:
        raise EncodingError("a digest is 32 bytes")
    return b"escrow/v1/disclosure/" + role.encode() + b"\x00" + digest


def sign_officer(seed: bytes, role: str, digest: bytes) -> bytes:
    """Returns the officer's signature over a digest in `role` (submit, cosign, extend, extend-cosign,
    withdraw). Raises EncodingError for an unknown role or a digest that is not 32 bytes."""
    return _sign(seed, _officer_message(role, digest))


def verify_officer(public: bytes, role: str, digest: bytes, signature: bytes) -> None:
    """Checks an officer signature. Raises DisclosureSignatureError (EncodingError for bad lengths)."""
    _verify(public, _officer_message(role, digest), signature)


def decision_message(digest: bytes, decision: str, detail: bytes) -> bytes:
    """Returns what a holder signs: the request digest, `approve`/`reject`, SHA-256 of partials or reason."""
    if decision not in ("approve", "reject") or len(digest) != DIGEST_BYTES:
        raise EncodingError("malformed decision")
    body = {"request": b64u_encode(digest), "decision": decision, "detail": b64u_encode(sha256(detail))}
    return _DECISION_DOMAIN + canonical_json(body)


def sign_decision(seed: bytes, digest: bytes, decision: str, detail: bytes) -> bytes:
    """Returns a key-holder's signature over its decision on the request with `digest`."""
    return _sign(seed, decision_message(digest, decision, detail))


def verify_decision(public: bytes, digest: bytes, decision: str, detail: bytes, signature: bytes) -> None:
    """Checks a key-holder's decision signature. Raises DisclosureSignatureError."""
    _verify(public, decision_message(digest, decision, detail), signature)


def blinding_message(nonce: str, envelope_digest: bytes) -> bytes:
    """Returns what the submitting officer signs to derive the blinding scalar of one scope item."""
    if not isinstance(nonce, str) or not nonce.isascii() or "\x00" in nonce:
        raise EncodingError("a request nonce is ASCII text without NUL")
    if not isinstance(envelope_digest, bytes) or len(envelope_digest) != DIGEST_BYTES:
        raise EncodingError("an envelope digest is 32 bytes")
    return _BLIND_DOMAIN + nonce.encode() + b"\x00" + envelope_digest


def oprf_check_digest(request_digest: bytes, blinded: list[bytes]) -> bytes:
    """Returns what the submitting officer signs (role `oprf-check`) to have the OPRF nodes evaluate the
    blinded elements of a revealed identity key: SHA-256 over the domain, request digest, count and
    elements."""
    if not isinstance(request_digest, bytes) or len(request_digest) != DIGEST_BYTES:
        raise EncodingError("a request digest is 32 bytes")
    if not blinded or any(not isinstance(e, bytes) or len(e) != KEY_BYTES for e in blinded):
        raise EncodingError("blinded elements are 32 bytes each")
    return sha256(_OPRF_CHECK_DOMAIN + request_digest + len(blinded).to_bytes(2, "big") + b"".join(blinded))


def blinding_scalar_from_signature(signature: bytes) -> Scalar:
    """Returns b from the officer's signature over blinding_message: the clamped Ed25519 secret scalar
    of SHA-256(signature), mod L. Raises EncodingError unless 64 bytes."""
    _check_lengths(bytes(KEY_BYTES), signature)
    digest = bytearray(hashlib.sha512(sha256(signature)).digest()[:32])
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    return Scalar.from_int(int.from_bytes(digest, "little"))


def blinding_scalar(seed: bytes, nonce: str, envelope_digest: bytes) -> Scalar:
    """Returns the officer's blinding scalar b for one envelope of the request with `nonce`."""
    return blinding_scalar_from_signature(_sign(seed, blinding_message(nonce, envelope_digest)))


def blinding_point(seed: bytes, nonce: str, envelope_digest: bytes) -> Point:
    """Returns B = b*G, what goes into the request body for one envelope."""
    return Point.base_times(blinding_scalar(seed, nonce, envelope_digest))


def verify_court_order(court_key: bytes, document: bytes, signature: bytes) -> None:
    """Checks a court's detached signature over an order document. Raises DisclosureSignatureError."""
    _verify(court_key, document, signature)


_ROSTER_DOMAIN: Final = b"escrow/v1/roster\x00"
_CERTIFICATE_DOMAIN: Final = b"escrow/v1/officer-certificate\x00"


def _digest_message(domain: bytes, digest: bytes) -> bytes:
    if not isinstance(digest, bytes) or len(digest) != DIGEST_BYTES:
        raise EncodingError("a digest is 32 bytes")
    return domain + digest


def sign_roster(seed: bytes, digest: bytes) -> bytes:
    """Returns a key-holder's signature over a roster digest (escrow.protocol.roster.Roster.digest)."""
    return _sign(seed, _digest_message(_ROSTER_DOMAIN, digest))


def verify_roster(public: bytes, digest: bytes, signature: bytes) -> None:
    """Checks a key-holder's roster signature. Raises DisclosureSignatureError (EncodingError: lengths)."""
    _verify(public, _digest_message(_ROSTER_DOMAIN, digest), signature)


def sign_certificate(org_seed: bytes, digest: bytes) -> bytes:
    """Returns an organisation's signature over an officer certificate digest."""
    return _sign(org_seed, _digest_message(_CERTIFICATE_DOMAIN, digest))


def verify_certificate(org_key: bytes, digest: bytes, signature: bytes) -> None:
    """Checks an organisation's officer certificate signature. Raises DisclosureSignatureError."""
    _verify(org_key, _digest_message(_CERTIFICATE_DOMAIN, digest), signature)


VERDICT_VERIFIED: Final = "verified"
VERDICT_UNSIGNED: Final = "unsigned"
VERDICT_INVALID: Final = "signature-invalid"


def court_verdict(court_key: bytes | None, document: bytes, signature: bytes | None) -> str:
    """Returns the verdict on a court order's detached signature: `verified`, `unsigned` (no signature)
    or `signature-invalid` (it does not verify, is malformed, or the court has no key to check it with:
    a signature nobody can check proves nothing).

    The one function the server (when a request is drafted) and the key-holder's tool (before it
    approves) both use, so they cannot disagree on what counts as signed.
    """
    if signature is None:
        return VERDICT_UNSIGNED
    if court_key is None:
        return VERDICT_INVALID
    try:
        verify_court_order(court_key, document, signature)
    except CryptoError:
        return VERDICT_INVALID
    return VERDICT_VERIFIED


def sign_court_order(court_seed: bytes, document: bytes) -> bytes:
    """Returns a court's detached signature over `document` (what a court's own tooling would do)."""
    return _sign(court_seed, document)


@dataclass(frozen=True, slots=True, repr=False)
class OfficerSecrets:
    """What an officer's key file holds: their username and Ed25519 seed."""

    username: str
    signing_seed: bytes

    def __post_init__(self) -> None:
        _check_lengths(self.signing_seed)

    @property
    def public_key(self) -> bytes:
        return public_key(self.signing_seed)

    def __repr__(self) -> str:
        return f"OfficerSecrets(username={self.username!r}, <hidden>)"


def new_officer_secrets(username: str, *, rand: RandomSource = os.urandom) -> OfficerSecrets:
    """Returns a fresh officer key for `username`."""
    return OfficerSecrets(username, rand(KEY_BYTES))


def _check_limits(opslimit: int, memlimit: int) -> None:
    if not (_OPSLIMIT_RANGE[0] <= opslimit <= _OPSLIMIT_RANGE[1]) or not (
        _MEMLIMIT_RANGE[0] <= memlimit <= _MEMLIMIT_RANGE[1]
    ):
        raise OfficerKeyFileError("Argon2id limits out of range")


def encrypt_officer_key(
    secrets: OfficerSecrets,
    passphrase: str,
    *,
    opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_MODERATE,
    memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_MODERATE,
    rand: RandomSource = os.urandom,
) -> bytes:
    """Returns the key file bytes for `secrets` under `passphrase`. Raises OfficerKeyFileError."""
    if not isinstance(passphrase, str) or not passphrase:
        raise OfficerKeyFileError("a passphrase is required")
    _check_limits(opslimit, memlimit)
    salt, nonce = rand(_SALT_BYTES), rand(_NONCE_BYTES)
    header = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "kdf": {"alg": _KDF_ALG, "opslimit": opslimit, "memlimit": memlimit, "salt": b64u_encode(salt)},
        "aead": _AEAD,
        "nonce": b64u_encode(nonce),
        "public_key": b64u_encode(secrets.public_key),
    }
    plaintext = canonical_json(
        {"username": secrets.username, "signing_seed": b64u_encode(secrets.signing_seed)}
    )
    ciphertext = _sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, canonical_json(header), nonce, derive_file_key(passphrase, salt, opslimit, memlimit)
    )
    return canonical_json({**header, "ciphertext": b64u_encode(ciphertext)}) + b"\n"


def decrypt_officer_key(data: bytes, passphrase: str) -> OfficerSecrets:
    """Returns the secrets in an officer key file.

    Raises OfficerKeyFileError for another kind of file or version, a damaged header, and "wrong
    passphrase or damaged file" when authentication fails (the two cannot be told apart).
    """
    if not isinstance(passphrase, str) or not passphrase:
        raise OfficerKeyFileError("a passphrase is required")
    try:
        document = json.loads(data)
    except (ValueError, TypeError) as e:
        raise OfficerKeyFileError("not an officer key file (not JSON)") from e
    if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
        raise OfficerKeyFileError("not an officer key file")
    if document.get("version") != KEY_FILE_VERSION:
        raise OfficerKeyFileError("unsupported officer key file version")
    try:
        header = {k: v for k, v in document.items() if k != "ciphertext"}
        kdf = header["kdf"]
        if kdf["alg"] != _KDF_ALG or header["aead"] != _AEAD:
            raise OfficerKeyFileError("unsupported officer key file algorithms")
        opslimit, memlimit = int(kdf["opslimit"]), int(kdf["memlimit"])
        _check_limits(opslimit, memlimit)
        salt = b64u_decode(kdf["salt"], length=_SALT_BYTES)
        nonce = b64u_decode(header["nonce"], length=_NONCE_BYTES)
        ciphertext = b64u_decode(document["ciphertext"])
        aad = canonical_json(header)
    except OfficerKeyFileError:
        raise
    except (KeyError, TypeError, ValueError, CryptoError) as e:
        raise OfficerKeyFileError("damaged officer key file (bad header)") from e
    try:
        plaintext = _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ciphertext, aad, nonce, derive_file_key(passphrase, salt, opslimit, memlimit)
        )
    except nacl.exceptions.CryptoError as e:
        raise OfficerKeyFileError("wrong passphrase or damaged file") from e
    record = json.loads(plaintext)
    return OfficerSecrets(str(record["username"]), b64u_decode(record["signing_seed"], length=KEY_BYTES))
