"""OpenID Connect identity providers: authorization code flow with PKCE, ID tokens verified with PyJWT.

An OidcProvider is one IdentityProvider (escrow.identity.base); the registry builds one per configured
issuer. Configured by issuer URL alone: discovery (OpenID Connect Discovery 1.0 section 4) and the JWKS are
fetched and cached. The ID token's signature, ``iss``, ``aud``, ``exp``, ``iat`` and ``nonce`` are
verified (OpenID Connect Core 1.0 section 3.1.3.7) before any attribute is taken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import jwt

from escrow.errors import IdentityProofError
from escrow.identity.base import (
    ASSURANCE_LEVELS,
    ASSURANCE_SUBSTANTIAL,
    PROVIDER_OIDC,
    LoginStart,
    VerifiedIdentity,
    clean_birthdate,
    clean_text,
)
from escrow.identity.transport import HttpClient

ALLOWED_ALGORITHMS = ("EdDSA", "ES256", "RS256", "PS256")  # asymmetric only: no HS*, no none
METADATA_TTL_S = 3600.0
JWKS_MIN_REFETCH_S = 10.0
CLOCK_LEEWAY_S = 60
MAX_ID_TOKEN_AGE_S = 600  # an iat older than this is a replayed or hoarded token
# What begin() keeps for finish(): RFC 6749 section 10.12 (state), OIDC Core 3.1.2.1 (nonce), RFC 7636.
_KEPT = ("state", "nonce", "code_verifier")


class OidcProvider:
    """One OpenID Connect provider, known by its issuer URL; metadata and keys cached per instance.

    ``provider_id`` (a slug) and ``label`` name it on our side (IdentityProvider); ``redirect_uri`` is
    the callback registered at the provider.
    """

    kind = PROVIDER_OIDC

    def __init__(
        self,
        *,
        provider_id: str,
        label: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        http: HttpClient,
        assurance: str = ASSURANCE_SUBSTANTIAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if assurance not in ASSURANCE_LEVELS:
            raise ValueError(f"unknown assurance level {assurance!r}")
        self.id = provider_id
        self.label = label
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.assurance = assurance
        self._http = http
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._metadata_expires = float("-inf")
        self._jwks: dict[str, dict[str, Any]] = {}
        self._jwks_fetched = float("-inf")

    def __repr__(self) -> str:
        return f"OidcProvider(id={self.id!r}, issuer={self.issuer!r})"

    def begin(self) -> LoginStart:
        """Returns a fresh authorization request (state, nonce, PKCE S256) and what to keep of it.

        Raises IdentityProofError if the provider's discovery document cannot be fetched or is invalid.
        """
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": "openid profile birthdate",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
            }
        )
        endpoint = str(self._get_metadata()["authorization_endpoint"])
        separator = "&" if "?" in endpoint else "?"
        kept = {"state": state, "nonce": nonce, "code_verifier": verifier}
        return LoginStart(f"{endpoint}{separator}{query}", kept)

    def finish(
        self, *, kept: Mapping[str, str], callback: Mapping[str, str], now: datetime
    ) -> VerifiedIdentity:
        """Returns the verified identity once the callback's code is exchanged and its ID token verified.

        ``kept`` is what begin() kept for this browser, ``callback`` the query it came back with.
        Raises IdentityProofError if the provider reports an error, on a state mismatch, a failed
        exchange, or any ID token check.
        """
        if "error" in callback:
            raise IdentityProofError("the identity provider refused the login")
        if any(not isinstance(kept.get(name), str) for name in _KEPT):
            raise IdentityProofError("no login is in progress at this identity provider")
        state, code = callback.get("state", ""), callback.get("code", "")
        if not hmac.compare_digest(state.encode(), kept["state"].encode()):
            raise IdentityProofError("the login response does not belong to this login attempt")
        try:
            response = self._http.post_form(
                str(self._get_metadata()["token_endpoint"]),
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "client_id": self.client_id,
                    "client_secret": self._client_secret,
                    "code_verifier": kept["code_verifier"],
                },
            )
            body = json.loads(response.body) if response.status == 200 else None
        except (OSError, ValueError) as e:
            raise IdentityProofError("the identity provider's token endpoint failed") from e
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise IdentityProofError("the identity provider refused the authorization code")
        return self.verify_id_token(body["id_token"], nonce=kept["nonce"], now=now)

    def verify_id_token(self, id_token: str, *, nonce: str, now: datetime) -> VerifiedIdentity:
        """Returns the identity in a verified ID token (signature, iss, aud, exp, iat, nonce).

        Raises IdentityProofError, whose message never quotes the token or its claims.
        """
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as e:
            raise IdentityProofError("the ID token is malformed") from e
        if header.get("typ", "JWT") != "JWT":  # e.g. an escrow credential (escrow-credential+jwt)
            raise IdentityProofError("the token is not an ID token (its typ is not JWT)")
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS or algorithm not in self._supported_algorithms():
            raise IdentityProofError("the ID token uses an algorithm we do not accept")
        key = self._find_key(header.get("kid"), algorithm)
        try:
            claims = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.client_id,
                issuer=self.issuer,
                # Times are checked below against the caller's `now` (STYLE.md section 5).
                options={
                    "require": ["iss", "sub", "aud", "exp", "iat", "nonce"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as e:
            raise IdentityProofError("the ID token did not verify") from e
        self._check_times(claims, now.timestamp())
        if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
            claims["nonce"].encode(), nonce.encode()
        ):
            raise IdentityProofError("the ID token's nonce does not match this login attempt")
        azp = claims.get("azp")
        if isinstance(claims["aud"], list) and len(claims["aud"]) > 1 and azp != self.client_id:
            raise IdentityProofError("the ID token was issued to another client")
        return VerifiedIdentity(
            provider_kind=PROVIDER_OIDC,
            issuer=self.issuer,
            subject=clean_text(claims["sub"], "subject"),
            name=clean_text(claims.get("name"), "name"),
            birthdate=clean_birthdate(claims.get("birthdate"), today=now.date()),
            assurance=self.assurance,
        )

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise IdentityProofError("the ID token's times are malformed")
        if now >= exp + CLOCK_LEEWAY_S:
            raise IdentityProofError("the ID token has expired")
        if iat > now + CLOCK_LEEWAY_S or iat < now - MAX_ID_TOKEN_AGE_S:
            raise IdentityProofError("the ID token was not issued just now")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > now + CLOCK_LEEWAY_S:
            raise IdentityProofError("the ID token is not valid yet")

    def _supported_algorithms(self) -> list[str]:
        values = self._get_metadata().get("id_token_signing_alg_values_supported", ["RS256"])
        return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []

    def _find_key(self, kid: object, algorithm: str) -> jwt.PyJWK:
        jwk = self._jwks.get(kid) if isinstance(kid, str) else None
        if jwk is None and self._clock() - self._jwks_fetched >= JWKS_MIN_REFETCH_S:
            self._jwks = self._fetch_jwks()
            self._jwks_fetched = self._clock()
            jwk = self._jwks.get(kid) if isinstance(kid, str) else None
        if jwk is None:
            raise IdentityProofError("the ID token is signed by a key the provider does not publish")
        if jwk.get("alg") not in (None, algorithm):
            raise IdentityProofError("the ID token's algorithm does not match its key")
        try:
            return jwt.PyJWK(jwk, algorithm=algorithm)
        except jwt.PyJWTError as e:
            raise IdentityProofError("the provider published an unusable key") from e

    def _fetch_jwks(self) -> dict[str, dict[str, Any]]:
        data = self._get_json(str(self._get_metadata()["jwks_uri"]))
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise IdentityProofError("the provider's JWKS is malformed")
        return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}

    def _get_metadata(self) -> dict[str, Any]:
        if self._metadata is None or self._clock() >= self._metadata_expires:
            metadata = self._get_json(self.issuer + "/.well-known/openid-configuration")
            # Discovery section 4.3: the issuer in the document must be the one we asked.
            if metadata.get("issuer") != self.issuer:
                raise IdentityProofError("the provider's discovery document names another issuer")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(name), str):
                    raise IdentityProofError("the provider's discovery document is incomplete")
            self._metadata = metadata
            self._metadata_expires = self._clock() + METADATA_TTL_S
        return self._metadata

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url)
            data = json.loads(response.body) if response.status == 200 else None
        except (OSError, ValueError) as e:
            raise IdentityProofError("the identity provider cannot be reached") from e
        if not isinstance(data, dict):
            raise IdentityProofError("the identity provider sent an unexpected answer")
        return data
