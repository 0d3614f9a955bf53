"""Credential tokens: compact JWS (RFC 7515) with ``alg: EdDSA`` / Ed25519 (RFC 8037), and JWK thumbprints.

Only one algorithm exists here, so ``alg: none`` and HMAC-with-the-public-key confusion cannot be
expressed: a header whose ``alg`` is not exactly ``EdDSA`` is refused before any key is looked at.
Key ids are RFC 7638 thumbprints of the OKP public JWK. Claims are checked by the caller
(escrow.client.verifier), which knows the expected issuer, audience and time.
"""

from __future__ import annotations

import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import nacl.exceptions
import nacl.signing

from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256

ALGORITHM = "EdDSA"
ALGORITHM_ED25519 = "Ed25519"
"""RFC 9864's fully-specified name for the same algorithm (the same key, the same signature bytes)."""
ALGORITHMS = (ALGORITHM, ALGORITHM_ED25519)
"""What a token may name: the RFC 8037 name (the default: PyJWT 2.15 knows no other) or RFC 9864's.
Verifiers accept both; which one a token carries is the platform's choice (issue 19)."""
SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
TYP_CREDENTIAL = "escrow-credential+jwt"
"""The JOSE `typ` of a credential (RFC 8725 section 3.11, issue 16): credentials and ID tokens share
the signing key, `iss`, `aud` and `sub`, so each names its kind and each verifier refuses the other."""
TYP_ID_TOKEN = "JWT"  # noqa: S105 - a token type, not a secret
"""The JOSE `typ` of an ID token (what OpenID Connect libraries expect)."""
MAX_TOKEN_LENGTH = 8192  # a credential is ~600 bytes; refuse to parse anything absurd
_B64U = re.compile(r"[A-Za-z0-9_-]*")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = {c: i for i, c in enumerate(_ALPHABET)}


class TokenFormatError(CryptoError):
    """The token is not a compact JWS with a JSON header and payload."""


class TokenTypeError(CryptoError):
    """The header's ``typ`` names another kind of token than the one expected (an ID token offered as
    a credential, or the reverse)."""


class TokenAlgorithmError(CryptoError):
    """The header names an algorithm other than Ed25519 under either of its names, EdDSA (RFC 8037)
    or Ed25519 (RFC 9864): ``none``, ``HS256``, ..."""


class TokenKeyUnknownError(CryptoError):
    """The header's ``kid`` names no key the verifier knows."""


class TokenSignatureError(CryptoError):
    """The signature does not verify under the key named by ``kid``."""


