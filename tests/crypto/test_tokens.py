"""Credential JWS (EdDSA) signing, verification and RFC 7638 key ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from escrow.crypto.errors import EncodingError
from escrow.crypto.tokens import (
    TYP_CREDENTIAL,
    TYP_ID_TOKEN,
    TokenAlgorithmError,
    TokenFormatError,
    TokenKeyUnknownError,
    TokenSignatureError,
    TokenTypeError,
    key_id,
    public_jwk,
    public_key_from_jwk,
    public_key_of,
    sign_token,
    verify_token,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode

SEED = bytes(range(32))
PUBLIC = public_key_of(SEED)
KEYS = {key_id(PUBLIC): PUBLIC}
CLAIMS = {"sub": "abc", "aud": "forum", "exp": 2_000_000_000}


def _b64(obj: object) -> str:
    return b64u_encode(json.dumps(obj).encode())


def test_signed_token_verifies_and_returns_header_and_claims() -> None:
    token = sign_token(SEED, CLAIMS)

    verified = verify_token(token, KEYS.get)

    assert verified.claims == CLAIMS
    assert verified.header == {"alg": "EdDSA", "kid": key_id(PUBLIC), "typ": "escrow-credential+jwt"}


def test_key_id_matches_rfc_8037_appendix_a3_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the A.2 public key.
    x = b64u_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")

    assert key_id(x) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc_8037_seed_gives_its_public_key() -> None:
    seed = b64u_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")

    assert b64u_encode(public_key_of(seed)) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def test_public_jwk_round_trips_through_public_key_from_jwk() -> None:
    jwk = public_jwk(PUBLIC)

    assert public_key_from_jwk(jwk) == PUBLIC
    assert jwk["kid"] == key_id(PUBLIC)


@pytest.mark.parametrize("jwk", [{"kty": "RSA"}, {"kty": "OKP", "crv": "X25519", "x": b64u_encode(PUBLIC)}])
def test_public_key_from_jwk_refuses_other_key_types(jwk: dict[str, str]) -> None:
    with pytest.raises(EncodingError):
        public_key_from_jwk(jwk)


def test_alg_none_is_refused_before_any_key_lookup() -> None:
    token = _b64({"alg": "none", "kid": key_id(PUBLIC)}) + "." + _b64(CLAIMS) + "."
    looked_up: list[str] = []

    with pytest.raises(TokenAlgorithmError):
        verify_token(token, lambda kid: looked_up.append(kid) or PUBLIC)  # type: ignore[func-returns-value]
    assert looked_up == []


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    signing_input = _b64({"alg": "HS256", "kid": key_id(PUBLIC)}) + "." + _b64(CLAIMS)
    mac = hmac.new(PUBLIC, signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(TokenAlgorithmError):
        verify_token(signing_input + "." + b64u_encode(mac), KEYS.get)


def test_unknown_kid_is_refused() -> None:
    with pytest.raises(TokenKeyUnknownError):
        verify_token(sign_token(SEED, CLAIMS), {}.get)


def test_missing_kid_is_refused() -> None:
    token = _b64({"alg": "EdDSA"}) + "." + _b64(CLAIMS) + "." + b64u_encode(b"\0" * 64)

    with pytest.raises(TokenKeyUnknownError):
        verify_token(token, KEYS.get)


def test_tampered_payload_fails_the_signature() -> None:
    header, _, signature = sign_token(SEED, CLAIMS).split(".")
    forged = header + "." + _b64({**CLAIMS, "aud": "other"}) + "." + signature

    with pytest.raises(TokenSignatureError):
        verify_token(forged, KEYS.get)


def test_flipped_signature_byte_fails() -> None:
    header, payload, signature = sign_token(SEED, CLAIMS).split(".")
    raw = bytearray(b64u_decode(signature))
    raw[0] ^= 1

    with pytest.raises(TokenSignatureError):
        verify_token(f"{header}.{payload}.{b64u_encode(bytes(raw))}", KEYS.get)


def test_truncated_signature_fails() -> None:
    header, payload, signature = sign_token(SEED, CLAIMS).split(".")
    short = b64u_encode(b64u_decode(signature)[:-1])

    with pytest.raises(TokenSignatureError):
        verify_token(f"{header}.{payload}.{short}", KEYS.get)


def test_crit_header_is_refused() -> None:
    token = _b64({"alg": "EdDSA", "kid": key_id(PUBLIC), "crit": ["exp"]}) + "." + _b64(CLAIMS) + ".AA"

    with pytest.raises(TokenFormatError):
        verify_token(token, KEYS.get)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!.e30.AA",
        _b64([1]) + ".e30.AA",
        base64.urlsafe_b64encode(b"{}").decode() + ".e30.AA",  # padded
        "x" * 9000,
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenFormatError):
        verify_token(token, KEYS.get)


def test_non_text_token_is_refused() -> None:
    with pytest.raises(TokenFormatError):
        verify_token(b"a.b.c", KEYS.get)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b"", b"\0" * 31, b"\0" * 33])
def test_wrong_length_keys_are_refused(bad: bytes) -> None:
    with pytest.raises(EncodingError):
        key_id(bad)
    with pytest.raises(EncodingError):
        public_key_of(bad)


def test_an_id_token_is_refused_as_a_credential_and_a_credential_as_an_id_token() -> None:
    # Issue 16 (RFC 8725 section 3.11): same key, same claims, only typ tells them apart.
    id_token = sign_token(SEED, CLAIMS, typ=TYP_ID_TOKEN)
    credential = sign_token(SEED, CLAIMS)
    with pytest.raises(TokenTypeError):
        verify_token(id_token, KEYS.get)
    with pytest.raises(TokenTypeError):
        verify_token(credential, KEYS.get, typ=TYP_ID_TOKEN)
    assert verify_token(id_token, KEYS.get, typ=TYP_ID_TOKEN).header["typ"] == "JWT"
    assert verify_token(credential, KEYS.get, typ=TYP_CREDENTIAL).claims == CLAIMS
