"""Time-based one-time passwords (RFC 6238) for staff: the second factor legal officers must use.

pyotp computes the codes; this module adds what a login needs around them: secrets sealed at rest
with keys/totp-key (XChaCha20-Poly1305 with the staff id as associated data, so a sealed secret
copied to another account does not open), a constant-time match over the neighbouring time steps
that returns WHICH step matched (the caller stores it, so each code is accepted once), and the
otpauth URI an authenticator app scans. Never imports Flask or SQLAlchemy.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from datetime import datetime

import nacl.bindings
import nacl.exceptions
import pyotp

from escrow.errors import AuthenticationError, KeyFileError

DIGITS = 6
STEP_SECONDS = 30
# Codes of the previous and the next step are accepted too (clock drift up to 30 s either way).
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits: the HMAC-SHA1 key length RFC 4226 section 4 recommends
ISSUER = "escrow"
_AAD_PREFIX = b"escrow/staff-totp-secret/v1\x00"
_NONCE_BYTES = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_CODE = re.compile(rf"^[0-9]{{{DIGITS}}}$")


def new_secret() -> str:
    """Returns a fresh base32 TOTP secret (160 random bits, unpadded: 32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _aad(staff_id: int) -> bytes:
    return _AAD_PREFIX + str(staff_id).encode()


def seal_secret(key: bytes, staff_id: int, secret: str) -> bytes:
    """Returns nonce || XChaCha20-Poly1305(secret), bound to ``staff_id``."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        secret.encode("ascii"), _aad(staff_id), nonce, key
    )


def open_secret(key: bytes, staff_id: int, sealed: bytes) -> str:
    """Returns the secret sealed for ``staff_id``.

    Raises KeyFileError if it does not open (another account's secret, tampering, or a different
    keys/totp-key than the one that sealed it).
    """
    try:
        plain = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed[_NONCE_BYTES:], _aad(staff_id), sealed[:_NONCE_BYTES], key
        )
    except (nacl.exceptions.CryptoError, ValueError) as e:
        raise KeyFileError("a stored TOTP secret does not open with keys/totp-key") from e
    return plain.decode("ascii")


def normalise_code(code: str) -> str:
    """Returns ``code`` without spaces; raises AuthenticationError unless it is six digits."""
    cleaned = "".join(code.split())
    if not _CODE.match(cleaned):
        raise AuthenticationError(f"the code is the {DIGITS} digits your authenticator app shows")
    return cleaned


def current_step(now: datetime) -> int:
    """Returns the RFC 6238 time step counter T for ``now``."""
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """Returns the code for time step ``step`` (for enrolment checks, tests and the demo)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, now: datetime, *, after: int | None) -> int:
    """Returns the time step whose code equals ``code``, within DRIFT_STEPS of ``now``.

    Steps at or before ``after`` (the last accepted one) never match: a code works once, and an
    older code cannot follow a newer one. Every candidate is compared in constant time.
    Raises AuthenticationError if no step matches.
    """
    wanted = normalise_code(code).encode()
    found: int | None = None
    now_step = current_step(now)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        fresh = after is None or step > after
        if hmac.compare_digest(code_at(secret, step).encode(), wanted) and fresh and found is None:
            found = step
    if found is None:
        raise AuthenticationError("wrong or already used code")
    return found


def provisioning_uri(secret: str, username: str, issuer: str = ISSUER) -> str:
    """Returns the otpauth:// URI (Key Uri Format) an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )
