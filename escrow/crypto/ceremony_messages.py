"""Key-holder identities and the signed, sealed messages of a ceremony relayed by an untrusted service.

- Identity: an Ed25519 signing key (RFC 8032) and an X25519 exchange key (RFC 7748) per holder.
  Fingerprints are SHA-256 of the public key, shown in groups for out-of-band comparison.
- Signed messages: Ed25519 over a domain tag and the canonical JSON of the message body
  (escrow.crypto.transcript.canonical_json), so a signature for one purpose is never valid for another.
- Share transport: libsodium sealed boxes (crypto_box_seal: X25519 + XSalsa20-Poly1305 under an
  ephemeral key). A recipient who complains reveals the share and the box key of that one box
  (crypto_box_beforenm(epk, sk), which says nothing about its long-term key); anyone can then open the
  box, whose ciphertext the dealer signed, and see that the revealed share is the one the dealer sent.
  Finding another key under which a given Poly1305-authenticated ciphertext opens is infeasible, so the
  accuser cannot make a share up.
- Request authentication: Ed25519 over (method, path, timestamp, body digest) (docs/protocol.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.bindings as _sodium
import nacl.exceptions

from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.group import RandomSource, Scalar
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256

KEY_BYTES = 32
SIGNATURE_BYTES = 64
_MESSAGE_DOMAIN = b"escrow/v1/ceremony-message\x00"
_REQUEST_DOMAIN = b"escrow/v1/holder-request\x00"
_TRANSCRIPT_DOMAIN = b"escrow/v1/ceremony-transcript\x00"
_NODE_REQUEST_DOMAIN = b"escrow/v1/oprf-node-request\x00"
NONCE_BYTES = 16


class InvalidSignatureError(CryptoError):
    """An Ed25519 signature does not verify under the key it was checked against."""


class ShareTransportError(CryptoError):
    """A sealed share did not open, or a revealed box key does not open it to the revealed share."""


@dataclass(frozen=True, slots=True)
class HolderPublicKeys:
    """A holder's public identity: what the service stores and everyone checks signatures against."""

    signing_key: bytes
    exchange_key: bytes

    def __post_init__(self) -> None:
        if len(self.signing_key) != KEY_BYTES or len(self.exchange_key) != KEY_BYTES:
            raise EncodingError("holder public keys are 32 bytes")


def generate_holder_keys(*, rand: RandomSource = os.urandom) -> tuple[bytes, bytes]:
    """Returns a fresh (Ed25519 seed, X25519 secret key) pair for a new key-holder."""
    return rand(KEY_BYTES), rand(KEY_BYTES)


def public_keys(signing_seed: bytes, exchange_secret: bytes) -> HolderPublicKeys:
    """Returns the public keys of a holder's secrets. Raises EncodingError for wrong lengths."""
    if len(signing_seed) != KEY_BYTES or len(exchange_secret) != KEY_BYTES:
        raise EncodingError("holder secret keys are 32 bytes")
    signing_key, _ = _sodium.crypto_sign_seed_keypair(signing_seed)
    return HolderPublicKeys(signing_key, _sodium.crypto_scalarmult_base(exchange_secret))


def fingerprint(public_key: bytes) -> str:
    """Returns a human-comparable fingerprint: SHA-256 of the key, first 16 bytes, in 4-hex groups."""
    digest = sha256(public_key)[:16].hex()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def _sign(domain: bytes, signing_seed: bytes, data: bytes) -> bytes:
    if len(signing_seed) != KEY_BYTES:
        raise EncodingError("an Ed25519 seed is 32 bytes")
    _, secret = _sodium.crypto_sign_seed_keypair(signing_seed)
    return _sodium.crypto_sign(domain + data, secret)[:SIGNATURE_BYTES]


