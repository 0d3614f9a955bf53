"""Issue 16, item 5, an audit finding: identity records padded to multiples of 256 bytes, so a
257-byte record's rare length linked its seal and every envelope. Now one padded size."""

from __future__ import annotations

import pytest

from escrow.crypto.errors import InvalidInputError
from escrow.crypto.seal import (
    MAX_IDENTITY_BYTES,
    PADDED_SIZES,
    SealKey,
    reseal,
    seal,
    seal_identity,
)
from escrow.identity.base import VerifiedIdentity
from tests.crypto.support import run_dkg

KEY, SHARES = run_dkg(2, 3)
SEAL_KEY = SealKey(b"\x05" * 64)
CONTEXT = {"platform": "forum.example", "pseudonym": "k7d2", "envelope_id": "e1"}
REQUEST = b"\x42" * 32


def _record(name: str, **extra: str) -> bytes:
    """An identity record as registration seals it (VerifiedIdentity.to_sealed_bytes)."""
    return VerifiedIdentity(
        provider_kind=extra.get("provider", "oidc"),
        issuer=extra.get("issuer", "https://idp.example.org/realms/citizens"),
        subject=extra.get("subject", "248289761001"),
        name=name,
        birthdate="1990-02-03",
        assurance="substantial",
        document=("passport", "XR1234567") if extra.get("provider") == "officer" else None,
    ).to_sealed_bytes()


# --- padding: a 257-byte record's rare length linked its seal and every envelope ------------------


def test_a_257_byte_record_and_a_short_one_seal_to_the_same_length() -> None:
    short, odd = _record("Al"), _record("A" * 100)
    odd += b" " * (257 - len(odd))  # the audit's rare length, one byte over a 256 block
    assert len(odd) == 257
    seals = [seal_identity(SEAL_KEY, r, {"kind": "identity"}) for r in (short, odd)]
    envelopes = [reseal(KEY, SEAL_KEY, s, CONTEXT) for s in seals]
    assert len(seals[0].inner) == len(seals[1].inner) == PADDED_SIZES[0] + 16  # + the AEAD tag
    assert len(envelopes[0].outer) == len(envelopes[1].outer)
    assert len(envelopes[0].to_bytes()) == len(envelopes[1].to_bytes())


def test_every_identity_the_tests_and_the_demo_use_fits_the_one_padded_size() -> None:
    # Measured (docs/protocol.md section 5): 150 to 300 bytes; a 100-character non-Latin name still fits.
    for record in (
        _record("Jane Q. Example", provider="officer", issuer="officer", subject="NLD:XR1234567"),
        _record("Demo Person"),
        _record("Ζωή Παπαδοπούλου-Αντωνίου" * 4),
    ):
        assert len(record) + 1 <= PADDED_SIZES[0], len(record)


def test_a_record_too_long_for_the_last_size_is_refused_clearly() -> None:
    assert seal(KEY, b"x" * MAX_IDENTITY_BYTES, CONTEXT)  # the largest that fits
    with pytest.raises(InvalidInputError, match=f"at most {MAX_IDENTITY_BYTES} bytes"):
        seal_identity(SEAL_KEY, b"x" * (MAX_IDENTITY_BYTES + 1), {"kind": "identity"})
