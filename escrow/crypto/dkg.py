"""Dealerless threshold key generation and resharing, as pure functions (no transport).

Pedersen's DKG (Pedersen 1991) run over Feldman VSS: every participant deals a random polynomial of degree
t-1 and publishes its commitments with a Schnorr proof of knowledge of its constant term; each receives
one share from every dealer, checks it against the commitments, and sums them. The public key is the sum
of the constant-term commitments; nobody ever holds the private key. Gennaro, Jarecki, Krawczyk and
Rabin (1999, 2007) show an adversary can bias the public key's distribution in this protocol, and also
(CT-RSA 2003) that this bias does not weaken threshold ElGamal/Schnorr-type use, which is ours.

Hardening from published attacks: a commitment list must have exactly t entries (more would silently raise
the threshold), every dealer's proof of knowledge is checked (rogue-key), and every proof binds the
ceremony context and the dealer's index (no replay across ceremonies or dealers).

Resharing (Desmedt and Jajodia 1997; Wong, Wang and Wing 2002): each holder i of a quorum Q deals its own
share s_i as the constant term of a fresh polynomial to the new holder set; anyone checks C_i0 == V_i, the
old verification key. New shares are s'_j = sum_{i in Q} lambda_i g_i(j), so the public key stays
sum lambda_i s_i * G = PK and sealed envelopes need no re-encryption.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from escrow.crypto.errors import (
    EncodingError,
    InvalidParameterError,
    InvalidProofError,
    InvalidShareError,
    UnjustifiedComplaintError,
)
from escrow.crypto.group import ONE, Point, RandomSource, Scalar, sum_points
from escrow.crypto.proofs import Binding, Proof, prove_knowledge, verify_knowledge
from escrow.crypto.transcript import b64u_decode, b64u_encode, sha256
from escrow.crypto.vss import Polynomial, check_index, commitment_at, lagrange_at_zero, verify_share

MAX_HOLDERS = 255


_INDEX_KEY = re.compile(r"[1-9][0-9]{0,5}")


def _json_int(value: object, name: str) -> int:
    """Returns `value` if it is a JSON integer: not a bool (`true` == 1), a float (`2.9`) or a string."""
    if type(value) is not int:
        raise EncodingError(f"{name} must be a JSON integer")
    return value


def _index_key(text: object) -> int:
    """Returns the holder index in a JSON object key: ASCII decimal digits without a leading zero, so
    `int()`'s other numerals ("\u0661", " 1", "+1", "1_0") are refused."""
    if not isinstance(text, str) or _INDEX_KEY.fullmatch(text) is None:
        raise EncodingError("a holder index key must be a decimal integer")
    return check_index(int(text))


@dataclass(frozen=True, slots=True)
class CeremonyParameters:
    """Who takes part and with what threshold; `context` binds every proof to this one ceremony."""

    threshold: int
    participants: tuple[int, ...]
    context: bytes

    def __post_init__(self) -> None:
        if len(self.participants) > MAX_HOLDERS:
            raise InvalidParameterError(f"at most {MAX_HOLDERS} holders")
        for i in self.participants:
            check_index(i)
        if len(set(self.participants)) != len(self.participants):
            raise InvalidParameterError("participant indices must be distinct")
        if not isinstance(self.threshold, int) or not 1 <= self.threshold <= len(self.participants):
            raise InvalidParameterError("threshold must be between 1 and the number of participants")
        if not self.context:
            raise InvalidParameterError("a ceremony needs a non-empty context")

    @classmethod
    def fresh(cls, threshold: int, holders: int, context: bytes) -> CeremonyParameters:
        """Returns parameters for holders with indices 1..holders."""
        return cls(threshold, tuple(range(1, holders + 1)), context)


@dataclass(frozen=True, slots=True, repr=False)
class KeyShare:
    """One holder's share s_j of the escrow private key. Lives only in the holder's file and memory."""

    index: int
    value: Scalar

    def __repr__(self) -> str:
        return f"KeyShare(index={self.index}, <hidden>)"


