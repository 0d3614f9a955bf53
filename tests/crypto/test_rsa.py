"""RS256 ID-token signing (issue 7): keys, RFC 7638 thumbprints, signatures and refusals."""

from __future__ import annotations

import functools
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import RSAKey

from escrow.crypto.errors import EncodingError
from escrow.crypto.rsa import generate_rsa_private_pem, rsa_public_jwk, sign_rs256, verify_rs256


@functools.cache
def _pem() -> bytes:
    return generate_rsa_private_pem()


def _pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_public_jwk_has_no_private_part_and_an_rfc7638_thumbprint_as_kid() -> None:
    jwk = rsa_public_jwk(_pem())

    assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}
    assert jwk["alg"] == "RS256"
    assert jwk["kid"] == RSAKey.import_key(_pem()).thumbprint()


def test_signed_token_verifies_with_pyjwt_against_the_public_jwk() -> None:
    token = sign_rs256(_pem(), {"sub": "abc", "aud": "forum"})

    key = jwt.PyJWK(rsa_public_jwk(_pem()))
    assert jwt.get_unverified_header(token)["kid"] == rsa_public_jwk(_pem())["kid"]
    assert jwt.decode(token, key, algorithms=["RS256"], audience="forum")["sub"] == "abc"


def test_flipped_signature_byte_does_not_verify() -> None:
    token = sign_rs256(_pem(), {"sub": "abc"})
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{body}.{flipped}", jwt.PyJWK(rsa_public_jwk(_pem())), algorithms=["RS256"])


def test_wrong_key_does_not_verify() -> None:
    token = sign_rs256(_pem(), {"sub": "abc"})
    other = jwt.PyJWK(rsa_public_jwk(generate_rsa_private_pem()))

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other, algorithms=["RS256"])


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"-----BEGIN PRIVATE KEY-----\ntruncated",
        "not bytes",
        _pem_of(ec.generate_private_key(ec.SECP256R1())),
        _pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505 - the refusal under test
    ],
    ids=["empty", "truncated", "wrong type", "ec key", "short rsa key"],
)
def test_anything_but_a_strong_rsa_key_is_refused(bad: object) -> None:
    with pytest.raises(EncodingError):
        rsa_public_jwk(bad)  # type: ignore[arg-type]
    with pytest.raises(EncodingError):
        sign_rs256(bad, {"sub": "x"})  # type: ignore[arg-type]


def test_private_key_is_pkcs8_pem() -> None:
    assert _pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert json.dumps(rsa_public_jwk(_pem()))  # serialisable as is


# --- verify_rs256: the ID token hint of RP-initiated logout (issue 19) ---------------------------


def test_verify_rs256_returns_the_claims_of_our_own_token_even_expired() -> None:
    token = sign_rs256(_pem(), {"sub": "abc", "exp": 1}, typ="logout+jwt")

    assert verify_rs256(_pem(), token) == {"sub": "abc", "exp": 1}
    assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"


@pytest.mark.parametrize("damage", ["flip", "other-key", "truncate", "alg-none", "not-a-jwt"])
def test_verify_rs256_refuses_a_damaged_or_foreign_token(damage: str) -> None:
    token = sign_rs256(_pem(), {"sub": "abc"})
    head, body, signature = token.split(".")
    damaged = {
        "flip": f"{head}.{body}.{signature[:10]}{'A' if signature[10] != 'A' else 'B'}{signature[11:]}",
        "other-key": sign_rs256(generate_rsa_private_pem(), {"sub": "abc"}),
        "truncate": f"{head}.{body}",
        "alg-none": jwt.encode({"sub": "abc"}, key=None, algorithm="none"),
        "not-a-jwt": "hello",
    }[damage]

    with pytest.raises(EncodingError):
        verify_rs256(_pem(), damaged)
