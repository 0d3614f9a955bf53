"""Passphrase-protected key-holder files: Argon2id (RFC 9106, libsodium crypto_pwhash) + XChaCha20-Poly1305.

Format (version 1), UTF-8 JSON:
  {"format": "escrow-holder-file", "version": 1,
   "kdf": {"alg": "argon2id13", "opslimit": int, "memlimit": int, "salt": b64u(16)},
   "aead": "xchacha20poly1305-ietf", "nonce": b64u(24), "ciphertext": b64u}
The AEAD's associated data is the canonical JSON of every field but "ciphertext", so changing the KDF
parameters, salt or version makes decryption fail just as a wrong passphrase does. Both give one error:
telling them apart would not help the holder and would help an attacker.
The plaintext is the canonical JSON of HolderSecrets. Writing the bytes to disk (mode 0600) is the
caller's job: this module does no I/O.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nacl.bindings as _sodium
import nacl.exceptions
import nacl.pwhash

from escrow.crypto.dkg import KeyShare, ThresholdPublicKey
from escrow.crypto.errors import CryptoError, HolderFileError
from escrow.crypto.group import RandomSource, Scalar
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json

FORMAT = "escrow-holder-file"
VERSION = 1
_KDF_ALG = "argon2id13"
_AEAD = "xchacha20poly1305-ietf"
_SALT_BYTES = nacl.pwhash.argon2id.SALTBYTES
_NONCE_BYTES = 24

OPSLIMIT_DEFAULT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT_DEFAULT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
# Bounds on what a file may ask for: a tampered header must not make us allocate without limit.
_OPSLIMIT_RANGE = (nacl.pwhash.argon2id.OPSLIMIT_MIN, 32)
_MEMLIMIT_RANGE = (nacl.pwhash.argon2id.MEMLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE * 2)


@dataclass(frozen=True, slots=True, repr=False)
class ShareRecord:
    """One share of one escrow key, with the public key it belongs to."""

    key: ThresholdPublicKey
    share: KeyShare

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key.to_dict(),
            "index": self.share.index,
            "value": b64u_encode(bytes(self.share.value)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShareRecord:
        key = ThresholdPublicKey.from_dict(data["key"])
        share = KeyShare(int(data["index"]), Scalar.decode(b64u_decode(data["value"], length=32)))
        key.verification_key(share.index)
        return cls(key, share)


@dataclass(frozen=True, slots=True, repr=False)
class HolderSecrets:
    """Everything a key-holder keeps: long-term signing and exchange keys and their key shares."""

    name: str
    signing_seed: bytes  # Ed25519 seed (RFC 8032): signs approvals and ceremony messages
    exchange_secret: bytes  # X25519 private key (RFC 7748): receives sealed DKG shares
    shares: tuple[ShareRecord, ...] = ()

    def __post_init__(self) -> None:
        if len(self.signing_seed) != 32 or len(self.exchange_secret) != 32:
            raise HolderFileError("holder keys are 32 bytes")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "signing_seed": b64u_encode(self.signing_seed),
            "exchange_secret": b64u_encode(self.exchange_secret),
            "shares": [s.to_dict() for s in self.shares],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HolderSecrets:
        return cls(
            name=str(data["name"]),
            signing_seed=b64u_decode(data["signing_seed"], length=32),
            exchange_secret=b64u_decode(data["exchange_secret"], length=32),
            shares=tuple(ShareRecord.from_dict(s) for s in data["shares"]),
        )

    def share_for(self, key_id: str) -> ShareRecord:
        """Returns the share of escrow key `key_id`. Raises HolderFileError if this holder has none."""
        for record in self.shares:
            if record.key.key_id == key_id:
                return record
        raise HolderFileError(f"this holder file has no share of key {key_id}")

    def __repr__(self) -> str:
        return f"HolderSecrets(name={self.name!r}, <hidden>)"


def derive_file_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    """Returns the XChaCha20-Poly1305 key of a passphrase-protected file (Argon2id, RFC 9106).

    Shared by holder files and officer key files, whose headers carry salt and limits.
    """
    return nacl.pwhash.argon2id.kdf(
        _sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
        passphrase.encode(),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def _check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or not passphrase:
        raise HolderFileError("a passphrase is required")


def encrypt_holder_file(
    secrets: HolderSecrets,
    passphrase: str,
    *,
    opslimit: int = OPSLIMIT_DEFAULT,
    memlimit: int = MEMLIMIT_DEFAULT,
    rand: RandomSource = os.urandom,
) -> bytes:
    """Returns the holder file bytes for `secrets` under `passphrase` (Argon2id with these limits)."""
    _check_passphrase(passphrase)
    if not (_OPSLIMIT_RANGE[0] <= opslimit <= _OPSLIMIT_RANGE[1]) or not (
        _MEMLIMIT_RANGE[0] <= memlimit <= _MEMLIMIT_RANGE[1]
    ):
        raise HolderFileError("Argon2id limits out of range")
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": {
            "alg": _KDF_ALG,
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": b64u_encode(rand(_SALT_BYTES)),
        },
        "aead": _AEAD,
        "nonce": b64u_encode(rand(_NONCE_BYTES)),
    }
    key = derive_file_key(passphrase, b64u_decode(header["kdf"]["salt"]), opslimit, memlimit)
    ciphertext = _sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        canonical_json(secrets.to_dict()), canonical_json(header), b64u_decode(header["nonce"]), key
    )
    return canonical_json({**header, "ciphertext": b64u_encode(ciphertext)}) + b"\n"


def decrypt_holder_file(data: bytes, passphrase: str) -> HolderSecrets:
    """Returns the secrets in a holder file.

    Raises HolderFileError: "not a holder file" / "unsupported version" for the wrong kind of file, and
    "wrong passphrase or damaged file" when authentication fails (the two cannot be told apart).
    """
    _check_passphrase(passphrase)
    try:
        document = json.loads(data)
    except (ValueError, TypeError) as e:
        raise HolderFileError("not a holder file (not JSON)") from e
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise HolderFileError("not a holder file")
    if document.get("version") != VERSION:
        raise HolderFileError(f"unsupported holder file version {document.get('version')!r}")
    try:
        header = {k: v for k, v in document.items() if k != "ciphertext"}
        kdf = header["kdf"]
        if kdf["alg"] != _KDF_ALG or header["aead"] != _AEAD:
            raise HolderFileError("unsupported holder file algorithms")
        opslimit, memlimit = int(kdf["opslimit"]), int(kdf["memlimit"])
        if not (_OPSLIMIT_RANGE[0] <= opslimit <= _OPSLIMIT_RANGE[1]) or not (
            _MEMLIMIT_RANGE[0] <= memlimit <= _MEMLIMIT_RANGE[1]
        ):
            raise HolderFileError("holder file asks for Argon2id limits out of range")
        salt = b64u_decode(kdf["salt"], length=_SALT_BYTES)
        nonce = b64u_decode(header["nonce"], length=_NONCE_BYTES)
        ciphertext = b64u_decode(document["ciphertext"])
        aad = canonical_json(header)
    except (KeyError, TypeError, ValueError, CryptoError) as e:
        if isinstance(e, HolderFileError):
            raise
        raise HolderFileError("damaged holder file (bad header)") from e
    key = derive_file_key(passphrase, salt, opslimit, memlimit)
    try:
        plaintext = _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
    except nacl.exceptions.CryptoError as e:
        raise HolderFileError("wrong passphrase or damaged file") from e
    try:
        return HolderSecrets.from_dict(json.loads(plaintext))
    except (KeyError, TypeError, ValueError, CryptoError) as e:  # pragma: no cover - authenticated
        raise HolderFileError("damaged holder file (bad contents)") from e
