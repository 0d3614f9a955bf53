"""The ceremony's message formats and their checks, shared by the service, the holder tool and auditors.

Pure (no database, no Flask): the relay service checks each message as it arrives, the holder tool
builds and checks the same messages, and `escrow ceremony verify` replays a whole transcript offline
with the same functions. docs/protocol.md (§Ceremony through a relay) describes the messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from escrow.crypto.ceremony_messages import (
    InvalidSignatureError,
    ShareTransportError,
    b64,
    fingerprint,
    has_unusable_ephemeral_key,
    open_share_with_box_key,
    transcript_hash,
    unb64,
    verify_message,
)
from escrow.crypto.dkg import (
    CeremonyParameters,
    Complaint,
    DealerBroadcast,
    ReshareParameters,
    ThresholdPublicKey,
    check_complaint,
    combine_ceremony,
    combine_reshare,
    verify_broadcast,
)
from escrow.crypto.errors import CryptoError, UnjustifiedComplaintError
from escrow.crypto.seal import Envelope, PartialDecryption, seal, verify_partial
from escrow.crypto.transcript import b64u_encode, canonical_json, sha256
from escrow.errors import EscrowError, EscrowKeyUnpinnedError, PermissionDeniedError, ValidationError

KIND_CREATE: Final = "create"
KIND_RESHARE: Final = "reshare"
# What the key is for (issue 13): the escrow key that seals identities, or the OPRF key the OPRF nodes
# share. Same DKG either way; the purpose is in the header every recipient signs (its transcript hash).
PURPOSE_ESCROW: Final = "escrow"
PURPOSE_OPRF: Final = "oprf"
PURPOSES: Final = (PURPOSE_ESCROW, PURPOSE_OPRF)
ROUND1: Final = "round1"
ROUND2: Final = "round2"
CONFIRM: Final = "confirm"
DRILL: Final = "drill"
MESSAGE_KINDS: Final = (ROUND1, ROUND2, CONFIRM, DRILL)
_TRANSCRIPT_KINDS = (ROUND1, ROUND2)


ENROL_KIND: Final = "enrol"


def invitation_digest(code: str) -> bytes:
    """Returns the SHA-256 under which an invitation code is stored (the code itself never is)."""
    return sha256(b"escrow/v1/invitation\x00" + code.strip().encode())


def enrolment_body(code: str, signing_key: bytes, exchange_key: bytes) -> dict[str, str]:
    """Returns what a new key-holder signs to prove it holds the signing key it registers."""
    return {
        "kind": ENROL_KIND,
        "invitation": invitation_digest(code).hex(),
        "signing_key": b64(signing_key),
        "exchange_key": b64(exchange_key),
    }


class CeremonyProtocolError(ValidationError):
    """A ceremony message is malformed or breaks the protocol."""

    code = "ceremony-protocol-error"
    title = "Ceremony protocol error"


class WrongSignerError(PermissionDeniedError):
    """A ceremony message or request is not signed by the key-holder it claims to come from."""

    code = "wrong-signer"
    title = "Not signed by this key-holder"


class CheatingHolderError(CeremonyProtocolError):
    """A key-holder provably broke the protocol; `holder` names them (the transcript proves it)."""

    code = "cheating-holder"
    title = "A key-holder broke the ceremony protocol"

    def __init__(self, detail: str, *, holder: int) -> None:
        super().__init__(detail)
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Participant:
    """One key-holder's place in a ceremony: dealer index (who deals) and recipient index (who gets)."""

    holder: int
    name: str
    signing_key: bytes
    exchange_key: bytes
    dealer_index: int | None
    recipient_index: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "name": self.name,
            "signing_key": b64(self.signing_key),
            "exchange_key": b64(self.exchange_key),
            "dealer_index": self.dealer_index,
            "recipient_index": self.recipient_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Participant:
        return cls(
            holder=int(data["holder"]),
            name=str(data["name"]),
            signing_key=unb64(data["signing_key"], length=32),
            exchange_key=unb64(data["exchange_key"], length=32),
            dealer_index=None if data["dealer_index"] is None else int(data["dealer_index"]),
            recipient_index=None if data["recipient_index"] is None else int(data["recipient_index"]),
        )


