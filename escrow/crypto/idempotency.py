"""Keys for stored Idempotency-Key answers (issue 17 finding 6): HKDF-SHA256 (RFC 5869) from the
Idempotency-Key a caller sent, salted with the operation and the caller's scope.

Two outputs with distinct info strings: ``lookup`` names the stored row (so the database holds no
Idempotency-Key and no caller id), ``seal_key`` encrypts the stored answer (XChaCha20-Poly1305, as
escrow.crypto.session_box). An issued credential is shown to its person once; its stored copy can be
opened only by someone presenting the same Idempotency-Key for the same caller, never from the
database alone. A person's scope is derived from their pseudonym secret, which the server keeps only
in their session, so a seized database cannot tell whose retries a row served.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from escrow.crypto.errors import EncodingError

KEY_BYTES = 32
MIN_IDEMPOTENCY_KEY_BYTES = 16  # a UUID is 36: a short key would be guessable offline from `lookup`
_LOOKUP_INFO = b"escrow/v1/idempotency/lookup"
_SEAL_INFO = b"escrow/v1/idempotency/seal"
_PERSON_SCOPE_INFO = b"escrow/v1/idempotency/person-scope"


@dataclass(frozen=True, slots=True)
class IdempotencyKeys:
    lookup: bytes
    seal_key: bytes

    def __repr__(self) -> str:
        return "IdempotencyKeys(<hidden>)"


def derive_idempotency_keys(idempotency_key: bytes, scope: bytes) -> IdempotencyKeys:
    """Returns the row lookup and the sealing key for ``idempotency_key`` used in ``scope``.

    Raises EncodingError if either is not bytes or the key is shorter than MIN_IDEMPOTENCY_KEY_BYTES.
    """
    if not isinstance(idempotency_key, bytes) or len(idempotency_key) < MIN_IDEMPOTENCY_KEY_BYTES:
        raise EncodingError(f"an Idempotency-Key must be at least {MIN_IDEMPOTENCY_KEY_BYTES} bytes")
    if not isinstance(scope, bytes) or not scope:
        raise EncodingError("the idempotency scope must be non-empty bytes")
    return IdempotencyKeys(
        lookup=_hkdf(idempotency_key, scope, _LOOKUP_INFO), seal_key=_hkdf(idempotency_key, scope, _SEAL_INFO)
    )


def person_scope(pseudonym_secret: bytes) -> bytes:
    """Returns the idempotency scope of the person whose pseudonym secret this is (not their id).

    Raises EncodingError if the secret is not bytes of at least 32 bytes.
    """
    if not isinstance(pseudonym_secret, bytes) or len(pseudonym_secret) < KEY_BYTES:
        raise EncodingError("the pseudonym secret must be at least 32 bytes")
    return b"person:" + _hkdf(pseudonym_secret, None, _PERSON_SCOPE_INFO)


def _hkdf(material: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(material)
