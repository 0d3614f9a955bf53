"""What the benchmarks compare the version-2 reveal against (not used by the service): the version-1
seal module as it was before issue 14 (escrow/crypto/seal.py at ee04e52), kept verbatim below this
docstring so `make bench` can time the holder's approval and the opening of an envelope before and after
in the same run. Version 1 let the server combine the partials and open the envelope; never use it.

Its own docstring follows.

Threshold sealing of identities: re-sealable, unlinkable envelopes opened by a quorum of key-holders.

Construction (docs/protocol.md §Sealing has the full argument):

- Identity seal (once, at registration): a random point M = m*G; k = HKDF-SHA256(M, "escrow identity v1")
  (RFC 5869); inner = XChaCha20-Poly1305(k, nonce, pad(identity), aad = canonical(identity context));
  M is ElGamal-encrypted to the escrow key PK: (R, C) = (r*G, M + r*PK).
- Envelope (per platform pseudonym, without opening anything): the ElGamal pair is re-randomised,
  (R1, C1) = (R + r1*G, C + r1*PK), which still encrypts M but is unlinkable to (R, C) under DDH; the
  inner ciphertext, identical for every copy, is wrapped in an outer layer under a fresh hashed-ElGamal
  KEM key: R2 = r2*G, k2 = HKDF-SHA256(r2*PK, "escrow envelope v1" || R2 || PK); outer =
  XChaCha20-Poly1305(k2, nonce2, inner record, aad = header), where the header binds the version, key id,
  R1, C1, R2 and the envelope context (platform, pseudonym, envelope id). No byte repeats across envelopes.
- Opening: each key-holder i returns D1 = s_i*R1 and D2 = s_i*R2 with one multi-base Chaum-Pedersen
  proof that log_G V_i = log_R1 D1 = log_R2 D2, bound to the request digest and the envelope digest.
  With t verified shares, Lagrange at zero gives s*R1 and s*R2: k2 opens the outer layer, M = C1 - s*R1
  gives k, which opens the inner one. Changing any byte of an envelope makes opening fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings as _sodium
import nacl.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from escrow.crypto.dkg import KeyShare, ThresholdPublicKey
from escrow.crypto.errors import (
    CryptoError,
    DuplicateShareError,
    EncodingError,
    InvalidInputError,
    InvalidParameterError,
    NotEnoughSharesError,
    OpenFailedError,
)
from escrow.crypto.group import Point, RandomSource, Scalar
from escrow.crypto.proofs import Binding, Proof, prove_dleq, verify_dleq
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256
from escrow.crypto.vss import check_index, interpolate_at_zero

ENVELOPE_VERSION = 1
IDENTITY_INFO = b"escrow identity v1"
ENVELOPE_INFO = b"escrow envelope v1"
NONCE_BYTES = 24  # XChaCha20-Poly1305
PAD_BLOCK = 256
"""What seals made before issue 16 padded to (a multiple of this many bytes); opening still accepts it."""
PADDED_SIZES = (1024, 2048, 4096, 8192)
"""The padded lengths of an identity record (issue 16): every real record (about 150 to 350 bytes,
docs/protocol.md section 5) is padded to the first, so envelopes of different people have one length
and cannot be linked by it; the rare longer record (a long name in a non-Latin script, a long issuer URL)
goes to the next size up. Above the last, sealing is refused."""
MAX_IDENTITY_BYTES = PADDED_SIZES[-1] - 1
DIGEST_BYTES = 32


def _kdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def _encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return _sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        return _sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as e:
        raise OpenFailedError("envelope did not open") from e


def _pad(data: bytes) -> bytes:
    """ISO/IEC 7816-4 padding (0x80, then zeros) up to the first of PADDED_SIZES that holds it.

    Raises InvalidInputError for a record longer than MAX_IDENTITY_BYTES."""
    padded = data + b"\x80"
    for size in PADDED_SIZES:
        if len(padded) <= size:
            return padded + b"\x00" * (size - len(padded))
    raise InvalidInputError(f"an identity record is at most {MAX_IDENTITY_BYTES} bytes; this is {len(data)}")


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise OpenFailedError("envelope did not open")
    return stripped[:-1]


def _check_version(value: object, what: str) -> None:
    """Refuses any version but the JSON integer 1: `true` and `1.0` compare equal to 1 in Python."""
    if type(value) is not int or value != ENVELOPE_VERSION:
        raise EncodingError(f"unsupported {what} version")


def _point(data: Mapping[str, Any], name: str) -> Point:
    return Point.decode(b64u_decode(data[name], length=32))


def _check_context(context: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(context, Mapping):
        raise EncodingError("a context is a mapping")
    canonical_json(dict(context))  # raises EncodingError for anything not canonically encodable
    return dict(context)


@dataclass(frozen=True, slots=True)
class IdentitySeal:
    """A person's identity sealed once to the escrow key; stored with the account, copied per platform."""

    key_id: str
    r: Point
    c: Point
    nonce: bytes
    inner: bytes
    context: Mapping[str, Any] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": ENVELOPE_VERSION,
            "key_id": self.key_id,
            "r": b64u_encode(bytes(self.r)),
            "c": b64u_encode(bytes(self.c)),
            "nonce": b64u_encode(self.nonce),
            "inner": b64u_encode(self.inner),
            "context": dict(self.context),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentitySeal:
        """Returns the seal in `data`, points validated. Raises EncodingError if malformed."""
        try:
            _check_version(data["v"], "identity seal")
            return cls(
                key_id=str(data["key_id"]),
                r=_point(data, "r"),
                c=_point(data, "c"),
                nonce=b64u_decode(data["nonce"], length=NONCE_BYTES),
                inner=b64u_decode(data["inner"]),
                context=_check_context(data["context"]),
            )
        except (KeyError, TypeError) as e:
            raise EncodingError("malformed identity seal") from e