@dataclass(frozen=True, slots=True)
class CeremonyHeader:
    """What a ceremony is: id, kind, context, threshold, participants, (resharing) the old key, and
    the purpose of the key it makes (``escrow`` or ``oprf``)."""

    ceremony: int
    kind: str
    context: str
    threshold: int
    participants: tuple[Participant, ...]
    old_key: ThresholdPublicKey | None = None
    purpose: str = PURPOSE_ESCROW

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ceremony": self.ceremony,
            "kind": self.kind,
            "context": self.context,
            "threshold": self.threshold,
            "participants": [p.to_dict() for p in self.participants],
            "old_key": None if self.old_key is None else self.old_key.to_dict(),
        }
        # Escrow-key headers keep the exact members (and so the canonical bytes and transcript hash)
        # they had before issue 13: every stored transcript and its success signatures still verify.
        if self.purpose != PURPOSE_ESCROW:
            data["purpose"] = self.purpose
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CeremonyHeader:
        """Returns the header in `data`. Raises CeremonyProtocolError if malformed."""
        try:
            header = cls(
                ceremony=int(data["ceremony"]),
                kind=str(data["kind"]),
                context=str(data["context"]),
                threshold=int(data["threshold"]),
                participants=tuple(Participant.from_dict(p) for p in data["participants"]),
                old_key=None if data["old_key"] is None else ThresholdPublicKey.from_dict(data["old_key"]),
                purpose=str(data.get("purpose", PURPOSE_ESCROW)),
            )
            header.parameters()
        except (KeyError, TypeError, ValueError, CryptoError) as e:
            raise CeremonyProtocolError("malformed ceremony header") from e
        if header.purpose not in PURPOSES:
            raise CeremonyProtocolError(f"unknown ceremony purpose {header.purpose!r}")
        if data.get("purpose") == PURPOSE_ESCROW:
            # An explicit "escrow" would give one ceremony two encodings (and two transcript hashes).
            raise CeremonyProtocolError("an escrow-key header carries no purpose member")
        return header

    def dealers(self) -> dict[int, Participant]:
        return {p.dealer_index: p for p in self.participants if p.dealer_index is not None}

    def recipients(self) -> dict[int, Participant]:
        return {p.recipient_index: p for p in self.participants if p.recipient_index is not None}

    def participant(self, holder: int) -> Participant:
        """Returns the participant for key-holder `holder`. Raises PermissionDeniedError if absent."""
        for p in self.participants:
            if p.holder == holder:
                return p
        raise PermissionDeniedError(f"key-holder {holder} is not part of ceremony {self.ceremony}")

    def parameters(self) -> CeremonyParameters:
        """Returns the DKG parameters of the new key (raises InvalidParameterError if inconsistent)."""
        return CeremonyParameters(
            self.threshold, tuple(sorted(self.recipients())), b"escrow ceremony " + self.context.encode()
        )

    def reshare_parameters(self) -> ReshareParameters:
        if self.old_key is None:
            raise CeremonyProtocolError("a reshare names the key it reshares")
        return ReshareParameters(self.old_key, tuple(sorted(self.dealers())), self.parameters())

    def drill_request_digest(self) -> bytes:
        """Returns the 32-byte digest the drill's partial decryptions are bound to."""
        return sha256(b"escrow/v1/ceremony-drill\x00" + self.context.encode())


# The published minimum access structure (issue 16, item 2): any key an escrow ceremony or reshare
# makes needs t >= 2 (no single key-holder opens an envelope) and 2t > n (a strict majority: any two
# quorums share a key-holder, so no minority acts alone and two disjoint groups cannot each decide).
# 2-of-2, 2-of-3 and 3-of-5 meet it; 1-of-n and 2-of-4 do not. The service refuses to open below it
# and logs it in every `ceremony.opened` event; every holder tool checks the header against it itself.
MIN_THRESHOLD: Final = 2
ACCESS_FLOOR_RULE: Final = "t >= 2 and 2t > n"


class AccessBelowFloorError(CeremonyProtocolError):
    """A ceremony's access structure (t of n) is below the published minimum."""

    code = "access-below-floor"
    title = "Access structure below the published minimum"


def access_floor() -> dict[str, Any]:
    """Returns the published minimum as the transparency log records it."""
    return {"min_threshold": MIN_THRESHOLD, "rule": ACCESS_FLOOR_RULE}