@dataclass(frozen=True, slots=True)
class ThresholdPublicKey:
    """The escrow public key PK, threshold t and every holder's verification key V_j = s_j * G."""

    threshold: int
    public_key: Point
    verification_keys: Mapping[int, Point] = field(hash=False)

    @property
    def key_id(self) -> str:
        """Returns a stable id derived from PK alone (so it survives resharing)."""
        return "ek1-" + sha256(b"escrow/v1/key-id" + bytes(self.public_key))[:12].hex()

    def verification_key(self, index: int) -> Point:
        """Returns V_index. Raises InvalidParameterError if `index` holds no share of this key."""
        try:
            return self.verification_keys[index]
        except KeyError:
            raise InvalidParameterError(f"holder {index} holds no share of key {self.key_id}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "threshold": self.threshold,
            "public_key": b64u_encode(bytes(self.public_key)),
            "verification_keys": {
                str(i): b64u_encode(bytes(v)) for i, v in sorted(self.verification_keys.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdPublicKey:
        """Returns the key described by `data`, every point validated.

        Raises EncodingError (or InvalidPointError) for a malformed record or a key id that does not
        match the public key.
        """
        try:
            vks = {
                _index_key(i): Point.decode(b64u_decode(v, length=32))
                for i, v in data["verification_keys"].items()
            }
            key = cls(
                threshold=_json_int(data["threshold"], "threshold"),
                public_key=Point.decode(b64u_decode(data["public_key"], length=32)),
                verification_keys=vks,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise EncodingError("malformed threshold public key") from e
        if not 1 <= key.threshold <= len(vks):
            raise EncodingError("threshold out of range for the verification keys")
        if "key_id" in data and data["key_id"] != key.key_id:
            raise EncodingError("key id does not match the public key")
        return key


@dataclass(frozen=True, slots=True)
class DealerBroadcast:
    """What a dealer publishes in round 1: Feldman commitments and a proof of knowledge of a_0."""

    dealer: int
    commitments: tuple[Point, ...]
    proof: Proof

    def to_dict(self) -> dict[str, Any]:
        return {
            "dealer": self.dealer,
            "commitments": [b64u_encode(bytes(c)) for c in self.commitments],
            "proof": b64u_encode(self.proof.to_bytes()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealerBroadcast:
        """Returns the broadcast in `data`, every point validated. Raises EncodingError if malformed."""
        try:
            return cls(
                dealer=check_index(data["dealer"]),
                commitments=tuple(Point.decode(b64u_decode(c, length=32)) for c in data["commitments"]),
                proof=Proof.from_bytes(b64u_decode(data["proof"], length=64)),
            )
        except (KeyError, TypeError, InvalidParameterError) as e:
            raise EncodingError("malformed dealer broadcast") from e


@dataclass(frozen=True, slots=True, repr=False)
class Dealing:
    """A dealer's round-1 output: the public broadcast and the private share for each recipient."""

    broadcast: DealerBroadcast
    shares: Mapping[int, Scalar]

    def __repr__(self) -> str:
        return f"Dealing(dealer={self.broadcast.dealer}, <shares hidden>)"


@dataclass(frozen=True, slots=True, repr=False)
class Complaint:
    """Holder `accuser` says the share it got from `dealer` does not match the dealer's commitments.

    It reveals that share, so anyone can check the complaint against the public commitments; the
    transport layer adds the dealer's signature over what it sent, so the value cannot be made up.
    """

    dealer: int
    accuser: int
    share: Scalar


def _pok_binding(params: CeremonyParameters, dealer: int) -> Binding:
    return (
        (b"ceremony", params.context),
        (b"dealer", dealer.to_bytes(4, "big")),
        (b"threshold", params.threshold.to_bytes(4, "big")),
    )


def deal(
    params: CeremonyParameters,
    dealer: int,
    *,
    secret: Scalar | None = None,
    rand: RandomSource = os.urandom,
) -> Dealing:
    """Round 1 for `dealer`: returns its broadcast and one share for every participant.

    `secret` is None in a fresh ceremony (a random constant term) and the dealer's current share when
    resharing.
    """
    check_index(dealer)
    polynomial = Polynomial.random(params.threshold, secret, rand=rand)
    commitments = polynomial.commitments()
    proof = prove_knowledge(
        polynomial.coefficients[0], commitments[0], _pok_binding(params, dealer), rand=rand
    )
    shares = {j: polynomial.evaluate(j) for j in params.participants}
    return Dealing(DealerBroadcast(dealer, commitments, proof), shares)


def verify_broadcast(
    params: CeremonyParameters,
    broadcast: DealerBroadcast,
    *,
    expected_constant: Point | None = None,
) -> None:
    """Checks a dealer's broadcast: exactly t commitments and a valid proof of knowledge.

    When resharing, `expected_constant` is the dealer's old verification key, which the first commitment
    must equal. Raises InvalidParameterError for a wrong commitment count and InvalidProofError (naming the
    dealer) for a bad proof or constant.
    """
    if len(broadcast.commitments) != params.threshold:
        raise InvalidParameterError(
            f"dealer {broadcast.dealer} sent {len(broadcast.commitments)} commitments, "
            f"expected exactly {params.threshold}"
        )
    verify_knowledge(
        broadcast.commitments[0],
        broadcast.proof,
        _pok_binding(params, broadcast.dealer),
        holder=broadcast.dealer,
    )
    if expected_constant is not None and broadcast.commitments[0] != expected_constant:
        raise InvalidProofError(
            f"dealer {broadcast.dealer} did not reshare its own share", holder=broadcast.dealer
        )


def verify_dealt_share(broadcast: DealerBroadcast, recipient: int, share: Scalar) -> None:
    """Round 2 check by `recipient`. Raises InvalidShareError naming the dealer if it does not match."""
    verify_share(broadcast.commitments, recipient, share, dealer=broadcast.dealer)


def check_complaint(broadcast: DealerBroadcast, complaint: Complaint) -> None:
    """Checks a complaint against the public broadcast; returns None when the complaint is justified.

    Raises UnjustifiedComplaintError if the revealed share does match the dealer's commitments.
    """
    try:
        verify_share(broadcast.commitments, complaint.accuser, complaint.share, dealer=complaint.dealer)
    except InvalidShareError:
        return
    raise UnjustifiedComplaintError(
        f"holder {complaint.accuser}'s complaint against dealer {complaint.dealer} is unjustified"
    )


def _require_dealers(broadcasts: Mapping[int, DealerBroadcast], dealers: tuple[int, ...]) -> None:
    if set(broadcasts) != set(dealers):
        missing = sorted(set(dealers) - set(broadcasts))
        extra = sorted(set(broadcasts) - set(dealers))
        raise InvalidParameterError(
            f"expected broadcasts from {list(dealers)}; missing {missing}, extra {extra}"
        )
    for dealer, broadcast in broadcasts.items():
        if broadcast.dealer != dealer:
            raise InvalidParameterError(f"broadcast filed under {dealer} is from dealer {broadcast.dealer}")


def _combine(
    params: CeremonyParameters,
    broadcasts: Mapping[int, DealerBroadcast],
    weights: Mapping[int, Scalar],
) -> ThresholdPublicKey:
    aggregated = [
        sum_points(
            b.commitments[k] if weights[d] == ONE else b.commitments[k] * weights[d]
            for d, b in broadcasts.items()
        )
        for k in range(params.threshold)
    ]
    return ThresholdPublicKey(
        threshold=params.threshold,
        public_key=aggregated[0],
        verification_keys={j: commitment_at(aggregated, j) for j in params.participants},
    )


def _finalise(
    params: CeremonyParameters,
    recipient: int,
    broadcasts: Mapping[int, DealerBroadcast],
    received: Mapping[int, Scalar],
    weights: Mapping[int, Scalar],
) -> tuple[KeyShare, ThresholdPublicKey]:
    if recipient not in params.participants:
        raise InvalidParameterError(f"holder {recipient} is not a participant")
    if set(received) != set(broadcasts):
        raise InvalidParameterError("need exactly one received share per dealer")
    for dealer, share in received.items():
        verify_dealt_share(broadcasts[dealer], recipient, share)
    value = Scalar.from_int(0)
    for dealer, share in received.items():
        value = value + (share if weights[dealer] == ONE else share * weights[dealer])
    key = _combine(params, broadcasts, weights)
    # Sanity check: cannot fail once every share verified, but a wrong share here would be silent later.
    if Point.base_times(value) != key.verification_key(recipient):  # pragma: no cover
        raise InvalidShareError("combined share does not match", dealer=0, recipient=recipient)
    return KeyShare(recipient, value), key


def combine_ceremony(
    params: CeremonyParameters, broadcasts: Mapping[int, DealerBroadcast]
) -> ThresholdPublicKey:
    """Returns the public key and every verification key from all participants' broadcasts.

    Anyone can run this on the public transcript. Raises InvalidParameterError if a participant's
    broadcast is missing (or an outsider's present) and the errors of verify_broadcast.
    """
    _require_dealers(broadcasts, params.participants)
    for broadcast in broadcasts.values():
        verify_broadcast(params, broadcast)
    return _combine(params, broadcasts, dict.fromkeys(broadcasts, ONE))


def finalise_ceremony(
    params: CeremonyParameters,
    recipient: int,
    broadcasts: Mapping[int, DealerBroadcast],
    received: Mapping[int, Scalar],
) -> tuple[KeyShare, ThresholdPublicKey]:
    """Round 2 for `recipient`: verifies everything it received and returns its share and the key.

    Raises InvalidShareError naming the first dealer whose share does not match (grounds for a
    complaint), and the errors of combine_ceremony.
    """
    key = combine_ceremony(params, broadcasts)
    share, _ = _finalise(params, recipient, broadcasts, received, dict.fromkeys(broadcasts, ONE))
    return share, key


@dataclass(frozen=True, slots=True)
class ReshareParameters:
    """Resharing `old` from the holders in `quorum` (old indices) to the ceremony `new`."""

    old: ThresholdPublicKey
    quorum: tuple[int, ...]
    new: CeremonyParameters

    def __post_init__(self) -> None:
        if len(set(self.quorum)) != len(self.quorum):
            raise InvalidParameterError("quorum indices must be distinct")
        if len(self.quorum) < self.old.threshold:
            raise InvalidParameterError(f"resharing needs at least {self.old.threshold} current holders")
        for i in self.quorum:
            self.old.verification_key(i)

    def weights(self) -> dict[int, Scalar]:
        return lagrange_at_zero(self.quorum)


def reshare_deal(params: ReshareParameters, share: KeyShare, *, rand: RandomSource = os.urandom) -> Dealing:
    """Round 1 of a reshare for the current holder of `share`: deals that share to the new holders."""
    if share.index not in params.quorum:
        raise InvalidParameterError(f"holder {share.index} is not in the resharing quorum")
    return deal(params.new, share.index, secret=share.value, rand=rand)


def combine_reshare(
    params: ReshareParameters, broadcasts: Mapping[int, DealerBroadcast]
) -> ThresholdPublicKey:
    """Returns the reshared key (same PK, new threshold and verification keys) from the quorum's broadcasts.

    Raises InvalidProofError naming a dealer that did not reshare its own share, and the errors of
    verify_broadcast.
    """
    _require_dealers(broadcasts, params.quorum)
    for dealer, broadcast in broadcasts.items():
        verify_broadcast(params.new, broadcast, expected_constant=params.old.verification_key(dealer))
    key = _combine(params.new, broadcasts, params.weights())
    if key.public_key != params.old.public_key:  # pragma: no cover - implied by the checks above
        raise InvalidParameterError("resharing changed the public key")
    return key


def finalise_reshare(
    params: ReshareParameters,
    recipient: int,
    broadcasts: Mapping[int, DealerBroadcast],
    received: Mapping[int, Scalar],
) -> tuple[KeyShare, ThresholdPublicKey]:
    """Round 2 of a reshare for new holder `recipient`: returns its new share and the reshared key."""
    key = combine_reshare(params, broadcasts)
    share, _ = _finalise(params.new, recipient, broadcasts, received, params.weights())
    return share, key
