"""Person keys and pairwise pseudonyms (DESIGN.md section 7), behind one small interface.

HMAC-SHA256 (RFC 2104) as a PRF: person_key = HMAC(K_person, canonical identity key) and
pseudonym = base32(HMAC(K_pseudonym, person_key || platform id [|| slot])) cut to 130 bits.
Known limit: whoever holds both keys can test a guess "is this person behind that pseudonym?".
The planned replacement is a threshold OPRF; callers depend only on PseudonymDeriver, so the
derivation can be swapped without touching them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Protocol

from escrow.crypto.errors import EncodingError

PERSON_KEY_BYTES = 32
PSEUDONYM_CHARS = 26  # 26 base32 characters = 130 bits (>= 128, DESIGN.md section 7)
MIN_KEY_BYTES = 32
_PERSON_DOMAIN = b"escrow/v1/person-key\x00"
_PSEUDONYM_DOMAIN = b"escrow/v1/pseudonym\x00"


class PseudonymDeriver(Protocol):
    """Turns identity keys into person keys, and (person key, platform) into pairwise pseudonyms."""

    def person_key(self, identity_key: bytes) -> bytes:
        """Returns the 32-byte key that finds a person's account."""

    def pseudonym(self, person_key: bytes, platform_id: str, *, slot: int = 0) -> str:
        """Returns the person's pseudonym on ``platform_id`` (slot > 0: further pseudonyms there)."""


class HmacPseudonymDeriver:
    """The first-version derivation: two server-held HMAC keys."""

    __slots__ = ("_person_key", "_pseudonym_key")

    def __init__(self, *, person_key: bytes, pseudonym_key: bytes) -> None:
        if len(person_key) < MIN_KEY_BYTES or len(pseudonym_key) < MIN_KEY_BYTES:
            raise EncodingError(f"PRF keys must be at least {MIN_KEY_BYTES} bytes")
        self._person_key = person_key
        self._pseudonym_key = pseudonym_key

    def __repr__(self) -> str:
        return "HmacPseudonymDeriver(<keys hidden>)"

    def person_key(self, identity_key: bytes) -> bytes:
        if not isinstance(identity_key, bytes) or not identity_key:
            raise EncodingError("identity key must be non-empty bytes")
        return hmac.new(self._person_key, _PERSON_DOMAIN + identity_key, hashlib.sha256).digest()

    def pseudonym(self, person_key: bytes, platform_id: str, *, slot: int = 0) -> str:
        if not isinstance(person_key, bytes) or len(person_key) != PERSON_KEY_BYTES:
            raise EncodingError(f"person key must be {PERSON_KEY_BYTES} bytes")
        if not isinstance(platform_id, str) or not platform_id or "\x00" in platform_id:
            raise EncodingError("platform id must be non-empty text without NUL")
        if not isinstance(slot, int) or slot < 0:
            raise EncodingError("slot must be a non-negative integer")
        # person_key has a fixed length, so person_key || platform_id is unambiguous; slot 0 is the
        # plain DESIGN.md derivation, further slots are NUL-separated (platform ids hold no NUL).
        message = _PSEUDONYM_DOMAIN + person_key + platform_id.encode()
        if slot:
            message += b"\x00" + str(slot).encode()
        digest = hmac.new(self._pseudonym_key, message, hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:PSEUDONYM_CHARS]