def check_access_floor(threshold: int, holders: int) -> None:
    """Checks a t-of-n access structure against the published minimum.

    Raises AccessBelowFloorError if t < 2 or 2t <= n (or t > n, which no key can meet).
    """
    if threshold < MIN_THRESHOLD or 2 * threshold <= holders or threshold > holders:
        raise AccessBelowFloorError(
            f"{threshold} of {holders} is below the published minimum access structure "
            f"({ACCESS_FLOOR_RULE}): refused"
        )


@dataclass(frozen=True, slots=True)
class AccessStructure:
    """Who will hold the new key and how many must agree: what a holder confirms before dealing.

    The header already binds t, the purpose and every participant's name and keys into the transcript
    hash that each recipient signs; the organisations are not in the header (its canonical bytes stay
    those of stored transcripts), so the success message also carries this structure, signed.
    """

    header: CeremonyHeader
    organisations: Mapping[int, str]

    @property
    def threshold(self) -> int:
        return self.header.threshold

    @property
    def holders(self) -> int:
        return len(self.header.recipients())

    def members(self) -> list[Participant]:
        """Returns the new key's holders, by share index."""
        recipients = self.header.recipients()
        return [recipients[i] for i in sorted(recipients)]

    def check_floor(self) -> None:
        """Raises AccessBelowFloorError if this structure is below the published minimum."""
        check_access_floor(self.threshold, self.holders)

    def to_dict(self) -> dict[str, Any]:
        """Returns what the success message carries (and the holder saw): t, n, purpose, kind, members."""
        return {
            "threshold": self.threshold,
            "holders": self.holders,
            "purpose": self.header.purpose,
            "kind": self.header.kind,
            "members": [
                {
                    "index": p.recipient_index,
                    "holder": p.holder,
                    "name": p.name,
                    "organisation": self.organisations.get(p.holder, ""),
                    "signing_fingerprint": fingerprint(p.signing_key),
                }
                for p in self.members()
            ],
        }


def check_confirmed_access(header: CeremonyHeader, confirmed: Any) -> None:
    """Checks that the access structure a success message carries is the header's (t, n, purpose,
    kind, every member's index, id, name and fingerprint; the organisations are as the holder saw them).

    Raises CeremonyProtocolError if it is missing or differs.
    """
    if not isinstance(confirmed, dict) or not isinstance(confirmed.get("members"), list):
        raise CeremonyProtocolError("the success message carries no confirmed access structure")
    members = confirmed["members"]
    organisations = {m.get("holder"): m.get("organisation") for m in members if isinstance(m, dict)}
    if not all(isinstance(o, str) for o in organisations.values()) or len(organisations) != len(members):
        raise CeremonyProtocolError("malformed confirmed access structure")
    expected = AccessStructure(header, organisations).to_dict()  # type: ignore[arg-type]
    if confirmed != expected:
        raise CeremonyProtocolError("the access structure this key-holder confirmed is not this ceremony's")


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A ceremony message body and its sender's Ed25519 signature."""

    body: Mapping[str, Any]
    signature: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"body": dict(self.body), "signature": b64(self.signature)}

    @classmethod
    def from_dict(cls, data: Any) -> SignedMessage:
        """Returns the message in `data`. Raises CeremonyProtocolError if malformed."""
        try:
            if not isinstance(data["body"], dict):
                raise CeremonyProtocolError("a message body is an object")
            return cls(body=data["body"], signature=unb64(data["signature"], length=64))
        except (KeyError, TypeError, CryptoError) as e:
            raise CeremonyProtocolError("malformed signed message") from e

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))


def check_message(header: CeremonyHeader, message: SignedMessage, sender: Participant) -> None:
    """Checks that `message` is signed by `sender` and addressed to this ceremony.

    Raises WrongSignerError if the signature is not the sender's, CeremonyProtocolError otherwise.
    """
    try:
        verify_message(sender.signing_key, message.body, message.signature)
    except (InvalidSignatureError, CryptoError) as e:
        raise WrongSignerError(f"message is not signed by key-holder {sender.holder}") from e
    body = message.body
    if body.get("ceremony") != header.ceremony or body.get("context") != header.context:
        raise CeremonyProtocolError("message belongs to another ceremony")
    if body.get("holder") != sender.holder:
        raise WrongSignerError(f"message names another sender than key-holder {sender.holder}")
    if message.kind not in MESSAGE_KINDS:
        raise CeremonyProtocolError("unknown message kind")


