"""TOTP codes (RFC 6238 vectors), one-time acceptance, sealed secrets bound to their account."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escrow.errors import AuthenticationError, KeyFileError
from escrow.services import totp

# RFC 6238 Appendix B, HMAC-SHA1 with the ASCII key "12345678901234567890": the 8-digit codes' last
# six digits are the 6-digit codes (RFC 4226 section 5.3 truncation takes the low digits).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "287082"),
    (1111111109, "081804"),
    (1111111111, "050471"),
    (1234567890, "005924"),
    (2000000000, "279037"),
    (20000000000, "353130"),
]
KEY = bytes(range(32))


@pytest.mark.parametrize(("unix_time", "code"), RFC_VECTORS)
def test_codes_match_the_rfc_6238_test_vectors(unix_time: int, code: str) -> None:
    step = totp.current_step(datetime.fromtimestamp(unix_time, UTC))

    assert totp.code_at(RFC_SECRET, step) == code


def test_a_code_of_the_current_previous_or_next_step_is_accepted_and_names_its_step() -> None:
    now = datetime.fromtimestamp(1111111111, UTC)
    step = totp.current_step(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now, after=None) == (
            step + offset
        )


def test_a_code_two_steps_away_is_refused() -> None:
    now = datetime.fromtimestamp(1111111111, UTC)
    step = totp.current_step(now)
    for offset in (-2, 2):
        with pytest.raises(AuthenticationError):
            totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + offset), now, after=None)


def test_a_used_step_and_any_earlier_one_never_match_again() -> None:
    now = datetime.fromtimestamp(1111111111, UTC)
    step = totp.current_step(now)
    with pytest.raises(AuthenticationError, match="already used"):
        totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step), now, after=step)
    with pytest.raises(AuthenticationError):
        totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step - 1), now, after=step)
    assert totp.matching_step(RFC_SECRET, totp.code_at(RFC_SECRET, step + 1), now, after=step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12a456", "１２３４５６", "123 45x"])
def test_malformed_codes_are_refused_with_a_plain_message(code: str) -> None:
    with pytest.raises(AuthenticationError, match="6 digits"):
        totp.normalise_code(code)


def test_spaces_inside_a_code_are_ignored() -> None:
    assert totp.normalise_code(" 287 082 ") == "287082"


@given(
    raw=st.binary(min_size=totp.SECRET_BYTES, max_size=totp.SECRET_BYTES),
    seconds=st.integers(min_value=60, max_value=2**34),
)
def test_property_the_current_code_is_accepted_once(raw: bytes, seconds: int) -> None:
    secret = base64.b32encode(raw).decode()
    now = datetime.fromtimestamp(seconds, UTC)
    code = totp.code_at(secret, totp.current_step(now))

    step = totp.matching_step(secret, code, now, after=None)

    assert step >= totp.current_step(now) - totp.DRIFT_STEPS
    with pytest.raises(AuthenticationError):
        totp.matching_step(secret, code, now, after=totp.current_step(now) + totp.DRIFT_STEPS)


@given(staff_id=st.integers(min_value=1, max_value=2**31), other=st.integers(min_value=1, max_value=2**31))
def test_property_a_sealed_secret_opens_only_for_its_account(staff_id: int, other: int) -> None:
    secret = totp.new_secret()
    sealed = totp.seal_secret(KEY, staff_id, secret)

    assert totp.open_secret(KEY, staff_id, sealed) == secret
    assert secret.encode() not in sealed
    if other != staff_id:
        with pytest.raises(KeyFileError):
            totp.open_secret(KEY, other, sealed)


def test_a_sealed_secret_does_not_open_with_another_key_or_after_tampering() -> None:
    sealed = totp.seal_secret(KEY, 7, totp.new_secret())
    with pytest.raises(KeyFileError):
        totp.open_secret(bytes(32), 7, sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KeyFileError):
        totp.open_secret(KEY, 7, tampered)


def test_new_secrets_are_160_bit_base32_and_distinct() -> None:
    secrets = {totp.new_secret() for _ in range(50)}

    assert len(secrets) == 50
    assert all(len(base64.b32decode(s)) == totp.SECRET_BYTES for s in secrets)


def test_provisioning_uri_names_the_account_and_issuer() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "alice")

    assert uri.startswith("otpauth://totp/escrow:alice?")
    assert f"secret={RFC_SECRET}" in uri
    assert "issuer=escrow" in uri


def test_current_step_is_thirty_second_windows() -> None:
    start = datetime(2026, 11, 29, tzinfo=UTC)

    assert totp.current_step(start + timedelta(seconds=29)) == totp.current_step(start)
    assert totp.current_step(start + timedelta(seconds=30)) == totp.current_step(start) + 1
