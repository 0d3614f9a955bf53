"""Credentials checked by the platform SDK and by two third-party JOSE libraries (PyJWT with
PyJWKClient against the live JWKS on a loopback server, and joserfc): each accepts a good
credential and rejects every forgery with a specific error. Revocation and replay are online
checks (POST /api/v1/credentials/verify), tested over the same loopback server."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from joserfc import errors as jose_errors
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from escrow import errors
from escrow.client.verifier import JWKS_PATH, CredentialVerifier, PlatformClient, RemoteJwks
from escrow.crypto.tokens import TYP_CREDENTIAL, TYP_ID_TOKEN, key_id, public_key_of, sign_token
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.httpkit import get_components
from escrow.identity.base import VerifiedIdentity
from escrow.services.credentials import IssuedCredential, issue_credential, revoke_as_admin
from escrow.services.platforms import create_api_key, register_platform
from escrow.services.registration import register_person
from tests.credentials_support import install_key

PLATFORM = "forum"


@dataclass(frozen=True)
class Issuer:
    url: str
    issuer: str
    api_key: str
    issued: IssuedCredential
    revoked: IssuedCredential
    seed: bytes

    @property
    def claims(self) -> dict[str, Any]:
        return json.loads(b64u_decode(self.issued.token.split(".")[1]))

    def forge(self, **changes: Any) -> str:
        return sign_token(self.seed, {**self.claims, **changes})


@pytest.fixture
def issuer(live_server: tuple[str, Flask]) -> Issuer:
    """A live escrow on loopback with one platform, one person and two credentials (one revoked)."""
    url, app = live_server
    extension = get_components(app)
    now = datetime.now(UTC)
    with extension.session_factory() as session:
        install_key(session, log=extension.log, now=now)
        identity = VerifiedIdentity("oidc", "https://idp.example", "s-1", "Finn Example", "2000-01-01", "low")
        person = register_person(session, identity=identity, oprf=extension.oprf, log=extension.log, now=now)
        register_platform(
            session,
            platform_id=PLATFORM,
            name="Forum",
            contact="abuse@forum.example",
            redirect_uris=["https://forum.example/cb"],
            log=extension.log,
            now=now,
        )
        api_key = create_api_key(session, platform_id=PLATFORM, log=extension.log, now=now).api_key

        def issue() -> IssuedCredential:
            return issue_credential(
                session,
                person_id=person.account.id,
                platform_id=PLATFORM,
                secret=person.secret,
                keyring=extension.keyring,
                issuer=extension.settings.issuer_url,
                log=extension.log,
                now=now,
            )

        issued, revoked = issue(), issue()
        revoke_as_admin(session, credential_id=revoked.credential_id, log=extension.log, now=now)
        kid = json.loads(b64u_decode(issued.token.split(".")[0]))["kid"]
        seed = extension.keyring.signing_seed(kid)
    return Issuer(url, extension.settings.issuer_url, api_key, issued, revoked, seed)


def _b64_json(value: object) -> str:
    return b64u_encode(json.dumps(value).encode())


def _alg_none(i: Issuer) -> str:
    kid = json.loads(b64u_decode(i.issued.token.split(".")[0]))["kid"]
    return _b64_json({"alg": "none", "kid": kid}) + "." + i.issued.token.split(".")[1] + "."


def _hs256_with_public_key(i: Issuer) -> str:
    public = public_key_of(i.seed)
    signing_input = _b64_json({"alg": "HS256", "kid": key_id(public)}) + "." + i.issued.token.split(".")[1]
    return (
        signing_input + "." + b64u_encode(hmac.new(public, signing_input.encode(), hashlib.sha256).digest())
    )


def _tampered(i: Issuer) -> str:
    header, _, signature = i.issued.token.split(".")
    return f"{header}.{_b64_json({**i.claims, 'sub': 'someone-else'})}.{signature}"


def _unknown_kid(i: Issuer) -> str:
    return sign_token(b"\x07" * 32, i.claims)


def _id_token(i: Issuer) -> str:
    """An ID token of the same key, iss, aud and sub as the credential (RFC 8725 section 3.11)."""
    return sign_token(i.seed, i.claims, typ=TYP_ID_TOKEN)


def _future() -> int:
    return int((datetime.now(UTC) + timedelta(hours=1)).timestamp())


def _past() -> int:
    return int((datetime.now(UTC) - timedelta(hours=1)).timestamp())


# case -> (token builder, audience the verifier expects, issuer it expects (None: the real one))
CASES: dict[str, tuple[Callable[[Issuer], str], str, str | None]] = {
    "alg_none": (_alg_none, PLATFORM, None),
    "hs256_with_public_key": (_hs256_with_public_key, PLATFORM, None),
    "wrong_audience": (lambda i: i.issued.token, "market", None),
    "wrong_issuer": (lambda i: i.issued.token, PLATFORM, "https://evil.example"),
    "expired": (lambda i: i.forge(iat=_past() - 7200, nbf=_past() - 7200, exp=_past()), PLATFORM, None),
    "not_yet_valid": (lambda i: i.forge(nbf=_future()), PLATFORM, None),
    "unknown_kid": (_unknown_kid, PLATFORM, None),
    "tampered_payload": (_tampered, PLATFORM, None),
    "id_token_as_credential": (_id_token, PLATFORM, None),
}

SDK_ERRORS: dict[str, type[errors.InvalidTokenError]] = {
    "alg_none": errors.UnsupportedAlgorithmError,
    "hs256_with_public_key": errors.UnsupportedAlgorithmError,
    "wrong_audience": errors.WrongAudienceError,
    "wrong_issuer": errors.WrongIssuerError,
    "expired": errors.TokenExpiredError,
    "not_yet_valid": errors.TokenNotYetValidError,
    "unknown_kid": errors.UnknownSigningKeyError,
    "tampered_payload": errors.BadSignatureError,
    "id_token_as_credential": errors.MalformedTokenError,
}

PYJWT_ERRORS: dict[str, type[Exception]] = {
    "alg_none": jwt.InvalidAlgorithmError,
    "hs256_with_public_key": jwt.InvalidAlgorithmError,
    "wrong_audience": jwt.InvalidAudienceError,
    "wrong_issuer": jwt.InvalidIssuerError,
    "expired": jwt.ExpiredSignatureError,
    "not_yet_valid": jwt.ImmatureSignatureError,
    "unknown_kid": jwt.PyJWKClientError,
    "tampered_payload": jwt.InvalidSignatureError,
    "id_token_as_credential": jwt.InvalidTokenError,
}

JOSERFC_ERRORS: dict[str, tuple[type[Exception], str | None]] = {
    "alg_none": (jose_errors.UnsupportedAlgorithmError, "none"),
    "hs256_with_public_key": (jose_errors.UnsupportedAlgorithmError, "HS256"),
    "wrong_audience": (jose_errors.InvalidClaimError, "aud"),
    "wrong_issuer": (jose_errors.InvalidClaimError, "iss"),
    "expired": (jose_errors.ExpiredTokenError, "expired"),
    "not_yet_valid": (jose_errors.InvalidClaimError, "not yet valid"),
    "unknown_kid": (jose_errors.InvalidKeyIdError, "kid"),
    "tampered_payload": (jose_errors.BadSignatureError, None),
    "id_token_as_credential": (jose_errors.InvalidHeaderValueError, "typ"),
}


def _sdk(i: Issuer, audience: str = PLATFORM, expected_issuer: str | None = None) -> CredentialVerifier:
    return CredentialVerifier(
        issuer=expected_issuer or i.issuer, platform_id=audience, keys=RemoteJwks(i.url + JWKS_PATH)
    )


def _pyjwt(
    i: Issuer, token: str, audience: str = PLATFORM, expected_issuer: str | None = None
) -> dict[str, Any]:
    key = jwt.PyJWKClient(i.url + JWKS_PATH).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=expected_issuer or i.issuer,
        options={"require": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]},
    )
    # As docs/platforms.md says: PyJWT does not check typ, so refuse any but a credential's (an ID
    # token of the same key, iss, aud and sub has typ JWT).
    if jwt.get_unverified_header(token).get("typ") != "escrow-credential+jwt":
        raise jwt.InvalidTokenError("not an escrow credential")
    return dict(claims)


def _joserfc(
    i: Issuer, token: str, audience: str = PLATFORM, expected_issuer: str | None = None
) -> dict[str, Any]:
    with urllib.request.urlopen(i.url + JWKS_PATH) as response:  # noqa: S310 - loopback
        key_set = KeySet.import_key_set(json.load(response))
    with warnings.catch_warnings():
        # joserfc 1.8 flags alg EdDSA as deprecated by RFC 9864 (NOTES.md); we issue it for reach.
        warnings.simplefilter("ignore")
        decoded = jose_jwt.decode(token, key_set, algorithms=["EdDSA"])
    if decoded.header.get("typ") != TYP_CREDENTIAL:
        raise jose_errors.InvalidHeaderValueError("typ")
    JWTClaimsRegistry(
        iss={"essential": True, "value": expected_issuer or i.issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        nbf={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


def test_sdk_accepts_a_good_credential(issuer: Issuer) -> None:
    credential = _sdk(issuer).verify(issuer.issued.token)

    assert credential.pseudonym == issuer.issued.pseudonym
    assert credential.credential_id == issuer.issued.credential_id


def test_pyjwt_with_pyjwkclient_accepts_a_good_credential(issuer: Issuer) -> None:
    assert _pyjwt(issuer, issuer.issued.token)["sub"] == issuer.issued.pseudonym


def test_joserfc_accepts_a_good_credential(issuer: Issuer) -> None:
    assert _joserfc(issuer, issuer.issued.token)["envelope_digest"] == issuer.issued.envelope_digest


@pytest.mark.parametrize("case", sorted(CASES))
def test_sdk_rejects_forgery_with_a_specific_error(issuer: Issuer, case: str) -> None:
    build, audience, expected_issuer = CASES[case]

    with pytest.raises(SDK_ERRORS[case]):
        _sdk(issuer, audience, expected_issuer).verify(build(issuer))


@pytest.mark.parametrize("case", sorted(CASES))
def test_pyjwt_rejects_forgery_with_a_specific_error(issuer: Issuer, case: str) -> None:
    build, audience, expected_issuer = CASES[case]

    with pytest.raises(PYJWT_ERRORS[case]):
        _pyjwt(issuer, build(issuer), audience, expected_issuer)


@pytest.mark.parametrize("case", sorted(CASES))
def test_joserfc_rejects_forgery_with_a_specific_error(issuer: Issuer, case: str) -> None:
    build, audience, expected_issuer = CASES[case]
    error, message = JOSERFC_ERRORS[case]

    with pytest.raises(error, match=message):
        _joserfc(issuer, build(issuer), audience, expected_issuer)


def _redeem(issuer: Issuer, token: str, api_key: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        issuer.url + "/api/v1/credentials/verify",
        data=json.dumps({"credential": token}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key or issuer.api_key}"},
    )
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.load(e)


def test_online_verification_redeems_once_then_refuses_the_replay(issuer: Issuer) -> None:
    first_status, first = _redeem(issuer, issuer.issued.token)
    second_status, second = _redeem(issuer, issuer.issued.token)

    assert (first_status, first["pseudonym"]) == (200, issuer.issued.pseudonym)
    assert (second_status, second["code"]) == (409, "credential-already-redeemed")


def test_online_verification_refuses_a_revoked_credential(issuer: Issuer) -> None:
    status, body = _redeem(issuer, issuer.revoked.token)

    assert (status, body["code"]) == (422, "credential-revoked")


# The online endpoint always expects the calling platform and this issuer: the forged-token cases.
TOKEN_CASES = sorted(
    c for c, (_, audience, expected) in CASES.items() if audience == PLATFORM and not expected
)


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_online_verification_rejects_forgery_with_its_problem_code(issuer: Issuer, case: str) -> None:
    build, _, _ = CASES[case]

    status, body = _redeem(issuer, build(issuer))

    assert (status, body["code"]) == (422, SDK_ERRORS[case].code)


def test_online_verification_needs_a_platform_api_key(issuer: Issuer) -> None:
    status, body = _redeem(issuer, issuer.issued.token, api_key="esk_wrong")

    assert (status, body["code"]) == (401, "authentication-failed")


def test_jwks_is_cacheable_and_keyed_by_rfc7638_thumbprints(issuer: Issuer) -> None:
    with urllib.request.urlopen(issuer.url + JWKS_PATH) as response:  # noqa: S310 - loopback
        jwks = json.load(response)
        cache_control = response.headers["Cache-Control"]

    assert "max-age=300" in cache_control
    (key,) = jwks["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert "alg" not in key  # EdDSA and Ed25519 (RFC 9864) tokens both select it: test_algorithm_names.py
    assert key["kid"] == key_id(b64u_decode(key["x"]))


def test_sdk_platform_client_redeems_once_then_names_the_replay(issuer: Issuer) -> None:
    client = PlatformClient(issuer=issuer.url, api_key=issuer.api_key)

    assert client.redeem(issuer.issued.token)["pseudonym"] == issuer.issued.pseudonym
    with pytest.raises(errors.TokenAlreadyRedeemedError):
        client.redeem(issuer.issued.token)


def test_sdk_platform_client_names_a_revoked_credential(issuer: Issuer) -> None:
    with pytest.raises(errors.TokenRevokedError):
        PlatformClient(issuer=issuer.url, api_key=issuer.api_key).redeem(issuer.revoked.token)


def test_sdk_platform_client_reports_status_and_revokes(issuer: Issuer) -> None:
    client = PlatformClient(issuer=issuer.url, api_key=issuer.api_key)

    client.revoke(issuer.issued.credential_id)

    assert client.status([issuer.issued.credential_id, issuer.revoked.credential_id, "nope"]) == {
        issuer.issued.credential_id: "revoked",
        issuer.revoked.credential_id: "revoked",
        "nope": "unknown",
    }


def test_sdk_platform_client_refuses_a_wrong_api_key_and_an_unreachable_issuer(issuer: Issuer) -> None:
    with pytest.raises(errors.AuthenticationError):
        PlatformClient(issuer=issuer.url, api_key="esk_wrong").redeem(issuer.issued.token)
    with pytest.raises(errors.EscrowError):
        PlatformClient(issuer="http://127.0.0.1:9", api_key=issuer.api_key).redeem(issuer.issued.token)


@pytest.mark.parametrize("library", ["pyjwt", "joserfc"])
def test_third_party_libraries_cannot_see_revocation_offline_but_status_can(
    issuer: Issuer, library: str
) -> None:
    # Revocation is not in the signed bytes: every offline verifier accepts a revoked credential, so a
    # platform using PyJWT or joserfc asks the status endpoint (docs/platforms.md), which names it.
    decode = _pyjwt if library == "pyjwt" else _joserfc

    assert decode(issuer, issuer.revoked.token)["jti"] == issuer.revoked.credential_id
    status = PlatformClient(issuer=issuer.url, api_key=issuer.api_key).status([issuer.revoked.credential_id])
    assert status == {issuer.revoked.credential_id: "revoked"}


def test_a_credential_is_refused_where_an_id_token_is_expected(issuer: Issuer) -> None:
    # A generic OpenID Connect verifier that checks typ (as docs/platforms.md asks) refuses the
    # credential, although key, iss, aud and sub are those of an ID token for this platform.
    token = issuer.issued.token
    assert jwt.get_unverified_header(token)["typ"] == TYP_CREDENTIAL
    key = jwt.PyJWKClient(issuer.url + JWKS_PATH).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=PLATFORM, issuer=issuer.issuer)
    assert claims["sub"] == issuer.issued.pseudonym  # which is why typ must be checked
    assert jwt.get_unverified_header(token).get("typ") != TYP_ID_TOKEN
    # and the escrow-side SDK accepts only the credential typ
    with pytest.raises(errors.MalformedTokenError, match="typ"):
        _sdk(issuer).verify(_id_token(issuer))
