"""The key-holder tool: enrol, then take part in a ceremony or reshare, talking to the relay over HTTP.

Runs on the holder's own machine. Secrets (signing seed, exchange key, shares) stay in this process and
in the passphrase-protected holder file; the service only ever sees public keys, signatures, sealed
shares and proofs. Every request is signed (Escrow-Holder authorization, escrow.api.ceremony).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from escrow.crypto.ceremony_messages import (
    UNUSABLE_BOX_KEY,
    ShareTransportError,
    b64,
    box_key,
    generate_holder_keys,
    has_unusable_ephemeral_key,
    open_share,
    public_keys,
    seal_share,
    sign_message,
)
from escrow.crypto.dkg import (
    KeyShare,
    ThresholdPublicKey,
    deal,
    finalise_ceremony,
    finalise_reshare,
    reshare_deal,
    verify_dealt_share,
)
from escrow.crypto.errors import InvalidShareError
from escrow.crypto.group import Scalar
from escrow.crypto.holderfile import HolderSecrets, ShareRecord
from escrow.crypto.seal import partial_decrypt
from escrow.errors import EscrowError
from escrow.protocol.ceremony import (
    CONFIRM,
    DRILL,
    KIND_RESHARE,
    ROUND1,
    ROUND2,
    AccessStructure,
    CeremonyHeader,
    CeremonyProtocolError,
    Participant,
    SignedMessage,
    ceremony_transcript_hash,
    drill_envelope,
    enrolment_body,
    erasure_body,
    message_body,
    parse_round1,
)
from escrow.protocol.signed_request import request_target, sign_holder_request, split_target

TERMINAL = ("active", "aborted", "cancelled")


class HolderClientError(EscrowError):
    """The service refused a request or could not be reached; the message says why."""

    code = "holder-client-error"
    title = "Key-holder tool error"

    def __init__(self, detail: str, *, is_transient: bool = False) -> None:
        super().__init__(detail)
        self.is_transient = is_transient  # worth retrying: unreachable server or a 5xx answer


class Transport(Protocol):
    """Sends one HTTP request; returns (status, parsed JSON body)."""

    def __call__(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]: ...


@dataclass(frozen=True, slots=True)
class UrllibTransport:
    """A Transport over the standard library's urllib."""

    base_url: str
    timeout: float = 30.0

    def __call__(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        if not self.base_url.startswith(("http://", "https://")):
            raise HolderClientError("the server URL must start with http:// or https://")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            self.base_url.rstrip("/") + path, data=body, method=method, headers=dict(headers)
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"null")
            except ValueError:
                return e.code, None
        except (urllib.error.URLError, TimeoutError, ValueError) as e:
            raise HolderClientError(
                f"cannot reach the server at {self.base_url}: {e}", is_transient=True
            ) from e


def _check(status: int, data: Any) -> Any:
    if status >= 400:
        detail = data.get("detail") if isinstance(data, dict) else None
        raise HolderClientError(
            f"the server refused the request ({status}): {detail or 'no detail'}", is_transient=status >= 500
        )
    return data