def message_body(header: CeremonyHeader, sender: Participant, kind: str, **fields: Any) -> dict[str, Any]:
    """Returns a message body with the fields every message carries."""
    return {
        "ceremony": header.ceremony,
        "context": header.context,
        "holder": sender.holder,
        "kind": kind,
        **fields,
    }


ERASURE_KIND: Final = "share_erased"


def erasure_body(header: CeremonyHeader, sender: Participant) -> dict[str, Any]:
    """Returns the erasure statement a key-holder who left the key in reshare `header` signs once its
    tool erased its old share (issue 16): which share of which key, in the holder's own words.

    Raises CeremonyProtocolError if `header` is not a reshare or `sender` dealt no old share in it.
    """
    if header.kind != KIND_RESHARE or header.old_key is None or sender.dealer_index is None:
        raise CeremonyProtocolError(f"key-holder {sender.holder} held no old share in this ceremony")
    return message_body(
        header,
        sender,
        ERASURE_KIND,
        key_id=header.old_key.key_id,
        old_index=sender.dealer_index,
        statement=(
            f"I erased my share {sender.dealer_index} of key {header.old_key.key_id} from my holder file "
            "after this reshare; I will destroy every copy of it I keep"
        ),
    )


def check_erasure(header: CeremonyHeader, message: SignedMessage, sender: Participant) -> None:
    """Checks an erasure statement: signed by `sender`, exactly `erasure_body(header, sender)`.

    Raises WrongSignerError if the signature is not the sender's, CeremonyProtocolError otherwise.
    """
    try:
        verify_message(sender.signing_key, message.body, message.signature)
    except (InvalidSignatureError, CryptoError) as e:
        raise WrongSignerError(f"statement is not signed by key-holder {sender.holder}") from e
    if dict(message.body) != erasure_body(header, sender):
        raise CeremonyProtocolError("the erasure statement does not match this reshare and key-holder")


@dataclass(frozen=True, slots=True)
class Round1:
    """A dealer's public broadcast and its sealed shares, by recipient index."""

    broadcast: DealerBroadcast
    sealed: Mapping[int, bytes]


def parse_round1(header: CeremonyHeader, message: SignedMessage, sender: Participant) -> Round1:
    """Returns the dealer's round 1, checked: exactly t commitments, a valid proof of knowledge, the
    dealer's own share as constant when resharing, and one sealed share per recipient.

    Raises CheatingHolderError naming the dealer (the signed message proves it).
    """
    if sender.dealer_index is None:
        raise CeremonyProtocolError(f"key-holder {sender.holder} does not deal in this ceremony")
    try:
        broadcast = DealerBroadcast.from_dict(message.body["broadcast"])
        sealed = {int(i): unb64(v) for i, v in message.body["shares"].items()}
    except (KeyError, TypeError, ValueError, AttributeError, CryptoError) as e:
        raise CheatingHolderError(
            f"key-holder {sender.holder} sent a malformed round 1", holder=sender.holder
        ) from e
    if broadcast.dealer != sender.dealer_index or set(sealed) != set(header.recipients()):
        raise CheatingHolderError(
            f"key-holder {sender.holder} dealt under the wrong index or to the wrong holders",
            holder=sender.holder,
        )
    expected = None
    if header.kind == KIND_RESHARE:
        expected = header.reshare_parameters().old.verification_key(sender.dealer_index)
    try:
        verify_broadcast(header.parameters(), broadcast, expected_constant=expected)
    except CryptoError as e:
        raise CheatingHolderError(
            f"key-holder {sender.holder}'s commitments or proof of knowledge are invalid: {e}",
            holder=sender.holder,
        ) from e
    return Round1(broadcast, sealed)


@dataclass(frozen=True, slots=True)
class Round2:
    """A recipient's verdict: complaints (dealer index -> (share, box key)) or the key it computed."""

    complaints: Mapping[int, tuple[bytes, bytes]]
    key: ThresholdPublicKey | None