def _verify(domain: bytes, verify_key: bytes, data: bytes, signature: bytes) -> None:
    if len(verify_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise InvalidSignatureError("signature or key has the wrong length")
    try:
        _sodium.crypto_sign_open(signature + domain + data, verify_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as e:
        raise InvalidSignatureError("signature does not verify") from e


def sign_message(signing_seed: bytes, body: Mapping[str, Any]) -> bytes:
    """Returns the Ed25519 signature of a ceremony message body (its canonical JSON)."""
    return _sign(_MESSAGE_DOMAIN, signing_seed, canonical_json(dict(body)))


def verify_message(verify_key: bytes, body: Mapping[str, Any], signature: bytes) -> None:
    """Checks a ceremony message signature. Raises InvalidSignatureError if it does not verify."""
    _verify(_MESSAGE_DOMAIN, verify_key, canonical_json(dict(body)), signature)


def request_signing_input(method: str, path: str, timestamp_ms: int, body: bytes) -> bytes:
    """Returns the bytes a holder signs to authenticate one HTTP request. `path` is the whole
    request-target: the path and, if any, `?` and the query (protocol.signed_request.request_target)."""
    return canonical_json(
        {
            "method": method.upper(),
            "path": path,
            "timestamp_ms": timestamp_ms,
            "body_sha256": sha256(body).hex(),
        }
    )


def sign_request(signing_seed: bytes, method: str, path: str, timestamp_ms: int, body: bytes) -> bytes:
    """Returns the Ed25519 signature authenticating an HTTP request."""
    return _sign(_REQUEST_DOMAIN, signing_seed, request_signing_input(method, path, timestamp_ms, body))


def verify_request(
    verify_key: bytes, method: str, path: str, timestamp_ms: int, body: bytes, signature: bytes
) -> None:
    """Checks a request signature. Raises InvalidSignatureError if it does not verify."""
    _verify(_REQUEST_DOMAIN, verify_key, request_signing_input(method, path, timestamp_ms, body), signature)


def node_request_signing_input(method: str, path: str, timestamp_ms: int, nonce: bytes, body: bytes) -> bytes:
    """Returns the bytes the escrow service signs to ask an OPRF node for one evaluation (issue 13).

    A domain of its own (a holder's request signature is never valid here, nor the reverse) and a
    random nonce, which the node remembers for its freshness window, so no request is answered twice.
    """
    if len(nonce) != NONCE_BYTES:
        raise EncodingError(f"a request nonce is {NONCE_BYTES} bytes")
    return canonical_json(
        {
            "method": method.upper(),
            "path": path,
            "timestamp_ms": timestamp_ms,
            "nonce": b64u_encode(nonce),
            "body_sha256": sha256(body).hex(),
        }
    )


def sign_node_request(
    signing_seed: bytes, method: str, path: str, timestamp_ms: int, nonce: bytes, body: bytes
) -> bytes:
    """Returns the Ed25519 signature authenticating one request to an OPRF node."""
    data = node_request_signing_input(method, path, timestamp_ms, nonce, body)
    return _sign(_NODE_REQUEST_DOMAIN, signing_seed, data)


def verify_node_request(
    verify_key: bytes, method: str, path: str, timestamp_ms: int, nonce: bytes, body: bytes, signature: bytes
) -> None:
    """Checks an OPRF node request signature. Raises InvalidSignatureError if it does not verify."""
    data = node_request_signing_input(method, path, timestamp_ms, nonce, body)
    _verify(_NODE_REQUEST_DOMAIN, verify_key, data, signature)


def _box_nonce(ephemeral: bytes, recipient: bytes) -> bytes:
    # libsodium crypto_box_seal: nonce = BLAKE2b-192(epk || recipient pk).
    return hashlib.blake2b(ephemeral + recipient, digest_size=24).digest()


def seal_share(recipient_exchange_key: bytes, share: Scalar) -> bytes:
    """Returns `share` in a sealed box that only the holder of `recipient_exchange_key` can open."""
    if len(recipient_exchange_key) != KEY_BYTES:
        raise EncodingError("an X25519 public key is 32 bytes")
    return _sodium.crypto_box_seal(bytes(share), recipient_exchange_key)


def _decode_share(data: bytes) -> Scalar:
    try:
        return Scalar.decode(data)
    except EncodingError as e:
        raise ShareTransportError("sealed share does not hold a valid scalar") from e


def open_share(exchange_secret: bytes, sealed: bytes) -> Scalar:
    """Returns the share in a sealed box. Raises ShareTransportError if it does not open."""
    recipient = public_keys(bytes(KEY_BYTES), exchange_secret).exchange_key
    try:
        plaintext = _sodium.crypto_box_seal_open(sealed, recipient, exchange_secret)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise ShareTransportError("sealed share did not open") from e
    return _decode_share(plaintext)


def box_key(exchange_secret: bytes, sealed: bytes) -> bytes:
    """Returns the key of this one sealed box (revealed in a complaint; useless for any other box)."""
    if len(sealed) < KEY_BYTES:
        raise ShareTransportError("sealed share is truncated")
    try:
        return _sodium.crypto_box_beforenm(sealed[:KEY_BYTES], exchange_secret)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise ShareTransportError("sealed share has an invalid ephemeral key") from e


_PROBE_SCALAR = b"\x09" * 32  # any scalar: X25519 clamps it to a multiple of the cofactor 8

UNUSABLE_BOX_KEY = bytes(KEY_BYTES)
"""The box key a complaint reveals when the dealer's box has an unusable ephemeral key (no key exists)."""


def has_unusable_ephemeral_key(sealed: bytes) -> bool:
    """Whether the sealed box's ephemeral X25519 key is one no recipient can use: a low-order point, so
    every shared secret is zero (libsodium refuses it), or a box too short to hold a key. Anyone can
    tell from the dealer-signed box alone, so a complaint about it names the dealer (issue 16)."""
    if len(sealed) < KEY_BYTES:
        return True
    try:
        _sodium.crypto_scalarmult(_PROBE_SCALAR, sealed[:KEY_BYTES])
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return True
    return False


def open_share_with_box_key(recipient_exchange_key: bytes, sealed: bytes, key: bytes) -> Scalar:
    """Returns the share in `sealed`, opened with a revealed box key: what anyone checks a complaint with.

    Raises ShareTransportError if the key does not open the box.
    """
    if len(sealed) < KEY_BYTES or len(key) != KEY_BYTES:
        raise ShareTransportError("sealed share or box key is truncated")
    nonce = _box_nonce(sealed[:KEY_BYTES], recipient_exchange_key)
    try:
        plaintext = _sodium.crypto_box_open_afternm(sealed[KEY_BYTES:], nonce, key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise ShareTransportError("the revealed box key does not open the sealed share") from e
    return _decode_share(plaintext)


def transcript_hash(header: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> bytes:
    """Returns SHA-256 over the ceremony header and its round-1 and round-2 signed messages.

    Every holder signs this hash (the success certificate); the order of `messages` is part of it,
    so callers sort them (by kind, then holder).
    """
    return sha256(
        _TRANSCRIPT_DOMAIN + canonical_json({"header": dict(header), "messages": [dict(m) for m in messages]})
    )


def b64(data: bytes) -> str:
    """Returns unpadded base64url text (the wire form of every byte string in a message)."""
    return b64u_encode(data)


def unb64(text: Any, *, length: int | None = None) -> bytes:
    """Returns the bytes of base64url `text`. Raises EncodingError if malformed or not text."""
    if not isinstance(text, str):
        raise EncodingError("expected base64url text")
    return b64u_decode(text, length=length)


def digests_equal(a: bytes, b: bytes) -> bool:
    """Returns True if two digests are equal, in constant time."""
    return hmac.compare_digest(a, b)