@dataclass
class HolderClient:
    """Signed requests on behalf of one key-holder."""

    transport: Transport
    signing_seed: bytes = field(repr=False)
    clock_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    _last_ms: int = 0

    def _timestamp(self) -> int:
        # Strictly increasing, as the service refuses a timestamp it has seen (replay guard).
        self._last_ms = max(self.clock_ms(), self._last_ms + 1)
        return self._last_ms

    def request(self, method: str, path: str, payload: Any = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        ts = self._timestamp()
        authorization = sign_holder_request(
            self.signing_seed,
            method=method,
            target=request_target(*split_target(path)),
            timestamp_ms=ts,
            body=body,
        )
        headers = {"Authorization": authorization.to_header()}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return _check(*self.transport(method, path, body if payload is not None else None, headers))

    def public(self, path: str) -> Any:
        return _check(*self.transport("GET", path, None, {"Accept": "application/json"}))


def new_holder_secrets(name: str) -> HolderSecrets:
    """Returns fresh holder secrets (Ed25519 and X25519 keys, no shares yet)."""
    signing_seed, exchange_secret = generate_holder_keys()
    return HolderSecrets(name=name, signing_seed=signing_seed, exchange_secret=exchange_secret)


def enrol(transport: Transport, code: str, secrets: HolderSecrets) -> dict[str, Any]:
    """Registers the holder's public keys with the invitation code; returns the holder record."""
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    signature = sign_message(secrets.signing_seed, enrolment_body(code, keys.signing_key, keys.exchange_key))
    payload = {
        "invitation": code.strip(),
        "signing_key": b64(keys.signing_key),
        "exchange_key": b64(keys.exchange_key),
        "signature": b64(signature),
    }
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    result = _check(*transport("POST", "/api/v1/keyholders/enrol", body, headers))
    if not isinstance(result, dict):
        raise HolderClientError("unexpected answer from the server")
    return result


class CeremonyRunner:
    """Drives one holder through one ceremony, one step at a time (round 1, round 2, confirm + drill).

    `step()` does whatever this holder can do now and returns the ceremony's status. The share is
    recomputed from the relayed (sealed) messages whenever needed, so a restarted tool picks up where
    it stopped. When the key is active, `on_new_secrets` receives the holder secrets with the new share.
    """

    def __init__(
        self,
        client: HolderClient,
        secrets: HolderSecrets,
        ceremony_id: int,
        *,
        on_new_secrets: Callable[[HolderSecrets], None],
        report: Callable[[str], None] = lambda _line: None,
        confirm_access: Callable[[AccessStructure], None] | None = None,
        confirm_erasure: Callable[[str, int], bool] = lambda _key_id, _index: True,
    ) -> None:
        self.client = client
        # Called before this holder sends anything (deals, files round 2 or signs): the holders' public
        # keys come from the service, so they must be checked against fingerprints confirmed out of
        # band (docs/protocol.md §7a), and the holder confirms t, n and the new holders (issue 16). It
        # raises to stop. Whatever it does, the runner itself refuses a structure below the floor.
        self.confirm_access = confirm_access
        # Asked (key id, old index) when a reshare this holder left completes: True erases the old
        # share from the holder file and logs a signed erasure statement; False keeps it (issue 16).
        self.confirm_erasure = confirm_erasure
        self._access_confirmed_for: dict[str, Any] | None = None
        self._access: AccessStructure | None = None
        self.secrets = secrets
        self.ceremony_id = ceremony_id
        self.on_new_secrets = on_new_secrets
        self.report = report
        self.is_saved = False
        self._signing_key = public_keys(secrets.signing_seed, secrets.exchange_secret).signing_key

    def _state(self) -> tuple[dict[str, Any], CeremonyHeader, Participant, list[SignedMessage]]:
        state = self.client.public(f"/api/v1/ceremonies/{self.ceremony_id}")
        header = CeremonyHeader.from_dict(state["header"])
        organisations = state.get("organisations") or {}
        if not isinstance(organisations, dict) or not all(isinstance(v, str) for v in organisations.values()):
            raise HolderClientError("the service sent malformed organisations for this ceremony")
        self._access = AccessStructure(header, {int(k): v for k, v in organisations.items()})
        me = next((p for p in header.participants if p.signing_key == self._signing_key), None)
        if me is None:
            raise HolderClientError(f"this holder file's key is not part of ceremony {self.ceremony_id}")
        messages = [SignedMessage.from_dict(m) for m in state["messages"]]
        return state, header, me, messages

    def _send(self, header: CeremonyHeader, me: Participant, kind: str, **fields: Any) -> str:
        body = message_body(header, me, kind, **fields)
        message = SignedMessage(body, sign_message(self.secrets.signing_seed, body))
        result = self.client.request(
            "POST", f"/api/v1/ceremonies/{self.ceremony_id}/messages", message.to_dict()
        )
        self.report(f"sent {kind}; ceremony is now {result['status']}")
        return str(result["status"])

    def dealt_shares(
        self, header: CeremonyHeader, me: Participant
    ) -> tuple[dict[str, Any], dict[int, Scalar]]:
        """Returns this dealer's broadcast and the share for each recipient index (round 1)."""
        assert me.dealer_index is not None  # noqa: S101 - only dealers call this
        if header.kind == KIND_RESHARE:
            params = header.reshare_parameters()
            record = self.secrets.share_for(params.old.key_id)
            dealing = reshare_deal(params, record.share)
        else:
            dealing = deal(header.parameters(), me.dealer_index)
        return dealing.broadcast.to_dict(), dict(dealing.shares)

    def _check_access(self, header: CeremonyHeader) -> AccessStructure:
        access = self._access
        if access is None or access.header != header:  # pragma: no cover - both from one _state()
            raise HolderClientError("the ceremony header changed while this holder looked at it: stop")
        if self.confirm_access is not None and self._access_confirmed_for != access.to_dict():
            self.confirm_access(access)  # shows t, n and the holders; raises to stop
            self._access_confirmed_for = access.to_dict()
        try:
            # The tool's own check of the header (issue 16): it does not take the service's word, nor
            # a confirmation given to a structure below the published minimum.
            access.check_floor()
        except CeremonyProtocolError as e:
            raise HolderClientError(f"stopped before sending anything: {e.detail}") from e
        return access

    def _round1(self, header: CeremonyHeader, me: Participant) -> str:
        self._check_access(header)
        broadcast, shares = self.dealt_shares(header, me)
        recipients = header.recipients()
        sealed = {str(j): b64(seal_share(recipients[j].exchange_key, s)) for j, s in shares.items()}
        return self._send(header, me, ROUND1, dealer=me.dealer_index, broadcast=broadcast, shares=sealed)

    def _received(
        self, header: CeremonyHeader, me: Participant, messages: list[SignedMessage]
    ) -> tuple[dict[int, Any], dict[int, Scalar], list[dict[str, Any]]]:
        assert me.recipient_index is not None  # noqa: S101 - only recipients call this
        round1 = {}
        received: dict[int, Scalar] = {}
        complaints: list[dict[str, Any]] = []
        for m in messages:
            if m.kind != ROUND1:
                continue
            dealer = header.participant(int(m.body["holder"]))
            parsed = parse_round1(header, m, dealer)
            assert dealer.dealer_index is not None  # noqa: S101 - parse_round1 checked it
            round1[dealer.dealer_index] = parsed.broadcast
            sealed = parsed.sealed[me.recipient_index]
            try:
                share = open_share(self.secrets.exchange_secret, sealed)
            except ShareTransportError:
                share = Scalar.from_int(0)  # an unopenable box: complain; the revealed key shows it
            received[dealer.dealer_index] = share
            try:
                verify_dealt_share(parsed.broadcast, me.recipient_index, share)
            except InvalidShareError:
                # A box with a low-order ephemeral key has no box key: the complaint says so, and
                # anyone sees from the dealer's signed box that it is the dealer's fault (issue 16).
                revealed = (
                    UNUSABLE_BOX_KEY
                    if has_unusable_ephemeral_key(sealed)
                    else box_key(self.secrets.exchange_secret, sealed)
                )
                complaints.append(
                    {"dealer": dealer.dealer_index, "share": b64(bytes(share)), "box_key": b64(revealed)}
                )
        return round1, received, complaints

    def final_share(
        self, header: CeremonyHeader, me: Participant, messages: list[SignedMessage]
    ) -> tuple[KeyShare | None, ThresholdPublicKey | None, list[dict[str, Any]]]:
        """Returns this recipient's new share and the key, or the complaints it must file."""
        broadcasts, received, complaints = self._received(header, me, messages)
        if complaints:
            return None, None, complaints
        assert me.recipient_index is not None  # noqa: S101
        if header.kind == KIND_RESHARE:
            share, key = finalise_reshare(
                header.reshare_parameters(), me.recipient_index, broadcasts, received
            )
        else:
            share, key = finalise_ceremony(header.parameters(), me.recipient_index, broadcasts, received)
        return share, key, []

    def step(self) -> str:
        """Does what this holder can do now; returns the ceremony status."""
        state, header, me, messages = self._state()
        status = str(state["status"])
        sent = {m.kind for m in messages if int(m.body["holder"]) == me.holder}
        if status not in TERMINAL:
            # Every participant confirms as soon as it joins: a new holder who only receives can
            # object (and is shown the structure) before the dealers hand over their shares.
            self._check_access(header)
        if status == "round1" and me.dealer_index is not None and ROUND1 not in sent:
            self.report("round 1: dealing commitments, proof of knowledge and sealed shares")
            return self._round1(header, me)
        if status == "round2" and me.recipient_index is not None and ROUND2 not in sent:
            self.report("round 2: checking every share received against its dealer's commitments")
            _, key, complaints = self.final_share(header, me, messages)
            if complaints:
                self.report(f"filing {len(complaints)} signed complaint(s)")
            return self._send(
                header, me, ROUND2, complaints=complaints, key=None if key is None else key.to_dict()
            )
        if status == "confirm" and me.recipient_index is not None:
            share, key, _ = self.final_share(header, me, messages)
            if share is None or key is None or key.to_dict() != state["key"]:
                raise HolderClientError("the service reports another key than this holder computed: stop")
            if CONFIRM not in sent:
                access = self._check_access(header)
                digest = ceremony_transcript_hash(header, messages).hex()
                self.report(
                    f"signing the transcript hash {digest} for key {key.key_id} "
                    f"({access.threshold} of {access.holders} key-holders)"
                )
                status = self._send(
                    header, me, CONFIRM, transcript_hash=digest, key_id=key.key_id, access=access.to_dict()
                )
            if DRILL not in sent and status == "confirm":
                envelope = drill_envelope(header, key, ceremony_transcript_hash(header, messages))
                if state["drill_envelope"] != envelope.to_dict():
                    raise HolderClientError(
                        "the service's drill envelope is not the one derived from the transcript: "
                        "refusing to decrypt it (report this to the other key-holders)"
                    )
                partial = partial_decrypt(share, envelope, header.drill_request_digest())
                self.report("drill: partial decryption with proof of the drill envelope")
                status = self._send(header, me, DRILL, partial=partial.to_dict())
            return status
        if status == "active" and not self.is_saved:
            self._save(header, me, messages)
        return status

    def _save(self, header: CeremonyHeader, me: Participant, messages: list[SignedMessage]) -> None:
        old_key_id = None if header.old_key is None else header.old_key.key_id
        kept = tuple(r for r in self.secrets.shares if r.key.key_id != old_key_id)
        if me.recipient_index is not None:
            share, key, _ = self.final_share(header, me, messages)
            if share is None or key is None:  # pragma: no cover - an active ceremony had no complaint
                raise HolderClientError("cannot recompute the share of an active ceremony")
            kept = (*tuple(r for r in kept if r.key.key_id != key.key_id), ShareRecord(key, share))
            self.report(
                f"key {key.key_id} is active; your share (index {share.index}) is saved in your holder file"
            )
        elif header.old_key is not None and me.dealer_index is not None:
            if not self.confirm_erasure(header.old_key.key_id, me.dealer_index):
                self.report(
                    "WARNING: you kept your old share: with the other old shares it still opens every "
                    "envelope of this key (docs/protocol.md §7a); erase it and every copy"
                )
                self.is_saved = True
                return
            self.report("the reshare is complete; your old share was removed from your holder file")
        self.secrets = HolderSecrets(
            name=self.secrets.name,
            signing_seed=self.secrets.signing_seed,
            exchange_secret=self.secrets.exchange_secret,
            shares=kept,
        )
        self.on_new_secrets(self.secrets)
        self.is_saved = True
        if me.recipient_index is None and header.old_key is not None:
            self._send_erasure(header, me)

    def _send_erasure(self, header: CeremonyHeader, me: Participant) -> None:
        body = erasure_body(header, me)
        message = SignedMessage(body, sign_message(self.secrets.signing_seed, body))
        result = self.client.request(
            "POST", f"/api/v1/ceremonies/{self.ceremony_id}/erasure", message.to_dict()
        )
        self.report(
            f"your signed erasure statement is in the transparency log (entry {result['log_index']}); "
            "now destroy every backup of your old holder file"
        )


def find_open_ceremony(client: HolderClient) -> int:
    """Returns the id of the open ceremony this holder takes part in. Raises HolderClientError if none."""
    me = client.request("GET", "/api/v1/keyholders/me")
    open_ids = [c["id"] for c in me["ceremonies"] if c["status"] not in TERMINAL]
    if not open_ids:
        raise HolderClientError("you are not part of any open ceremony; ask the admin to open one")
    return int(open_ids[0])
