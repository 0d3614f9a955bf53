"""Person keys and pairwise pseudonyms from one OPRF output (DESIGN.md sections 7 and 10, issue 13).

The escrow service never holds a key that derives a person key or a pseudonym. The person's canonical
identity key goes through one evaluation of a threshold OPRF (RFC 9497, evaluated by independent
nodes; escrow.services.oprf), whose 64-byte output ``y`` only the evaluating service ever sees. From it:

    person_key       = HKDF-Expand(y, "escrow/v2/lookup", 32)              stored: finds the account
    pseudonym secret = HKDF-Expand(y, "escrow/v2/pseudonym-secret", 32)    NEVER stored or logged
    pseudonym        = base32(HMAC-SHA256(secret, "escrow/v2/pseudonym" 0x00 || platform id
                                                   [|| 0x00 || slot]))[:26]
    seal key         = HMAC-SHA512(secret, "escrow/v2/seal-key")              64 bytes, NEVER stored
    notice tag       = HMAC-SHA256(secret, "escrow/v2/notice-tag" 0x00 || platform id || 0x00
                                   || pseudonym)                       in envelopes (issue 14)

The seal key (issue 14; escrow.crypto.seal.SealKey reduces it mod L to the scalar m of M = m*G) keys
the person's identity seal, so an envelope can be made with fresh, provable randomness whenever the
person is signed in, and the officer's tool can check, after a lawful reveal, that the envelope's M is
the one the revealed person's own secret gives.

HKDF-Expand is RFC 5869 section 2.3 with SHA-256 and L = 32, i.e. the single block
T(1) = HMAC-SHA256(y, info || 0x01): ``y`` is already a uniformly random PRF output, so the Extract
step is not needed. HMAC-SHA256 (RFC 2104) is the pseudonym PRF. The two labels are distinct and
neither is a prefix of the pseudonym input, so the stored person key says nothing about the secret,
and from the person key alone nobody (the server included) can compute or link a pseudonym: that takes
the secret, which lives only in memory and, encrypted, in the person's signed-in session
(escrow.crypto.session_box). Pseudonyms are 26 lowercase base32 characters, 130 bits (>= 128).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from escrow.crypto.errors import EncodingError

OPRF_OUTPUT_BYTES = 64  # RFC 9497 ristretto255-SHA512: Nh = 64
PERSON_KEY_BYTES = 32
PSEUDONYM_SECRET_BYTES = 32
MAX_SLOTS = 16
"""How many pseudonyms one person may have on one platform (slots 0 to MAX_SLOTS - 1)."""
PSEUDONYM_CHARS = 26  # 26 base32 characters = 130 bits (>= 128, DESIGN.md section 7)
_LOOKUP_LABEL = b"escrow/v2/lookup"
_SECRET_LABEL = b"escrow/v2/pseudonym-secret"
_PSEUDONYM_DOMAIN = b"escrow/v2/pseudonym\x00"
_SEAL_KEY_LABEL = b"escrow/v2/seal-key"
_NOTICE_TAG_DOMAIN = b"escrow/v2/notice-tag\x00"
NOTICE_TAG_BYTES = 32
_HKDF_FIRST_BLOCK = b"\x01"  # RFC 5869 section 2.3: T(1) = HMAC(PRK, T(0) || info || 0x01)


def _hkdf_expand_32(prk: bytes, info: bytes) -> bytes:
    return hmac.new(prk, info + _HKDF_FIRST_BLOCK, hashlib.sha256).digest()


class PseudonymSecret:
    """The 32-byte key from which one person's pseudonyms are computed. Never stored, never logged:
    the repr hides it, comparison is constant-time, and it is not hashable (no dict key or set)."""

    __slots__ = ("_key",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != PSEUDONYM_SECRET_BYTES:
            raise EncodingError(f"a pseudonym secret is {PSEUDONYM_SECRET_BYTES} bytes")
        self._key = key

    @classmethod
    def from_bytes(cls, data: bytes) -> PseudonymSecret:
        """Returns the secret held in ``data``. Raises EncodingError unless it is 32 bytes."""
        return cls(data)

    def __bytes__(self) -> bytes:
        return self._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PseudonymSecret):
            return NotImplemented
        return hmac.compare_digest(self._key, other._key)

    def __repr__(self) -> str:
        return "PseudonymSecret(<hidden>)"

    def pseudonym(self, platform_id: str, *, slot: int = 0) -> str:
        """Returns this person's pseudonym on ``platform_id`` (slot > 0: further pseudonyms there).

        Raises EncodingError for an empty platform id or one holding NUL, or a negative slot.
        """
        if not isinstance(platform_id, str) or not platform_id or "\x00" in platform_id:
            raise EncodingError("platform id must be non-empty text without NUL")
        if not isinstance(slot, int) or slot < 0:
            raise EncodingError("slot must be a non-negative integer")
        # Slot 0 is the plain DESIGN.md derivation; further slots are NUL-separated (platform ids hold
        # no NUL), so (platform, slot) pairs never collide.
        message = _PSEUDONYM_DOMAIN + platform_id.encode()
        if slot:
            message += b"\x00" + str(slot).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:PSEUDONYM_CHARS]

    def seal_key_material(self) -> bytes:
        """Returns the 64 bytes of this person's seal key (escrow.crypto.seal.SealKey), never stored."""
        return hmac.new(self._key, _SEAL_KEY_LABEL, hashlib.sha512).digest()

    def notice_tag(self, platform_id: str, pseudonym: str) -> bytes:
        """Returns the 32-byte notice tag of this person's ``pseudonym`` on ``platform_id`` (issue 14):
        HMAC-SHA256(secret, "escrow/v2/notice-tag" 0x00 || platform id || 0x00 || pseudonym).

        It goes into each envelope's context at issuance, and the log lists the tags of the envelopes
        a disclosure opened when its notice falls due: only the holder of the secret can recompute
        (and so recognise) a tag, and tags of two pseudonyms are unrelated PRF outputs. The domain is
        not a prefix of the pseudonym input's, so a tag says nothing about any pseudonym.
        Raises EncodingError for an empty platform id or pseudonym, or one holding NUL.
        """
        for value, what in ((platform_id, "platform id"), (pseudonym, "pseudonym")):
            if not isinstance(value, str) or not value or "\x00" in value:
                raise EncodingError(f"{what} must be non-empty text without NUL")
        message = _NOTICE_TAG_DOMAIN + platform_id.encode() + b"\x00" + pseudonym.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True, repr=False)
class PersonKeys:
    """What one OPRF evaluation gives: the stored lookup key and the never-stored pseudonym secret."""

    person_key: bytes
    secret: PseudonymSecret

    def __repr__(self) -> str:
        return "PersonKeys(<hidden>)"


def person_keys(oprf_output: bytes) -> PersonKeys:
    """Returns the person key and pseudonym secret derived from a 64-byte OPRF output.

    Raises EncodingError unless ``oprf_output`` is exactly OPRF_OUTPUT_BYTES bytes.
    """
    if not isinstance(oprf_output, bytes) or len(oprf_output) != OPRF_OUTPUT_BYTES:
        raise EncodingError(f"an OPRF output is {OPRF_OUTPUT_BYTES} bytes")
    return PersonKeys(
        person_key=_hkdf_expand_32(oprf_output, _LOOKUP_LABEL),
        secret=PseudonymSecret(_hkdf_expand_32(oprf_output, _SECRET_LABEL)),
    )