class VerifiedJws(NamedTuple):
    """A token whose signature verified: its header and payload (claims not yet checked).

    A NamedTuple rather than a frozen dataclass: immutable too, and cheaper to build on the
    verification hot path (docs/benchmarks.md#credentials)."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]


def public_key_of(seed: bytes) -> bytes:
    """Returns the Ed25519 public key for a 32-byte private seed. Raises EncodingError on a bad length."""
    if len(seed) != SEED_BYTES:
        raise EncodingError(f"an Ed25519 seed is {SEED_BYTES} bytes")
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def public_jwk(public_key: bytes) -> dict[str, str]:
    """Returns the public JWK (RFC 8037 OKP) for ``public_key``, with its RFC 7638 thumbprint as kid.

    No ``alg`` member (RFC 7517 4.4: optional): the key signs tokens named EdDSA or Ed25519 (RFC 9864),
    and libraries that select keys by ``alg`` (jose, joserfc) refuse a token whose name differs from the
    key's. Without it every library checked accepts both (docs/platforms.md#algorithm-names).
    """
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64u_encode(public_key),
        "kid": key_id(public_key),
        "use": "sig",
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


def sign_token(
    seed: bytes, claims: Mapping[str, Any], *, typ: str = TYP_CREDENTIAL, alg: str = ALGORITHM
) -> str:
    """Returns the compact JWS of ``claims`` signed with the Ed25519 ``seed``; kid is its thumbprint,
    ``typ`` the kind of token (TYP_CREDENTIAL, or TYP_ID_TOKEN for an ID token), ``alg`` the name the
    header gives the algorithm (one of ALGORITHMS). Raises TokenAlgorithmError for another name."""
    if alg not in ALGORITHMS:
        raise TokenAlgorithmError("an Ed25519 token is named EdDSA or Ed25519")
    signing_key = nacl.signing.SigningKey(seed)
    header = {"alg": alg, "kid": key_id(bytes(signing_key.verify_key)), "typ": typ}
    signing_input = (
        b64u_encode(canonical_json(header)) + "." + b64u_encode(canonical_json(dict(claims)))
    ).encode("ascii")
    signature = signing_key.sign(signing_input).signature
    return signing_input.decode("ascii") + "." + b64u_encode(signature)


def verify_token(
    token: str, find_key: Callable[[str], bytes | None], *, typ: str = TYP_CREDENTIAL
) -> VerifiedJws:
    """Returns header and claims of ``token`` once its signature verifies under ``find_key(kid)`` and
    its header's ``typ`` is exactly ``typ``.

    ``find_key`` returns the raw public key for a kid, or None if unknown. Raises TokenFormatError,
    TokenTypeError, TokenAlgorithmError, TokenKeyUnknownError or TokenSignatureError; never a library
    exception.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenFormatError("token must be text of reasonable length")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenFormatError("token must have three dot-separated parts")
    header = _parse_header(parts[0])
    if header.get("typ") != typ:
        raise TokenTypeError(f"token is not of type {typ}")
    public_key = find_key(header["kid"])
    if public_key is None:
        raise TokenKeyUnknownError("token is signed by an unknown key")
    try:
        signature = _b64u_decode(parts[2])
        signing_input = token[: len(parts[0]) + len(parts[1]) + 1].encode("ascii")
        _verify_key(public_key).verify(signing_input, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError) as e:
        raise TokenSignatureError("token signature does not verify") from e
    try:
        claims = _json_object(_b64u_decode(parts[1]))
    except (EncodingError, ValueError) as e:  # pragma: no cover - only a signed payload gets here
        raise TokenFormatError("token payload is not base64url JSON") from e
    return VerifiedJws(header=header, claims=claims)


@functools.lru_cache(maxsize=256)
def _parse_header(segment: str) -> Mapping[str, Any]:
    # Memoised: a verifier sees the same few headers (one per signing key) over and over.
    # Exceptions are not cached, so malformed headers cost a parse each time.
    try:
        header = _json_object(_b64u_decode(segment))
    except (EncodingError, ValueError) as e:
        raise TokenFormatError("token header is not base64url JSON") from e
    if header.get("alg") not in ALGORITHMS:
        raise TokenAlgorithmError("only EdDSA (Ed25519) tokens are accepted")
    if "crit" in header:  # RFC 7515 section 4.1.11: we understand no extensions
        raise TokenFormatError("critical header extensions are not supported")
    if not isinstance(header.get("kid"), str):
        raise TokenKeyUnknownError("token names no key id")
    return header


@functools.lru_cache(maxsize=64)
def _verify_key(public_key: bytes) -> nacl.signing.VerifyKey:
    return nacl.signing.VerifyKey(public_key)


def _b64u_decode(text: str) -> bytes:
    # Strict, canonical base64url without padding (RFC 7515 section 2), faster than the general
    # transcript.b64u_decode: one alphabet check, one decode, and a check of the unused low bits.
    if not _B64U.fullmatch(text) or len(text) % 4 == 1:
        raise EncodingError("expected unpadded base64url text")
    remainder = len(text) % 4
    if remainder and _SEXTET[text[-1]] & (0x0F if remainder == 2 else 0x03):
        raise EncodingError("non-canonical base64url")
    try:
        standard = text.replace("-", "+").replace("_", "/")  # str.replace is far faster than translate
        return binascii.a2b_base64(standard + "=" * (-len(text) % 4), strict_mode=True)
    except binascii.Error as e:  # pragma: no cover - the alphabet and length were checked
        raise EncodingError("invalid base64url") from e


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))  # str input skips json's encoding detection
    except (ValueError, UnicodeDecodeError) as e:
        raise EncodingError("not JSON") from e
    if not isinstance(value, dict):
        raise EncodingError("not a JSON object")
    return value