@dataclass(frozen=True, slots=True)
class Envelope:
    """One sealed copy of an identity, bound to one context (platform, pseudonym, envelope id)."""

    key_id: str
    r1: Point
    c1: Point
    r2: Point
    nonce: bytes
    outer: bytes
    context: Mapping[str, Any] = field(hash=False)
    version: int = ENVELOPE_VERSION

    def header(self) -> bytes:
        """Returns the bytes the outer AEAD authenticates: every field but the nonce and ciphertext."""
        return canonical_json(
            {
                "v": self.version,
                "key_id": self.key_id,
                "r1": b64u_encode(bytes(self.r1)),
                "c1": b64u_encode(bytes(self.c1)),
                "r2": b64u_encode(bytes(self.r2)),
                "context": dict(self.context),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "key_id": self.key_id,
            "r1": b64u_encode(bytes(self.r1)),
            "c1": b64u_encode(bytes(self.c1)),
            "r2": b64u_encode(bytes(self.r2)),
            "nonce": b64u_encode(self.nonce),
            "outer": b64u_encode(self.outer),
            "context": dict(self.context),
        }

    def to_bytes(self) -> bytes:
        """Returns the canonical JSON form (what is stored, sent, and hashed into the digest)."""
        return canonical_json(self.to_dict())

    def digest(self) -> bytes:
        """Returns SHA-256 of the canonical form: what credentials and disclosure requests name."""
        return sha256(self.to_bytes())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Returns the envelope in `data`, every point validated.

        Raises EncodingError (InvalidPointError for a bad point) for a malformed envelope.
        """
        try:
            _check_version(data["v"], "envelope")
            if set(data) != {"v", "key_id", "r1", "c1", "r2", "nonce", "outer", "context"}:
                raise EncodingError("unexpected envelope fields")
            if not isinstance(data["key_id"], str):
                raise EncodingError("key id must be text")
            return cls(
                key_id=data["key_id"],
                r1=_point(data, "r1"),
                c1=_point(data, "c1"),
                r2=_point(data, "r2"),
                nonce=b64u_decode(data["nonce"], length=NONCE_BYTES),
                outer=b64u_decode(data["outer"]),
                context=_check_context(data["context"]),
            )
        except (KeyError, TypeError) as e:
            raise EncodingError("malformed envelope") from e

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Returns the envelope in its canonical JSON form. Raises EncodingError if malformed."""
        try:
            parsed = json.loads(data)
        except (ValueError, TypeError) as e:
            raise EncodingError("envelope is not JSON") from e
        if not isinstance(parsed, dict):
            raise EncodingError("envelope is not a JSON object")
        return cls.from_dict(parsed)


@dataclass(frozen=True, slots=True, repr=False)
class OpenedIdentity:
    """What an envelope held. Exists in memory only while a lawful disclosure is shown."""

    identity: bytes
    context: Mapping[str, Any]

    def __repr__(self) -> str:
        return "OpenedIdentity(<hidden>)"


def seal_identity(
    key: ThresholdPublicKey,
    identity: bytes,
    context: Mapping[str, Any],
    *,
    rand: RandomSource = os.urandom,
) -> IdentitySeal:
    """Returns `identity` sealed to `key`, its AEAD bound to `context` (e.g. the kind of record)."""
    ctx = _check_context(context)
    big_m = Point.base_times(Scalar.random(rand))
    r = Scalar.random(rand)
    k = _kdf(bytes(big_m), IDENTITY_INFO)
    nonce = rand(NONCE_BYTES)
    inner = _encrypt(k, nonce, _pad(identity), canonical_json(ctx))
    return IdentitySeal(
        key_id=key.key_id,
        r=Point.base_times(r),
        c=big_m + key.public_key * r,
        nonce=nonce,
        inner=inner,
        context=ctx,
    )


def _wrap(
    key: ThresholdPublicKey,
    seal: IdentitySeal,
    context: Mapping[str, Any],
    rand: RandomSource,
    *,
    rerandomise: bool,
) -> Envelope:
    if seal.key_id != key.key_id:
        raise InvalidParameterError("identity was sealed to another escrow key")
    ctx = _check_context(context)
    if rerandomise:
        r1 = Scalar.random(rand)
        big_r1, c1 = seal.r + Point.base_times(r1), seal.c + key.public_key * r1
    else:
        big_r1, c1 = seal.r, seal.c
    r2 = Scalar.random(rand)
    big_r2 = Point.base_times(r2)
    k2 = _kdf(bytes(key.public_key * r2), ENVELOPE_INFO + bytes(big_r2) + bytes(key.public_key))
    nonce = rand(NONCE_BYTES)
    unsigned = Envelope(key.key_id, big_r1, c1, big_r2, nonce, b"", ctx)
    record = canonical_json(
        {
            "context": dict(seal.context),
            "nonce": b64u_encode(seal.nonce),
            "inner": b64u_encode(seal.inner),
        }
    )
    outer = _encrypt(k2, nonce, record, unsigned.header())
    return Envelope(key.key_id, big_r1, c1, big_r2, nonce, outer, ctx)


def reseal(
    key: ThresholdPublicKey,
    seal: IdentitySeal,
    context: Mapping[str, Any],
    *,
    rand: RandomSource = os.urandom,
) -> Envelope:
    """Returns a new envelope holding the identity in `seal`, bound to `context`, without opening it.

    The envelope shares no byte with the seal or with any other envelope made from it.
    Raises InvalidParameterError if the seal belongs to another escrow key.
    """
    return _wrap(key, seal, context, rand, rerandomise=True)


def seal(
    key: ThresholdPublicKey,
    payload: bytes,
    context: Mapping[str, Any],
    *,
    identity_context: Mapping[str, Any] | None = None,
    rand: RandomSource = os.urandom,
) -> Envelope:
    """Returns `payload` sealed to `key` in one envelope bound to `context` (seal_identity + wrap)."""
    identity = seal_identity(key, payload, identity_context or {"kind": "direct"}, rand=rand)
    # A fresh seal is never stored, so its ElGamal pair needs no re-randomisation.
    return _wrap(key, identity, context, rand, rerandomise=False)


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    """Holder `holder`'s decryption shares s_i*R1 and s_i*R2 of one envelope, with their proof."""

    holder: int
    d1: Point
    d2: Point
    proof: Proof

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "d1": b64u_encode(bytes(self.d1)),
            "d2": b64u_encode(bytes(self.d2)),
            "proof": b64u_encode(self.proof.to_bytes()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartialDecryption:
        """Returns the partial decryption in `data`, points validated. Raises EncodingError."""
        try:
            return cls(
                holder=check_index(data["holder"]),
                d1=_point(data, "d1"),
                d2=_point(data, "d2"),
                proof=Proof.from_bytes(b64u_decode(data["proof"], length=64)),
            )
        except (KeyError, TypeError, InvalidParameterError) as e:
            raise EncodingError("malformed partial decryption") from e


def _binding(request_digest: bytes, envelope: Envelope) -> Binding:
    if not isinstance(request_digest, bytes) or len(request_digest) != DIGEST_BYTES:
        raise EncodingError("a request digest is 32 bytes")
    return ((b"request", request_digest), (b"envelope", envelope.digest()))


def partial_decrypt(
    share: KeyShare,
    envelope: Envelope,
    request_digest: bytes,
    *,
    rand: RandomSource = os.urandom,
) -> PartialDecryption:
    """Returns the holder's partial decryption of `envelope` for the request with `request_digest`.

    The proof binds both digests: it is worthless for any other request or envelope.
    """
    binding = _binding(request_digest, envelope)
    d1, d2 = envelope.r1 * share.value, envelope.r2 * share.value
    proof = prove_dleq(
        share.value,
        Point.base_times(share.value),
        ((envelope.r1, d1), (envelope.r2, d2)),
        binding,
        rand=rand,
    )
    return PartialDecryption(share.index, d1, d2, proof)


def verify_partial(
    key: ThresholdPublicKey,
    envelope: Envelope,
    request_digest: bytes,
    partial: PartialDecryption,
) -> None:
    """Checks one holder's partial decryption against its verification key.

    Raises InvalidProofError naming the holder if the proof fails (wrong share, other request or
    envelope, altered value), InvalidParameterError if the holder holds no share of this key.
    """
    _verify_with_binding(key, envelope, _binding(request_digest, envelope), partial)


def _verify_with_binding(
    key: ThresholdPublicKey, envelope: Envelope, binding: Binding, partial: PartialDecryption
) -> None:
    verify_dleq(
        key.verification_key(partial.holder),
        ((envelope.r1, partial.d1), (envelope.r2, partial.d2)),
        partial.proof,
        binding,
        holder=partial.holder,
    )


def combine_and_open(
    key: ThresholdPublicKey,
    envelope: Envelope,
    request_digest: bytes,
    partials: Sequence[PartialDecryption],
) -> OpenedIdentity:
    """Verifies every partial decryption, combines t of them and opens the envelope.

    Returns the identity and its sealing context. Raises DuplicateShareError for two partials from one
    holder, InvalidProofError naming a holder whose proof fails, NotEnoughSharesError below the
    threshold, and OpenFailedError (no detail) if the envelope does not open.
    """
    if envelope.key_id != key.key_id:
        raise InvalidParameterError("envelope is sealed to another escrow key")
    seen: set[int] = set()
    for partial in partials:
        if partial.holder in seen:
            raise DuplicateShareError(
                f"two partial decryptions from holder {partial.holder}", holder=partial.holder
            )
        seen.add(partial.holder)
    binding = _binding(request_digest, envelope)  # the envelope digest, hashed once for all holders
    for partial in partials:
        _verify_with_binding(key, envelope, binding, partial)
    if len(partials) < key.threshold:
        raise NotEnoughSharesError(f"{len(partials)} of {key.threshold} required partial decryptions")
    chosen = sorted(partials, key=lambda p: p.holder)[: key.threshold]
    s_r1 = interpolate_at_zero({p.holder: p.d1 for p in chosen})
    s_r2 = interpolate_at_zero({p.holder: p.d2 for p in chosen})
    k2 = _kdf(bytes(s_r2), ENVELOPE_INFO + bytes(envelope.r2) + bytes(key.public_key))
    record_bytes = _decrypt(k2, envelope.nonce, envelope.outer, envelope.header())
    try:
        record = json.loads(record_bytes)
        nonce = b64u_decode(record["nonce"], length=NONCE_BYTES)
        inner = b64u_decode(record["inner"])
        context = _check_context(record["context"])
    except (ValueError, KeyError, TypeError, CryptoError) as e:  # pragma: no cover - authenticated
        raise OpenFailedError("envelope did not open") from e
    m = envelope.c1 - s_r1
    k = _kdf(bytes(m), IDENTITY_INFO)
    identity = _unpad(_decrypt(k, nonce, inner, canonical_json(context)))
    return OpenedIdentity(identity, context)
