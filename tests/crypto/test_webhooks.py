"""Standard Webhooks `v1` signatures and the per-platform secret derivation (crypto/webhooks.py)."""

from __future__ import annotations

import base64

import pytest

from escrow.crypto.webhooks import SECRET_BYTES, derive_webhook_secret, secret_text, sign_webhook

# The Standard Webhooks specification's example (its reference libraries test the same vector).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _spec_key() -> bytes:
    return base64.b64decode(SPEC_SECRET.removeprefix("whsec_"))


def test_signature_matches_the_specifications_example() -> None:
    assert (
        sign_webhook(_spec_key(), message_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY)
        == SPEC_SIGNATURE
    )


@pytest.mark.parametrize(
    ("message_id", "timestamp", "body"),
    [
        (SPEC_ID + "x", SPEC_TIMESTAMP, SPEC_BODY),
        (SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
        (SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY[:-1] + b"5"),
        (SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY[:-1]),
    ],
)
def test_signature_changes_with_any_signed_part(message_id: str, timestamp: int, body: bytes) -> None:
    assert sign_webhook(_spec_key(), message_id=message_id, timestamp=timestamp, body=body) != SPEC_SIGNATURE


def test_derived_secrets_differ_by_platform_generation_and_instance_key() -> None:
    key = bytes(range(32))
    first = derive_webhook_secret(key, "forum", 1)

    assert len(first) == SECRET_BYTES
    assert first == derive_webhook_secret(key, "forum", 1)
    others = {
        derive_webhook_secret(key, "forum", 2),
        derive_webhook_secret(key, "market", 1),
        derive_webhook_secret(bytes(32), "forum", 1),
        derive_webhook_secret(key, "forum\x001", 1),  # the separator keeps (id, generation) apart
    }
    assert first not in others
    assert len(others) == 4


def test_generation_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="generations start at 1"):
        derive_webhook_secret(bytes(32), "forum", 0)


def test_secret_text_is_whsec_and_standard_base64() -> None:
    text = secret_text(_spec_key())

    assert text == SPEC_SECRET
