"""RS256 ID-token signing (RFC 7518 section 3.3, RSASSA-PKCS1-v1_5 with SHA-256) for OpenID Connect clients.

OIDC Core section 15.1 requires providers to support RS256; escrow signs with EdDSA by default and
with RS256 only for platforms registered for it. Key ids are RFC 7638 thumbprints of the public JWK.
Keys are PEM (PKCS#8) bytes: callers load and store them (escrow.keystore), crypto reads no files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from escrow.crypto.errors import EncodingError
from escrow.crypto.transcript import b64u_encode, canonical_json, sha256

RS256 = "RS256"
RSA_KEY_BITS = 2048  # RFC 7518 section 3.3: 2048 bits or larger
_PUBLIC_EXPONENT = 65537


def generate_rsa_private_pem() -> bytes:
    """Returns a new 2048-bit RSA private key as unencrypted PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=RSA_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _private_key(private_pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as e:
        raise EncodingError("not an unencrypted PEM private key") from e
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < RSA_KEY_BITS:
        raise EncodingError(f"not an RSA private key of at least {RSA_KEY_BITS} bits")
    return key


def _b64u_int(value: int) -> str:
    return b64u_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def rsa_public_jwk(private_pem: bytes) -> dict[str, str]:
    """Returns the public JWK (RFC 7517) of an RSA private key, kid = RFC 7638 thumbprint.

    Raises EncodingError if ``private_pem`` is not an RSA private key of at least 2048 bits.
    """
    numbers = _private_key(private_pem).public_key().public_numbers()
    required = {"e": _b64u_int(numbers.e), "kty": "RSA", "n": _b64u_int(numbers.n)}
    # RFC 7638 section 3.2: the required members, lexicographic order, no whitespace.
    kid = b64u_encode(sha256(canonical_json(required)))
    return {**required, "kid": kid, "use": "sig", "alg": RS256}


def sign_rs256(private_pem: bytes, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
    """Returns the compact JWS of ``claims`` signed RS256, with the key's thumbprint as kid and
    ``typ`` (``logout+jwt`` for a logout token, issue 19).

    Raises EncodingError if ``private_pem`` is not an RSA private key of at least 2048 bits.
    """
    key = _private_key(private_pem)
    kid = rsa_public_jwk(private_pem)["kid"]
    return jwt.encode(dict(claims), key, algorithm=RS256, headers={"kid": kid, "typ": typ})


def verify_rs256(private_pem: bytes, token: str) -> dict[str, Any]:
    """Returns the claims of ``token`` once its RS256 signature verifies under the public half of
    ``private_pem``; no claim is checked (callers check iss and aud; an ID token hint may be expired).

    Raises EncodingError if it does not verify or is malformed.
    """
    public_key = _private_key(private_pem).public_key()
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[RS256],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_aud": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as e:
        raise EncodingError("the RS256 token does not verify") from e
    if not isinstance(claims, dict):  # pragma: no cover - PyJWT returns a dict
        raise EncodingError("the RS256 token has no claims object")
    return claims