def parse_round2(header: CeremonyHeader, message: SignedMessage, sender: Participant) -> Round2:
    """Returns a recipient's round 2. Raises CeremonyProtocolError if malformed."""
    if sender.recipient_index is None:
        raise CeremonyProtocolError(f"key-holder {sender.holder} receives no share in this ceremony")
    try:
        complaints = {
            int(c["dealer"]): (unb64(c["share"], length=32), unb64(c["box_key"], length=32))
            for c in message.body["complaints"]
        }
        key_data = message.body["key"]
        key = None if key_data is None else ThresholdPublicKey.from_dict(key_data)
    except (KeyError, TypeError, ValueError, AttributeError, CryptoError) as e:
        raise CeremonyProtocolError("malformed round 2") from e
    if (key is None) == (not complaints):
        raise CeremonyProtocolError("round 2 carries either complaints or the computed key")
    return Round2(complaints, key)


def judge_complaint(
    header: CeremonyHeader,
    round1: Mapping[int, Round1],
    accuser: Participant,
    dealer_index: int,
    share_bytes: bytes,
    revealed_box_key: bytes,
) -> Participant | None:
    """Returns who cheated, as anyone can decide from the transcript.

    The dealer, if its signed box has an unusable (low-order) ephemeral key (issue 16), or if the
    revealed box key opens the dealer's signed box to the revealed share and that share fails the
    dealer's commitments; the accuser, if the box opens to another share or to one that matches the
    commitments (a false complaint), or if the complaint names no dealer of this ceremony; None if the
    revealed key does not open the box (a garbage box and a wrong key look the same).
    """
    dealer = header.dealers().get(dealer_index)
    if dealer is None or dealer_index not in round1 or accuser.recipient_index is None:
        return accuser
    sealed = round1[dealer_index].sealed[accuser.recipient_index]
    if has_unusable_ephemeral_key(sealed):  # the dealer signed a box nobody can open (issue 16)
        return dealer
    try:
        opened = open_share_with_box_key(accuser.exchange_key, sealed, revealed_box_key)
    except ShareTransportError:
        return None
    if bytes(opened) != share_bytes:
        return accuser
    try:
        check_complaint(
            round1[dealer_index].broadcast, Complaint(dealer_index, accuser.recipient_index, opened)
        )
    except UnjustifiedComplaintError:
        return accuser
    return dealer


class UndecidedComplaintError(CeremonyProtocolError):
    """A complaint whose box does not open with the revealed key: the public cannot tell who cheated."""


def combine(header: CeremonyHeader, round1: Mapping[int, Round1]) -> ThresholdPublicKey:
    """Returns the new key (PK and verification keys) from every dealer's broadcast."""
    broadcasts = {i: r.broadcast for i, r in round1.items()}
    if header.kind == KIND_RESHARE:
        return combine_reshare(header.reshare_parameters(), broadcasts)
    return combine_ceremony(header.parameters(), broadcasts)


def ordered_transcript(messages: Sequence[SignedMessage]) -> list[dict[str, Any]]:
    """Returns the round 1 and round 2 messages in canonical order (kind, then holder), as dicts."""
    chosen = [m for m in messages if m.kind in _TRANSCRIPT_KINDS]
    chosen.sort(key=lambda m: (_TRANSCRIPT_KINDS.index(m.kind), int(m.body["holder"])))
    return [m.to_dict() for m in chosen]


def ceremony_transcript_hash(header: CeremonyHeader, messages: Sequence[SignedMessage]) -> bytes:
    """Returns the hash every recipient signs (the success certificate) once round 2 is complete."""
    return transcript_hash(header.to_dict(), ordered_transcript(messages))


def parse_drill(
    header: CeremonyHeader,
    key: ThresholdPublicKey,
    envelope: Envelope,
    message: SignedMessage,
    sender: Participant,
) -> PartialDecryption:
    """Returns the sender's verified drill partial decryption.

    Raises CheatingHolderError naming the sender if the proof does not verify against its verification key.
    """
    try:
        partial = PartialDecryption.from_dict(message.body["partial"])
    except (KeyError, TypeError, CryptoError) as e:
        raise CeremonyProtocolError("malformed drill") from e
    if partial.holder != sender.recipient_index:
        raise CheatingHolderError(
            f"key-holder {sender.holder} answered the drill under another index", holder=sender.holder
        )
    try:
        verify_partial(key, envelope, header.drill_request_digest(), partial)
    except CryptoError as e:
        raise CheatingHolderError(
            f"key-holder {sender.holder}'s drill decryption does not verify", holder=sender.holder
        ) from e
    return partial


DRILL_PAYLOAD: Final = b"escrow ceremony drill"


