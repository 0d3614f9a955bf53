"""Platform SDK: verify escrow credentials offline against the issuer's published JWKS.

    verifier = CredentialVerifier(issuer="https://escrow.example", platform_id="forum")
    credential = verifier.verify(token)     # VerifiedCredential, or raises an InvalidTokenError subclass
    credential.pseudonym                    # stable for this person on this platform

The JWKS is fetched from ``<issuer>/.well-known/jwks.json``, cached for the response's
``Cache-Control: max-age`` (default 5 minutes), and refetched at most once per verification when a
token names an unknown ``kid`` (key rotation). Verification itself needs no network: it is
escrow.protocol.credentials, the same code the issuer runs.

Revocation and single use are online checks (PlatformClient, with the platform's API key):

    client = PlatformClient(issuer="https://escrow.example", api_key=API_KEY)
    client.redeem(token)      # TokenRevokedError, TokenAlreadyRedeemedError (replay), ...
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from escrow.crypto.errors import EncodingError
from escrow.errors import (
    AuthenticationError,
    BadSignatureError,
    EscrowError,
    InvalidCredentialError,
    MalformedTokenError,
    TokenAlreadyRedeemedError,
    TokenExpiredError,
    TokenNotYetValidError,
    TokenRevokedError,
    UnknownSigningKeyError,
    UnsupportedAlgorithmError,
    WrongAudienceError,
    WrongIssuerError,
)
from escrow.protocol.credentials import (
    DEFAULT_LEEWAY,
    ENVELOPE_DIGEST_CLAIM,
    JWKS_PATH,
    KeySource,
    StaticKeys,
    VerifiedCredential,
    parse_jwks,
    verify_credential,
)

# The SDK's public names (platforms import them from here).
__all__ = [
    "ENVELOPE_DIGEST_CLAIM",
    "JWKS_PATH",
    "CredentialVerifier",
    "KeySource",
    "PlatformClient",
    "RemoteJwks",
    "StaticKeys",
    "VerifiedCredential",
]

DEFAULT_MAX_AGE_S = 300
MIN_REFETCH_INTERVAL_S = 10.0  # an attacker spraying random kids must not turn us into a fetch loop
FETCH_TIMEOUT_S = 10
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)

Fetch = Callable[[str], tuple[bytes, Mapping[str, str]]]
"""Returns the body and headers of a GET on the URL; raises OSError if it cannot."""


class RemoteJwks:
    """The issuer's JWKS over HTTPS, cached for its ``max-age``; one refetch on an unknown kid."""

    def __init__(
        self, url: str, *, fetch: Fetch | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._url = url
        self._fetch = fetch or _urllib_fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self._expires = float("-inf")
        self._fetched = float("-inf")
        self.fetch_count = 0

    def find_key(self, kid: str) -> bytes | None:
        now = self._clock()
        if now >= self._expires:
            self._refresh(now)
        key = self._keys.get(kid)
        if key is None and now - self._fetched >= MIN_REFETCH_INTERVAL_S:
            self._refresh(now)
            key = self._keys.get(kid)
        return key

    def _refresh(self, now: float) -> None:
        with self._lock:
            try:
                body, headers = self._fetch(self._url)
                keys = parse_jwks(json.loads(body))
            except (OSError, ValueError, EncodingError):
                # Keep serving the keys we have; an unknown kid then fails as unknown.
                self._fetched = now
                self._expires = now + MIN_REFETCH_INTERVAL_S
                return
            self.fetch_count += 1
            self._keys = keys
            self._fetched = now
            self._expires = now + _max_age(headers)


class CredentialVerifier:
    """Verifies credentials for one platform offline. Safe to share between threads."""

    def __init__(
        self,
        *,
        issuer: str,
        platform_id: str,
        keys: KeySource | None = None,
        fetch: Fetch | None = None,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.platform_id = platform_id
        self._keys = keys if keys is not None else RemoteJwks(self.issuer + JWKS_PATH, fetch=fetch)
        self._leeway = leeway

    def verify(self, token: str, *, now: datetime | None = None) -> VerifiedCredential:
        """Returns the verified credential in ``token``.

        Raises (all InvalidTokenError): MalformedTokenError, UnsupportedAlgorithmError,
        UnknownSigningKeyError, BadSignatureError, WrongIssuerError, WrongAudienceError,
        TokenExpiredError, TokenNotYetValidError. Revocation and redemption need the issuer's
        online endpoint (POST /api/v1/credentials/verify).
        """
        return verify_credential(
            token,
            self._keys,
            issuer=self.issuer,
            platform_id=self.platform_id,
            now=now if now is not None else datetime.now(UTC),
            leeway=self._leeway,
        )


def _max_age(headers: Mapping[str, str]) -> float:
    lowered = {k.lower(): v for k, v in headers.items()}
    control = lowered.get("cache-control", "")
    if "no-store" in control or "no-cache" in control:
        return 0.0
    match = _MAX_AGE.search(control)
    return float(match.group(1)) if match else float(DEFAULT_MAX_AGE_S)


def _urllib_fetch(url: str) -> tuple[bytes, Mapping[str, str]]:
    if not url.startswith(("https://", "http://")):
        raise OSError("JWKS URL must be http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
        return response.read(), dict(response.headers.items())


# Online checks: revocation and single use need the issuer (offline verification cannot know).

_ONLINE_ERRORS: dict[str, type[EscrowError]] = {
    cls.code: cls
    for cls in (
        InvalidCredentialError,
        MalformedTokenError,
        UnsupportedAlgorithmError,
        UnknownSigningKeyError,
        BadSignatureError,
        WrongIssuerError,
        WrongAudienceError,
        TokenExpiredError,
        TokenNotYetValidError,
        TokenRevokedError,
        TokenAlreadyRedeemedError,
        AuthenticationError,
    )
}

Post = Callable[[str, bytes, Mapping[str, str]], tuple[int, bytes]]
"""POSTs a JSON body with headers; returns status and body. Raises OSError if unreachable."""


class PlatformClient:
    """The issuer's online API for one platform: redeem once, status, revoke (API key auth)."""

    def __init__(self, *, issuer: str, api_key: str, post: Post | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self._api_key = api_key
        self._post = post or _urllib_post

    def redeem(self, token: str) -> dict[str, Any]:
        """Verifies ``token`` at the issuer and redeems it; returns the verified claims as JSON.

        Raises TokenRevokedError, TokenAlreadyRedeemedError (a replay), AuthenticationError (bad API
        key), or the offline verifier's errors; EscrowError for an unexpected answer.
        """
        return self._call("/api/v1/credentials/verify", {"credential": token})

    def status(self, credential_ids: list[str]) -> dict[str, str]:
        """Returns {credential id: active|redeemed|revoked|expired|unknown}."""
        statuses = self._call("/api/v1/credentials/status", {"credential_ids": credential_ids})["statuses"]
        return dict(statuses)

    def revoke(self, credential_id: str) -> None:
        """Revokes one of this platform's credentials (abuse)."""
        self._call(f"/api/v1/credentials/{urllib.parse.quote(credential_id, safe='')}/revoke", {})

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key}"}
        try:
            status, raw = self._post(self.issuer + path, json.dumps(body).encode(), headers)
            answer = json.loads(raw)
        except (OSError, ValueError) as e:
            raise EscrowError("the issuer cannot be reached or sent no JSON") from e
        if not isinstance(answer, dict):
            raise EscrowError("the issuer sent an unexpected answer")
        if status >= 400:
            error = _ONLINE_ERRORS.get(str(answer.get("code")), EscrowError)
            raise error(str(answer.get("detail", "the issuer refused the request")))
        return answer


def _urllib_post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    if not url.startswith(("https://", "http://")):
        raise OSError("issuer URL must be http(s)")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        with e:  # an HTTPError holds the connection open until closed
            return e.code, e.read()
