"""Standard Webhooks signatures (https://www.standardwebhooks.com, the ``v1`` scheme): HMAC-SHA256
over ``id.timestamp.body`` keyed with the platform's ``whsec_`` secret, and the derivation of that
secret from one instance key (HMAC-SHA256 as a PRF, RFC 2104), so no platform secret is stored.

``v1`` (symmetric) rather than ``v1a`` (Ed25519): every Standard Webhooks library verifies ``v1``, the
Python and Node ones only ``v1`` (issue 19, docs/platforms.md#webhooks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the prefix, not a secret
SECRET_BYTES: Final = 32  # the specification asks for 24 to 64 bytes
_DERIVE_LABEL: Final = b"escrow/v1/webhook-secret"


def derive_webhook_secret(instance_key: bytes, platform_id: str, generation: int) -> bytes:
    """Returns the platform's webhook secret of ``generation`` (>= 1): HMAC-SHA256 of the platform id
    and generation under the instance key. Raises ValueError for a generation below 1."""
    if generation < 1:
        raise ValueError("webhook secret generations start at 1")
    message = _DERIVE_LABEL + b"\x00" + platform_id.encode() + b"\x00" + str(generation).encode()
    return hmac.new(instance_key, message, hashlib.sha256).digest()[:SECRET_BYTES]


def secret_text(secret: bytes) -> str:
    """Returns the secret as platforms configure it: ``whsec_`` + standard base64."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def sign_webhook(secret: bytes, *, message_id: str, timestamp: int, body: bytes) -> str:
    """Returns one ``webhook-signature`` entry: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode("ascii")
