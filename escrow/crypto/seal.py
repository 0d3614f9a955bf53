"""Threshold sealing of identities: re-sealable, unlinkable envelopes that only an officer's tool opens.

Construction, version 2 (issue 14; docs/protocol.md section 5 has the full argument):

- Seal key: m = the person's seal key, reduced from 64 bytes the person's secret derives at every
  sign-in (escrow.crypto.pseudonym); M = m*G. Never stored.
- Identity seal (once, at registration): k = HKDF-SHA256(M, "escrow identity v1") (RFC 5869);
  inner = XChaCha20-Poly1305(k, nonce, pad(identity), aad = canonical(context)), the context naming the
  account's person key. Stored with the account; useless without M.
- Envelope (per platform pseudonym, made while the person is signed in): hashed ElGamal to the escrow
  key PK with fresh randomness: R = r*G, k2 = HKDF-SHA256(r*PK, "escrow envelope v2" || R || PK);
  outer = XChaCha20-Poly1305(k2, nonce2, {M, seal}, aad = header), the header binding version, key id, R
  and the envelope context (platform, pseudonym, envelope id, notice tag); and a Schnorr proof of
  knowledge of r bound to the header, nonce and outer ciphertext (Schnorr-signed ElGamal, in the spirit
  of TDH2), checked whenever an envelope is parsed. No byte repeats across envelopes.
- Opening (blinded): the officer's tool puts B = b*G into the signed request; each key-holder i returns
  D = s_i*(R + B) with a Chaum-Pedersen proof that log_G V_i = log_(R+B) D, bound to the request and
  envelope digests. Lagrange at zero gives s*R + b*PK, useless without b; the officer's tool subtracts
  b*PK, opens the outer layer, then the inner one with M. Changing any byte of an envelope makes it
  fail to parse or to open.
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
from escrow.crypto.proofs import Binding, Proof, prove_dleq, prove_knowledge, verify_dleq, verify_knowledge
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json, sha256
from escrow.crypto.vss import check_index, interpolate_at_zero

ENVELOPE_VERSION = 2
SEAL_VERSION = 2
IDENTITY_INFO = b"escrow identity v1"
ENVELOPE_INFO = b"escrow envelope v2"
NONCE_BYTES = 24  # XChaCha20-Poly1305
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


def _check_version(value: object, what: str, expected: int) -> None:
    """Refuses any version but the JSON integer `expected`: `true` and `1.0` compare equal to 1 in Python."""
    if type(value) is not int or value != expected:
        raise EncodingError(f"unsupported {what} version")


def _point(data: Mapping[str, Any], name: str) -> Point:
    return Point.decode(b64u_decode(data[name], length=32))


def _check_context(context: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(context, Mapping):
        raise EncodingError("a context is a mapping")
    canonical_json(dict(context))  # raises EncodingError for anything not canonically encodable
    return dict(context)


def _exact_members(data: Mapping[str, Any], members: set[str], what: str) -> None:
    if not isinstance(data, Mapping) or set(data) != members:
        raise EncodingError(f"unexpected {what} fields")


class SealKey:
    """A person's seal key m, with M = m*G: the key of their identity seal, re-derived at every sign-in
    from the person's secret (escrow.crypto.pseudonym.PseudonymSecret.seal_key_material), never stored.

    Making an envelope needs M, so that the envelope's ElGamal randomness is fresh and provable
    (Envelope.proof); the repr hides it and it is not hashable."""

    __slots__ = ("_m",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, material: bytes) -> None:
        if not isinstance(material, bytes) or len(material) != 64:
            raise EncodingError("seal key material is 64 bytes")
        self._m = Scalar.reduce(material)
        if self._m.is_zero():  # pragma: no cover - probability 2**-252
            raise InvalidParameterError("degenerate seal key")

    @classmethod
    def random(cls, rand: RandomSource = os.urandom) -> SealKey:
        """Returns a fresh random seal key (for a payload sealed once, such as a ceremony drill)."""
        return cls(rand(64))

    @property
    def point(self) -> Point:
        """Returns M = m*G, the point whose hash keys the identity seal."""
        return Point.base_times(self._m)

    def __repr__(self) -> str:
        return "SealKey(<hidden>)"


@dataclass(frozen=True, slots=True)
class IdentitySeal:
    """A person's identity sealed under their seal key M (version 2): stored with the account.

    It is not encrypted to the escrow key: only an envelope (which carries M, ElGamal-encrypted to the
    escrow key) makes it openable by the key-holders. The context names the account (its person key),
    so the seal of one person cannot pass as another's (issue 14)."""

    nonce: bytes
    inner: bytes
    context: Mapping[str, Any] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SEAL_VERSION,
            "nonce": b64u_encode(self.nonce),
            "inner": b64u_encode(self.inner),
            "context": dict(self.context),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentitySeal:
        """Returns the seal in `data`. Raises EncodingError if malformed or of another version."""
        try:
            _check_version(data["v"], "identity seal", SEAL_VERSION)
            _exact_members(data, {"v", "nonce", "inner", "context"}, "identity seal")
            return cls(
                nonce=b64u_decode(data["nonce"], length=NONCE_BYTES),
                inner=b64u_decode(data["inner"]),
                context=_check_context(data["context"]),
            )
        except (KeyError, TypeError) as e:
            raise EncodingError("malformed identity seal") from e


