"""Credential tokens: compact JWS (RFC 7515) with ``alg: EdDSA`` / Ed25519 (RFC 8037), and JWK thumbprints.

Only one algorithm exists here, so ``alg: none`` and HMAC-with-the-public-key confusion cannot be
expressed: a header whose ``alg`` is not exactly ``EdDSA`` is refused before any key is looked at.
Key ids are RFC 7638 thumbprints of the OKP public JWK. Claims are checked by the caller
(escrow.client.verifier), which knows the expected issuer, audience and time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256

ALGORITHM = "EdDSA"
SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
MAX_TOKEN_LENGTH = 8192  # a credential is ~600 bytes; refuse to parse anything absurd


class TokenFormatError(CryptoError):
    """The token is not a compact JWS with a JSON header and payload."""


class TokenAlgorithmError(CryptoError):
    """The header names an algorithm other than EdDSA (``none``, ``HS256``, ...)."""


class TokenKeyUnknownError(CryptoError):
    """The header's ``kid`` names no key the verifier knows."""


class TokenSignatureError(CryptoError):
    """The signature does not verify under the key named by ``kid``."""


@dataclass(frozen=True, slots=True)
class VerifiedJws:
    """A token whose signature verified: its header and payload (claims not yet checked)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]


def public_key_of(seed: bytes) -> bytes:
    """Returns the Ed25519 public key for a 32-byte private seed. Raises EncodingError on a bad length."""
    if len(seed) != SEED_BYTES:
        raise EncodingError(f"an Ed25519 seed is {SEED_BYTES} bytes")
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def public_jwk(public_key: bytes) -> dict[str, str]:
    """Returns the public JWK (RFC 8037 OKP) for ``public_key``, with its RFC 7638 thumbprint as kid."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64u_encode(public_key),
        "kid": key_id(public_key),
        "use": "sig",
        "alg": ALGORITHM,
    }


def key_id(public_key: bytes) -> str:
    """Returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise EncodingError(f"an Ed25519 public key is {PUBLIC_KEY_BYTES} bytes")
    # RFC 7638 section 3.2: required members only, lexicographic order, no whitespace.
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64u_encode(public_key)}
    return b64u_encode(sha256(canonical_json(members)))


def public_key_from_jwk(jwk: Mapping[str, Any]) -> bytes:
    """Returns the raw public key of an OKP/Ed25519 JWK. Raises EncodingError for any other key."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise EncodingError("not an OKP Ed25519 key")
    return b64u_decode(jwk.get("x"), length=PUBLIC_KEY_BYTES)  # type: ignore[arg-type]


def sign_token(seed: bytes, claims: Mapping[str, Any]) -> str:
    """Returns the compact JWS of ``claims`` signed with the Ed25519 ``seed``; kid is its thumbprint."""
    signing_key = nacl.signing.SigningKey(seed)
    header = {"alg": ALGORITHM, "kid": key_id(bytes(signing_key.verify_key)), "typ": "JWT"}
    signing_input = (
        b64u_encode(canonical_json(header)) + "." + b64u_encode(canonical_json(dict(claims)))
    ).encode("ascii")
    signature = signing_key.sign(signing_input).signature
    return signing_input.decode("ascii") + "." + b64u_encode(signature)


def verify_token(token: str, find_key: Callable[[str], bytes | None]) -> VerifiedJws:
    """Returns header and claims of ``token`` once its signature verifies under ``find_key(kid)``.

    ``find_key`` returns the raw public key for a kid, or None if unknown. Raises TokenFormatError,
    TokenAlgorithmError, TokenKeyUnknownError or TokenSignatureError; never a library exception.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenFormatError("token must be text of reasonable length")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenFormatError("token must have three dot-separated parts")
    try:
        header = _json_object(b64u_decode(parts[0]))
        claims = _json_object(b64u_decode(parts[1]))
        signature = b64u_decode(parts[2])
    except EncodingError as e:
        raise TokenFormatError("token part is not base64url JSON") from e
    if header.get("alg") != ALGORITHM:
        raise TokenAlgorithmError("only EdDSA tokens are accepted")
    if "crit" in header:  # RFC 7515 section 4.1.11: we understand no extensions
        raise TokenFormatError("critical header extensions are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise TokenKeyUnknownError("token names no key id")
    public_key = find_key(kid)
    if public_key is None:
        raise TokenKeyUnknownError("token is signed by an unknown key")
    try:
        nacl.signing.VerifyKey(public_key).verify((parts[0] + "." + parts[1]).encode("ascii"), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError) as e:
        raise TokenSignatureError("token signature does not verify") from e
    return VerifiedJws(header=header, claims=claims)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise EncodingError("not JSON") from e
    if not isinstance(value, dict):
        raise EncodingError("not a JSON object")
    return value