class _TranscriptRandom:
    """SHAKE-256 of a seed and a counter: randomness that anyone can recompute from the seed."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)


def drill_envelope(header: CeremonyHeader, key: ThresholdPublicKey, transcript: bytes) -> Envelope:
    """Returns the drill envelope, derived from the transcript hash alone, with public randomness.

    Holders decrypt only this envelope, recomputed on their side: a service that slipped a real
    identity envelope in as the "drill" (the key of a reshare already protects identities) gets
    nothing, since every scalar here is public and a real envelope's points are not of this form.
    """
    rand = _TranscriptRandom(b"escrow/v1/ceremony-drill-randomness\x00" + transcript)
    return seal(key, DRILL_PAYLOAD, {"drill": header.context}, rand=rand)


@dataclass(frozen=True, slots=True)
class TranscriptReport:
    """What an offline check of a transcript found."""

    header: CeremonyHeader
    key: ThresholdPublicKey | None
    is_complete: bool
    blamed_holder: int | None
    notes: tuple[str, ...]


def verify_transcript(data: Mapping[str, Any]) -> TranscriptReport:
    """Replays a whole ceremony transcript: every signature, commitment count, proof of knowledge,
    complaint, success signature and drill proof; recomputes PK and every verification key.

    Returns the report (complete, or aborted naming who cheated). Raises CeremonyProtocolError,
    WrongSignerError or CheatingHolderError if the transcript itself is inconsistent.
    """
    header = CeremonyHeader.from_dict(data["header"])
    try:
        messages = [SignedMessage.from_dict(m) for m in data["messages"]]
    except (KeyError, TypeError) as e:
        raise CeremonyProtocolError("malformed transcript") from e
    notes: list[str] = []
    by_kind: dict[str, dict[int, tuple[SignedMessage, Participant]]] = {k: {} for k in MESSAGE_KINDS}
    for message in messages:
        sender = header.participant(int(message.body.get("holder", 0)))
        check_message(header, message, sender)
        if sender.holder in by_kind[message.kind]:
            raise CeremonyProtocolError(f"two {message.kind} messages from key-holder {sender.holder}")
        by_kind[message.kind][sender.holder] = (message, sender)
    notes.append(f"{len(messages)} signatures verified")
    round1: dict[int, Round1] = {}
    for message, sender in by_kind[ROUND1].values():
        try:
            parsed = parse_round1(header, message, sender)
        except CheatingHolderError as e:
            return TranscriptReport(header, None, False, e.holder, (*notes, e.detail))
        assert sender.dealer_index is not None  # noqa: S101 - parse_round1 checked it
        round1[sender.dealer_index] = parsed
    if set(round1) != set(header.dealers()):
        return TranscriptReport(header, None, False, None, (*notes, "round 1 incomplete"))
    key = combine(header, round1)
    notes.append(f"recomputed public key {key.key_id} and {len(key.verification_keys)} verification keys")
    for message, sender in by_kind[ROUND2].values():
        parsed2 = parse_round2(header, message, sender)
        for dealer_index, (share, box) in parsed2.complaints.items():
            culprit = judge_complaint(header, round1, sender, dealer_index, share, box)
            if culprit is None:
                note = (
                    f"complaint by key-holder {sender.holder} against dealer {dealer_index} cannot be decided"
                )
                return TranscriptReport(header, None, False, None, (*notes, note))
            return TranscriptReport(
                header,
                None,
                False,
                culprit.holder,
                (*notes, f"complaint by key-holder {sender.holder}: key-holder {culprit.holder} cheated"),
            )
        if parsed2.key != key:
            raise CheatingHolderError(
                f"key-holder {sender.holder} computed another key", holder=sender.holder
            )
    if set(by_kind[ROUND2]) != {p.holder for p in header.recipients().values()}:
        return TranscriptReport(header, key, False, None, (*notes, "round 2 incomplete"))
    expected_hash = ceremony_transcript_hash(header, messages).hex()
    for message, sender in by_kind[CONFIRM].values():
        if message.body.get("transcript_hash") != expected_hash or message.body.get("key_id") != key.key_id:
            raise CheatingHolderError(
                f"key-holder {sender.holder} signed another transcript", holder=sender.holder
            )
        if "access" in message.body:  # success messages from before issue 16 carry none
            try:
                check_confirmed_access(header, message.body["access"])
            except CeremonyProtocolError as e:
                raise CheatingHolderError(
                    f"key-holder {sender.holder} signed another access structure", holder=sender.holder
                ) from e
    drill = drill_envelope(header, key, ceremony_transcript_hash(header, messages))
    if data.get("drill_envelope") is not None and data["drill_envelope"] != drill.to_dict():
        raise CeremonyProtocolError("the drill envelope is not the one derived from the transcript")
    for message, sender in by_kind[DRILL].values():
        parse_drill(header, key, drill, message, sender)
    recipients = {p.holder for p in header.recipients().values()}
    is_complete = set(by_kind[CONFIRM]) == recipients and set(by_kind[DRILL]) == recipients
    notes.append(
        f"{len(by_kind[CONFIRM])} success signatures and {len(by_kind[DRILL])} drill proofs verified"
    )
    return TranscriptReport(header, key, is_complete, None, tuple(notes))


# Issue 14, part 3: the escrow key is pinned to its ceremony. The log event that activates (or reshares)
# an escrow key names the ceremony and the digest of its complete transcript; the service seals only to
# a key for which check_key_pin passes (escrow.services.key_pinning), with the same verify_transcript
# that `escrow ceremony verify` runs.
KEY_EVENT_KINDS: Final = ("key.activated", "key.reshared", "key.pinned")


def complete_transcript_digest(header: CeremonyHeader, messages: Sequence[SignedMessage]) -> bytes:
    """Returns the SHA-256 of a ceremony's header and every signed message (all four kinds, in
    canonical order: kind, then holder): what the activation event records, so that a transcript
    swapped afterwards no longer matches the log."""
    ordered = sorted(messages, key=lambda m: (MESSAGE_KINDS.index(m.kind), int(m.body["holder"])))
    body = {"header": header.to_dict(), "messages": [m.to_dict() for m in ordered]}
    return sha256(b"escrow/v1/ceremony-complete\x00" + canonical_json(body))


def check_key_pin(
    transcript: Mapping[str, Any], key: ThresholdPublicKey, event: Mapping[str, Any] | None
) -> TranscriptReport:
    """Checks that `key` (as the service stores it) is the key a complete escrow-key ceremony proves
    and that the transparency log's activation `event` (its data, or None if there is none) names that
    key, that ceremony and the digest of exactly this transcript.

    Returns the transcript's report. Raises EscrowKeyUnpinnedError naming the first mismatch.
    """
    what = f"escrow key {key.key_id}"
    try:
        report = verify_transcript(transcript)
        messages = [SignedMessage.from_dict(m) for m in transcript["messages"]]
    except (EscrowError, CryptoError, KeyError, TypeError, ValueError) as e:
        detail = e.detail if isinstance(e, EscrowError) else f"malformed transcript ({type(e).__name__})"
        raise EscrowKeyUnpinnedError(f"the ceremony transcript of {what} does not verify: {detail}") from e
    ceremony = report.header.ceremony
    if report.header.purpose != PURPOSE_ESCROW:
        raise EscrowKeyUnpinnedError(f"ceremony {ceremony} made an OPRF key, not {what}")
    if not report.is_complete or report.key is None:
        raise EscrowKeyUnpinnedError(
            f"ceremony {ceremony} of {what} is incomplete: not every key-holder signed the transcript "
            "and passed the drill"
        )
    if report.key.to_dict() != key.to_dict():
        raise EscrowKeyUnpinnedError(
            f"the stored {what} is not the key ceremony {ceremony} proves "
            f"({report.key.key_id}, {report.key.threshold} of {len(report.key.verification_keys)}): "
            "the escrow_keys row was changed"
        )
    if event is None:
        raise EscrowKeyUnpinnedError(
            f"the transparency log has no activation entry for {what} from ceremony {ceremony}"
        )
    expected = b64u_encode(complete_transcript_digest(report.header, messages))
    if event.get("key_id") != key.key_id or event.get("ceremony") != ceremony:
        raise EscrowKeyUnpinnedError(f"the log's activation entry names another key or ceremony than {what}")
    if event.get("transcript_sha256") != expected:
        raise EscrowKeyUnpinnedError(
            f"the transcript of ceremony {ceremony} is not the one the log recorded when {what} was "
            "activated: the transcript was changed"
        )
    return report
