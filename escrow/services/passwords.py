"""Password hashing with Argon2id (RFC 9106) through argon2-cffi; parameters come from Settings."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from escrow.config import Settings

MIN_PASSWORD_LENGTH = 12  # NIST SP 800-63B allows 8; staff guard disclosure powers, so more


def make_password_hasher(settings: Settings) -> argon2.PasswordHasher:
    """Returns an Argon2id hasher with the instance's cost parameters."""
    return argon2.PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
        type=argon2.Type.ID,
    )


def hash_password(hasher: argon2.PasswordHasher, password: str) -> str:
    """Returns the encoded Argon2id hash (salt and parameters included) of `password`."""
    return hasher.hash(password)


def password_matches(hasher: argon2.PasswordHasher, encoded: str, password: str) -> bool:
    """Returns whether `password` matches `encoded` (argon2-cffi compares in constant time)."""
    try:
        return hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False
