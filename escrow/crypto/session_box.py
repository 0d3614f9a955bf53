"""Secrets kept in a browser's session cookie, encrypted and bound to their owner (issue 13).

Flask's session cookie is signed, not encrypted: anything put in it can be read by whoever sees the
cookie (the browser, a proxy log, a stolen backup of it). The pseudonym secret must stay unreadable
there, so it goes in sealed with XChaCha20-Poly1305 (IETF AEAD, draft-irtf-cfrg-xchacha; libsodium
through PyNaCl) under a key derived from the application's secret key with HKDF-SHA256 (RFC 5869,
no salt, info = "escrow/v2/session-box"), which therefore differs from the key that signs the cookie.
The associated data names the owner (e.g. the person's account), so a sealed value cannot be moved
to another account's session. A sealed value is nonce (24 random bytes) || ciphertext || tag.
"""

from __future__ import annotations

import secrets

import nacl.bindings as _sodium
import nacl.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from escrow.crypto.errors import EncodingError, OpenFailedError

SESSION_BOX_KEY_BYTES = _sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES  # 32
_NONCE_BYTES = _sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
_TAG_BYTES = _sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES  # 16
_KDF_INFO = b"escrow/v2/session-box"
MIN_APP_SECRET_BYTES = 16


def derive_session_box_key(app_secret: bytes) -> bytes:
    """Returns the 32-byte sealing key derived from the application's secret key.

    Raises EncodingError if ``app_secret`` is not bytes or shorter than MIN_APP_SECRET_BYTES.
    """
    if not isinstance(app_secret, bytes) or len(app_secret) < MIN_APP_SECRET_BYTES:
        raise EncodingError(f"the application secret must be at least {MIN_APP_SECRET_BYTES} bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=SESSION_BOX_KEY_BYTES, salt=None, info=_KDF_INFO)
    return hkdf.derive(app_secret)


def seal_session_value(key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
    """Returns ``plaintext`` encrypted and authenticated together with ``associated_data``.

    Raises EncodingError for a key of the wrong length or arguments that are not bytes.
    """
    _check(key, associated_data)
    if not isinstance(plaintext, bytes):
        raise EncodingError("the plaintext must be bytes")
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + _sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated_data, nonce, key)


def open_session_value(key: bytes, sealed: bytes, *, associated_data: bytes) -> bytes:
    """Returns the plaintext of a value seal_session_value() made with the same key and data.

    Raises OpenFailedError (one error, no detail) for a truncated, tampered or foreign value, the
    wrong key or other associated data; EncodingError for a key of the wrong length.
    """
    _check(key, associated_data)
    if not isinstance(sealed, bytes) or len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        raise OpenFailedError()
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        plaintext = _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ciphertext, associated_data, nonce, key
        )
    except nacl.exceptions.CryptoError:
        raise OpenFailedError() from None
    return bytes(plaintext)


def _check(key: bytes, associated_data: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != SESSION_BOX_KEY_BYTES:
        raise EncodingError(f"a session box key is {SESSION_BOX_KEY_BYTES} bytes")
    if not isinstance(associated_data, bytes):
        raise EncodingError("the associated data must be bytes")
