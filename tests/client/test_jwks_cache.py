"""The SDK's JWKS cache: honours max-age, refetches once on an unknown kid, survives fetch failures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from escrow.client.verifier import CredentialVerifier, RemoteJwks, StaticKeys
from escrow.crypto.errors import EncodingError
from escrow.crypto.tokens import key_id, public_jwk, public_key_of, sign_token
from escrow.errors import MalformedTokenError, UnknownSigningKeyError
from escrow.protocol.credentials import check_claims, parse_jwks

OLD, NEW = b"\x01" * 32, b"\x02" * 32
CLAIMS = {
    "iss": "https://escrow.example",
    "sub": "pseudonym",
    "aud": "forum",
    "iat": 1_800_000_000,
    "nbf": 1_800_000_000,
    "exp": 1_800_003_600,
    "jti": "j",
    "envelope_digest": "d",
}
NOW = datetime.fromtimestamp(1_800_000_100, UTC)


class Publisher:
    """Stands for the issuer's JWKS endpoint: serves whichever keys it currently publishes."""

    def __init__(self, *seeds: bytes, cache_control: str = "public, max-age=300") -> None:
        self.seeds = list(seeds)
        self.cache_control = cache_control
        self.requests = 0
        self.is_down = False

    def __call__(self, url: str) -> tuple[bytes, Mapping[str, str]]:
        self.requests += 1
        if self.is_down:
            raise OSError("connection refused")
        body = json.dumps({"keys": [public_jwk(public_key_of(s)) for s in self.seeds]}).encode()
        return body, {"Cache-Control": self.cache_control}


def _verifier(publisher: Publisher, clock: list[float]) -> CredentialVerifier:
    keys = RemoteJwks("https://escrow.example/.well-known/jwks.json", fetch=publisher, clock=lambda: clock[0])
    return CredentialVerifier(issuer="https://escrow.example", platform_id="forum", keys=keys)


def test_jwks_is_fetched_once_within_max_age() -> None:
    publisher, clock = Publisher(OLD), [0.0]
    verifier = _verifier(publisher, clock)

    for _ in range(5):
        verifier.verify(sign_token(OLD, CLAIMS), now=NOW)
        clock[0] += 10

    assert publisher.requests == 1


def test_jwks_is_refetched_after_max_age() -> None:
    publisher, clock = Publisher(OLD, cache_control="max-age=60"), [0.0]
    verifier = _verifier(publisher, clock)
    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)

    clock[0] += 61
    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)

    assert publisher.requests == 2


def test_unknown_kid_after_rotation_triggers_exactly_one_refetch() -> None:
    # Given a verifier that cached the old key
    publisher, clock = Publisher(OLD), [0.0]
    verifier = _verifier(publisher, clock)
    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)

    # When the issuer rotates and a credential signed by the new key arrives
    publisher.seeds = [NEW, OLD]
    clock[0] += 30
    credential = verifier.verify(sign_token(NEW, CLAIMS), now=NOW)

    # Then one refetch found the new key
    assert credential.key_id == key_id(public_key_of(NEW))
    assert publisher.requests == 2


def test_spray_of_unknown_kids_does_not_turn_into_a_fetch_per_token() -> None:
    publisher, clock = Publisher(OLD), [0.0]
    verifier = _verifier(publisher, clock)
    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)
    clock[0] += 30

    for i in range(5):
        with pytest.raises(UnknownSigningKeyError):
            verifier.verify(sign_token(bytes([i + 10]) * 32, CLAIMS), now=NOW)

    assert publisher.requests == 2


def test_no_store_disables_caching() -> None:
    publisher, clock = Publisher(OLD, cache_control="no-store"), [0.0]
    verifier = _verifier(publisher, clock)

    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)
    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)

    assert publisher.requests == 2


def test_fetch_failure_keeps_the_cached_keys() -> None:
    publisher, clock = Publisher(OLD, cache_control="max-age=60"), [0.0]
    verifier = _verifier(publisher, clock)
    verifier.verify(sign_token(OLD, CLAIMS), now=NOW)
    publisher.is_down = True
    clock[0] += 120

    assert verifier.verify(sign_token(OLD, CLAIMS), now=NOW).pseudonym == "pseudonym"


def test_unreachable_issuer_means_unknown_key() -> None:
    publisher, clock = Publisher(OLD), [0.0]
    publisher.is_down = True

    with pytest.raises(UnknownSigningKeyError):
        _verifier(publisher, clock).verify(sign_token(OLD, CLAIMS), now=NOW)


@pytest.mark.parametrize(
    "claims",
    [
        {k: v for k, v in CLAIMS.items() if k != "jti"},
        {**CLAIMS, "exp": "soon"},
        {**CLAIMS, "exp": True},
        {**CLAIMS, "sub": 7},
    ],
)
def test_missing_or_mistyped_claims_are_malformed(claims: dict[str, object]) -> None:
    verifier = CredentialVerifier(
        issuer="https://escrow.example",
        platform_id="forum",
        keys=StaticKeys({"keys": [public_jwk(public_key_of(OLD))]}),
    )

    with pytest.raises(MalformedTokenError):
        verifier.verify(sign_token(OLD, claims), now=NOW)


def test_check_claims_allows_small_clock_skew() -> None:
    twenty_seconds_early = CLAIMS["iat"] - 20

    credential = check_claims(
        CLAIMS, kid="k", issuer=CLAIMS["iss"], audience="forum", now=twenty_seconds_early, leeway=30
    )

    assert credential.pseudonym == "pseudonym"


def test_parse_jwks_skips_foreign_keys_and_refuses_non_jwks() -> None:
    jwks = {"keys": [{"kty": "RSA", "kid": "r"}, "junk", public_jwk(public_key_of(OLD))]}

    assert list(parse_jwks(jwks)) == [key_id(public_key_of(OLD))]
    with pytest.raises(EncodingError):
        parse_jwks({"keys": "nope"})
