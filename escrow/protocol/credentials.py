"""Credential verification, the same on every machine: the platform SDK and the escrow service both use it.

A credential is a compact JWS (RFC 7515) with ``alg: EdDSA`` (RFC 8037) over the claims ``iss``, ``sub``
(the pairwise pseudonym), ``aud`` (the platform id), ``iat``, ``nbf``, ``exp``, ``jti`` and
``envelope_digest`` (docs/protocol.md). Pure: keys come in through a KeySource, the time as an argument;
fetching the issuer's JWKS is the client's job (escrow.client.verifier.RemoteJwks).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol

from escrow.crypto.errors import CryptoError, EncodingError
from escrow.crypto.tokens import (
    TYP_CREDENTIAL,
    TokenAlgorithmError,
    TokenKeyUnknownError,
    TokenSignatureError,
    TokenTypeError,
    public_key_from_jwk,
    verify_token,
)
from escrow.errors import (
    BadSignatureError,
    MalformedTokenError,
    TokenExpiredError,
    TokenNotYetValidError,
    UnknownSigningKeyError,
    UnsupportedAlgorithmError,
    WrongAudienceError,
    WrongIssuerError,
)

JWKS_PATH: Final = "/.well-known/jwks.json"
DEFAULT_LEEWAY: Final = timedelta(seconds=30)  # clock skew between issuer and platform
ENVELOPE_DIGEST_CLAIM: Final = "envelope_digest"


class VerifiedCredential(NamedTuple):
    """What a platform learns from a valid credential: a pseudonym, never an identity.

    Immutable (a NamedTuple: as safe as a frozen dataclass and cheaper to build per verification)."""

    pseudonym: str
    platform_id: str
    issuer: str
    credential_id: str
    envelope_digest: str
    key_id: str
    # NumericDate claims (RFC 7519 section 2), as signed; the properties below give datetimes.
    iat: int
    nbf: int
    exp: int

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.iat, UTC)

    @property
    def not_before(self) -> datetime:
        return datetime.fromtimestamp(self.nbf, UTC)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)


class KeySource(Protocol):
    """Where a verifier finds Ed25519 public keys by kid."""

    def find_key(self, kid: str) -> bytes | None:
        """Returns the raw public key for ``kid``, or None if unknown."""


class StaticKeys:
    """A fixed JWKS (e.g. the issuer's own published keys, or a pinned copy)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(jwks)

    def find_key(self, kid: str) -> bytes | None:
        return self._keys.get(kid)


def verify_credential(
    token: str,
    keys: KeySource,
    *,
    issuer: str,
    platform_id: str,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
) -> VerifiedCredential:
    """Returns the verified credential in ``token`` for ``platform_id`` at ``now``.

    Raises (all InvalidTokenError): MalformedTokenError, UnsupportedAlgorithmError,
    UnknownSigningKeyError, BadSignatureError, WrongIssuerError, WrongAudienceError,
    TokenExpiredError, TokenNotYetValidError. Revocation and redemption need the issuer's
    online endpoint (POST /api/v1/credentials/verify).
    """
    try:
        jws = verify_token(token, keys.find_key, typ=TYP_CREDENTIAL)
    except TokenTypeError as e:  # an ID token (typ JWT) of the same key, iss, aud and sub
        raise MalformedTokenError(f"not a credential: its typ must be {TYP_CREDENTIAL}") from e
    except TokenAlgorithmError as e:
        raise UnsupportedAlgorithmError("credential algorithm must be EdDSA (or Ed25519, RFC 9864)") from e
    except TokenKeyUnknownError as e:
        raise UnknownSigningKeyError("credential is signed by an unknown key") from e
    except TokenSignatureError as e:
        raise BadSignatureError("credential signature does not verify") from e
    except CryptoError as e:
        raise MalformedTokenError("credential is not a well-formed token") from e
    return check_claims(
        jws.claims,
        jws.header["kid"],
        issuer.rstrip("/"),
        platform_id,
        now.timestamp(),
        leeway.total_seconds(),
    )


def check_claims(
    claims: Mapping[str, Any], kid: str, issuer: str, audience: str, now: float, leeway: float
) -> VerifiedCredential:
    """Returns the credential if its claims fit issuer, audience and time; raises as verify() does."""
    try:
        iss, sub, aud, jti = claims["iss"], claims["sub"], claims["aud"], claims["jti"]
        digest = claims[ENVELOPE_DIGEST_CLAIM]
        iat, nbf, exp = claims["iat"], claims["nbf"], claims["exp"]
    except KeyError as e:
        raise MalformedTokenError(f"credential lacks the {e.args[0]} claim") from None
    if type(iat) is not int or type(nbf) is not int or type(exp) is not int:
        raise MalformedTokenError("credential times must be integers")
    if type(iss) is not str or type(sub) is not str or type(aud) is not str or type(jti) is not str:
        raise MalformedTokenError("credential claims have the wrong type")
    if type(digest) is not str:
        raise MalformedTokenError("credential claims have the wrong type")
    if iss != issuer:
        raise WrongIssuerError("credential was issued by another issuer")
    if aud != audience:
        raise WrongAudienceError("credential was issued for another platform")
    if now >= exp + leeway:
        raise TokenExpiredError("credential has expired")
    if now + leeway < nbf or now + leeway < iat:
        raise TokenNotYetValidError("credential is not valid yet")
    return VerifiedCredential(sub, aud, iss, jti, digest, kid, iat, nbf, exp)


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, bytes]:
    """Returns {kid: raw public key} for the Ed25519 keys in a JWKS; other keys are skipped.

    Raises EncodingError if ``jwks`` is not a JWKS object.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise EncodingError("not a JWKS")
    found: dict[str, bytes] = {}
    for jwk in keys:
        if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str):
            continue
        try:
            found[jwk["kid"]] = public_key_from_jwk(jwk)
        except EncodingError:
            continue
    return found