@dataclass(frozen=True, slots=True)
class Envelope:
    """One sealed copy of an identity (version 2), bound to one context (platform, pseudonym, envelope id).

    ``r`` = r*G is the envelope's only ElGamal point; ``proof`` is a Schnorr proof of knowledge of r
    bound to every other byte of the envelope (Schnorr-signed ElGamal), checked whenever an envelope
    is parsed: nobody can make holders decrypt a point whose randomness the envelope's maker did not
    choose (issue 14)."""

    key_id: str
    r: Point
    nonce: bytes
    outer: bytes
    proof: Proof
    context: Mapping[str, Any] = field(hash=False)
    version: int = ENVELOPE_VERSION

    def header(self) -> bytes:
        """Returns the bytes the outer AEAD authenticates: version, key id, R and context."""
        return canonical_json(
            {
                "v": self.version,
                "key_id": self.key_id,
                "r": b64u_encode(bytes(self.r)),
                "context": dict(self.context),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "key_id": self.key_id,
            "r": b64u_encode(bytes(self.r)),
            "nonce": b64u_encode(self.nonce),
            "outer": b64u_encode(self.outer),
            "proof": b64u_encode(self.proof.to_bytes()),
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
        """Returns the envelope in `data`, its point validated and its proof of knowledge checked.

        Raises EncodingError (InvalidPointError for a bad point) for a malformed envelope and
        InvalidProofError for one whose proof does not verify (a point not made for it).
        """
        try:
            _check_version(data["v"], "envelope", ENVELOPE_VERSION)
            _exact_members(data, {"v", "key_id", "r", "nonce", "outer", "proof", "context"}, "envelope")
            if not isinstance(data["key_id"], str):
                raise EncodingError("key id must be text")
            envelope = cls(
                key_id=data["key_id"],
                r=_point(data, "r"),
                nonce=b64u_decode(data["nonce"], length=NONCE_BYTES),
                outer=b64u_decode(data["outer"]),
                proof=Proof.from_bytes(b64u_decode(data["proof"], length=64)),
                context=_check_context(data["context"]),
            )
        except (KeyError, TypeError) as e:
            raise EncodingError("malformed envelope") from e
        verify_knowledge(envelope.r, envelope.proof, _proof_binding(envelope.header(), envelope))
        return envelope

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Returns the envelope in its canonical JSON form. Raises EncodingError if malformed."""
        try:
            parsed = json.loads(data)
        except (ValueError, TypeError, RecursionError) as e:
            raise EncodingError("envelope is not JSON") from e
        if not isinstance(parsed, dict):
            raise EncodingError("envelope is not a JSON object")
        return cls.from_dict(parsed)


def _proof_binding(
    header: bytes, envelope: Envelope | None = None, *, nonce: bytes = b"", outer: bytes = b""
) -> Binding:
    if envelope is not None:
        nonce, outer = envelope.nonce, envelope.outer
    return ((b"envelope", header), (b"nonce", nonce), (b"outer", sha256(outer)))


@dataclass(frozen=True, slots=True, repr=False)
class OpenedIdentity:
    """What an envelope held. Exists in memory only, in the officer's tool, while a lawful disclosure is
    shown. ``seal_point`` is M: the officer's tool checks it against the seal key re-derived from the
    revealed identity (escrow.client.disclosure.reveal)."""

    identity: bytes
    context: Mapping[str, Any]
    seal_point: Point

    def __repr__(self) -> str:
        return "OpenedIdentity(<hidden>)"


def seal_identity(
    seal_key: SealKey,
    identity: bytes,
    context: Mapping[str, Any],
    *,
    rand: RandomSource = os.urandom,
) -> IdentitySeal:
    """Returns `identity` sealed under `seal_key`, its AEAD bound to `context` (which names the account)."""
    ctx = _check_context(context)
    nonce = rand(NONCE_BYTES)
    inner = _encrypt(_kdf(bytes(seal_key.point), IDENTITY_INFO), nonce, _pad(identity), canonical_json(ctx))
    return IdentitySeal(nonce=nonce, inner=inner, context=ctx)


def reseal(
    key: ThresholdPublicKey,
    seal_key: SealKey,
    seal: IdentitySeal,
    context: Mapping[str, Any],
    *,
    rand: RandomSource = os.urandom,
) -> Envelope:
    """Returns a new envelope holding the identity in `seal`, bound to `context`, without opening it.

    Hashed ElGamal with a fresh r: R = r*G, k2 = HKDF(r*PK, info || R || PK); the outer AEAD holds M
    and the seal; the Schnorr proof of r binds every other byte. The envelope shares no byte with the
    seal or with any other envelope.
    """
    ctx = _check_context(context)
    r = Scalar.random(rand)
    big_r = Point.base_times(r)
    k2 = _kdf(bytes(key.public_key * r), ENVELOPE_INFO + bytes(big_r) + bytes(key.public_key))
    nonce = rand(NONCE_BYTES)
    record = canonical_json(
        {
            "m": b64u_encode(bytes(seal_key.point)),
            "context": dict(seal.context),
            "nonce": b64u_encode(seal.nonce),
            "inner": b64u_encode(seal.inner),
        }
    )
    header = canonical_json(
        {"v": ENVELOPE_VERSION, "key_id": key.key_id, "r": b64u_encode(bytes(big_r)), "context": ctx}
    )
    outer = _encrypt(k2, nonce, record, header)
    proof = prove_knowledge(r, big_r, _proof_binding(header, nonce=nonce, outer=outer), rand=rand)
    return Envelope(key.key_id, big_r, nonce, outer, proof, ctx)


def seal(
    key: ThresholdPublicKey,
    payload: bytes,
    context: Mapping[str, Any],
    *,
    identity_context: Mapping[str, Any] | None = None,
    rand: RandomSource = os.urandom,
) -> Envelope:
    """Returns `payload` sealed to `key` in one envelope bound to `context`, under a one-off seal key
    (seal_identity + reseal): what a ceremony drill opens."""
    seal_key = SealKey.random(rand)
    identity = seal_identity(seal_key, payload, identity_context or {"kind": "direct"}, rand=rand)
    return reseal(key, seal_key, identity, context, rand=rand)


@dataclass(frozen=True, slots=True)
class PartialDecryption:
    """Holder `holder`'s decryption share s_i*(R + B) of one envelope, with its proof (version 2)."""

    holder: int
    d: Point
    proof: Proof

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "d": b64u_encode(bytes(self.d)),
            "proof": b64u_encode(self.proof.to_bytes()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartialDecryption:
        """Returns the partial decryption in `data`, its point validated. Raises EncodingError."""
        try:
            _exact_members(data, {"holder", "d", "proof"}, "partial decryption")
            return cls(
                holder=check_index(data["holder"]),
                d=_point(data, "d"),
                proof=Proof.from_bytes(b64u_decode(data["proof"], length=64)),
            )
        except (KeyError, TypeError, InvalidParameterError) as e:
            raise EncodingError("malformed partial decryption") from e


def _binding(request_digest: bytes, envelope: Envelope) -> Binding:
    if not isinstance(request_digest, bytes) or len(request_digest) != DIGEST_BYTES:
        raise EncodingError("a request digest is 32 bytes")
    return ((b"request", request_digest), (b"envelope", envelope.digest()))


def _base(envelope: Envelope, blind: Point | None) -> Point:
    """Returns the point holders decrypt: R, or R + B for an officer's blinding point B."""
    return envelope.r if blind is None else envelope.r + blind


def partial_decrypt(
    share: KeyShare,
    envelope: Envelope,
    request_digest: bytes,
    *,
    blind: Point | None = None,
    rand: RandomSource = os.urandom,
) -> PartialDecryption:
    """Returns the holder's partial decryption s_i*(R + B) of `envelope` for the request with
    `request_digest` (B: the officer's blinding point from the signed request; None for a drill).

    The proof binds both digests: it is worthless for any other request or envelope.
    """
    binding = _binding(request_digest, envelope)
    base = _base(envelope, blind)
    d = base * share.value
    proof = prove_dleq(share.value, Point.base_times(share.value), ((base, d),), binding, rand=rand)
    return PartialDecryption(share.index, d, proof)


def verify_partial(
    key: ThresholdPublicKey,
    envelope: Envelope,
    request_digest: bytes,
    partial: PartialDecryption,
    *,
    blind: Point | None = None,
) -> None:
    """Checks one holder's partial decryption against its verification key.

    Raises InvalidProofError naming the holder if the proof fails (wrong share, other request, envelope
    or blinding point, altered value), InvalidParameterError if the holder holds no share of this key.
    """
    _verify_with_binding(key, envelope, _binding(request_digest, envelope), partial, blind)


def _verify_with_binding(
    key: ThresholdPublicKey,
    envelope: Envelope,
    binding: Binding,
    partial: PartialDecryption,
    blind: Point | None,
) -> None:
    verify_dleq(
        key.verification_key(partial.holder),
        ((_base(envelope, blind), partial.d),),
        partial.proof,
        binding,
        holder=partial.holder,
    )


def combine_partials(
    key: ThresholdPublicKey,
    envelope: Envelope,
    request_digest: bytes,
    partials: Sequence[PartialDecryption],
    *,
    blind: Point | None = None,
) -> Point:
    """Verifies every partial decryption and returns their Lagrange combination s*(R + B).

    Raises DuplicateShareError for two partials from one holder, InvalidProofError naming a holder
    whose proof fails, NotEnoughSharesError below the threshold, InvalidParameterError for an envelope
    of another key.
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
        _verify_with_binding(key, envelope, binding, partial, blind)
    if len(partials) < key.threshold:
        raise NotEnoughSharesError(f"{len(partials)} of {key.threshold} required partial decryptions")
    chosen = sorted(partials, key=lambda p: p.holder)[: key.threshold]
    return interpolate_at_zero({p.holder: p.d for p in chosen})


def open_with_secret_point(key: ThresholdPublicKey, envelope: Envelope, s_r: Point) -> OpenedIdentity:
    """Opens `envelope` given s*R. Raises OpenFailedError (no detail) if it does not open."""
    k2 = _kdf(bytes(s_r), ENVELOPE_INFO + bytes(envelope.r) + bytes(key.public_key))
    record_bytes = _decrypt(k2, envelope.nonce, envelope.outer, envelope.header())
    try:
        record = json.loads(record_bytes)
        _exact_members(record, {"m", "context", "nonce", "inner"}, "sealed record")
        big_m = _point(record, "m")
        nonce = b64u_decode(record["nonce"], length=NONCE_BYTES)
        inner = b64u_decode(record["inner"])
        context = _check_context(record["context"])
    except (ValueError, KeyError, TypeError, CryptoError) as e:
        raise OpenFailedError("envelope did not open") from e
    identity = _unpad(_decrypt(_kdf(bytes(big_m), IDENTITY_INFO), nonce, inner, canonical_json(context)))
    return OpenedIdentity(identity, context, big_m)


def combine_and_open(
    key: ThresholdPublicKey,
    envelope: Envelope,
    request_digest: bytes,
    partials: Sequence[PartialDecryption],
) -> OpenedIdentity:
    """Verifies and combines unblinded partial decryptions (a ceremony drill) and opens the envelope.

    Raises what combine_partials raises, and OpenFailedError (no detail) if the envelope does not open.
    """
    return open_with_secret_point(key, envelope, combine_partials(key, envelope, request_digest, partials))


def open_blinded(
    key: ThresholdPublicKey,
    envelope: Envelope,
    request_digest: bytes,
    partials: Sequence[PartialDecryption],
    blind: Scalar,
) -> OpenedIdentity:
    """Opens `envelope` from partials on R + b*G (the officer's tool): s*(R + B) - b*PK = s*R.

    Only the holder of `blind` can do this; the combination alone is useless (docs/protocol.md,
    the blinded reveal). Raises what combine_and_open raises.
    """
    combined = combine_partials(key, envelope, request_digest, partials, blind=Point.base_times(blind))
    return open_with_secret_point(key, envelope, combined - key.public_key * blind)
