"""The whole key ceremony through the HTTP API, driven by five holder clients (issue 4)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.client.holder import CeremonyRunner, HolderClient, HolderClientError, enrol, new_holder_secrets
from escrow.config import Settings
from escrow.crypto.ceremony_messages import b64, box_key, seal_share, sign_message, unb64
from escrow.crypto.errors import CryptoError, HolderFileError
from escrow.crypto.group import Point, Scalar
from escrow.crypto.seal import combine_and_open, partial_decrypt, seal
from escrow.db import Base
from escrow.errors import InvalidStateError
from escrow.httpkit import get_components
from escrow.models import Ceremony, LogEntry
from escrow.protocol.ceremony import (
    CeremonyHeader,
    Participant,
    SignedMessage,
    erasure_body,
    message_body,
    verify_transcript,
)
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.key_pinning import pinned_escrow_key
from tests.api.holders import FlaskTransport, Holder, enrol_holders, run_ceremony

NOW = datetime.now(UTC)


def test_full_3_of_5_ceremony_activates_a_key_every_holder_can_use(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given five enrolled holders and an open 3-of-5 ceremony
    holders = enrol_holders(app, client, db_session, 5)
    ceremony_id = ceremony_service.open_ceremony(
        db_session, threshold=3, holder_ids=[h.id for h in holders], log=get_components(app).log, now=NOW
    )

    # When every holder runs the tool
    status = run_ceremony(client, holders, ceremony_id)

    # Then the key is active, and any three new shares open an envelope sealed to it
    assert status == "active"
    key = active_escrow_key(db_session)
    envelope = seal(key, b"Jane Doe", {"platform": "p"})
    digest = b"\x01" * 32
    partials = [
        partial_decrypt(h.secrets.share_for(key.key_id).share, envelope, digest) for h in holders[1:4]
    ]
    assert combine_and_open(key, envelope, digest, partials).identity == b"Jane Doe"


class CheatingRunner(CeremonyRunner):
    """A dealer that sends holder 2 a share that does not match its commitments."""

    def dealt_shares(
        self, header: CeremonyHeader, me: Participant
    ) -> tuple[dict[str, Any], dict[int, Scalar]]:
        broadcast, shares = super().dealt_shares(header, me)
        shares[2] = shares[2] + Scalar.from_int(1)
        return broadcast, shares


def _open(app: Flask, session: Session, holders: list[Holder], threshold: int) -> int:
    return ceremony_service.open_ceremony(
        session, threshold=threshold, holder_ids=[h.id for h in holders], log=get_components(app).log, now=NOW
    )


def test_cheating_dealer_is_named_by_a_public_complaint_and_no_key_activates(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given holder 4 deals a bad share to holder 2
    holders = enrol_holders(app, client, db_session, 5)
    ceremony_id = _open(app, db_session, holders, 3)
    runners = {holders[3].id: holders[3].runner(ceremony_id, CheatingRunner)}

    # When the ceremony runs
    status = run_ceremony(client, holders, ceremony_id, runners)

    # Then it aborts naming holder 4, no key is active, and the public transcript proves it offline
    assert status == "aborted"
    state = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()
    assert state["blamed_holder"] == holders[3].id
    with pytest.raises(InvalidStateError):
        active_escrow_key(db_session)
    report = verify_transcript(state)
    assert report.blamed_holder == holders[3].id
    assert not report.is_complete


class LowOrderBoxRunner(CeremonyRunner):
    """A dealer that seals holder 2's share in a box whose ephemeral X25519 key has order 1 (issue 16)."""

    def _round1(self, header: CeremonyHeader, me: Participant) -> str:
        broadcast, shares = self.dealt_shares(header, me)
        recipients = header.recipients()
        sealed = {str(j): b64(seal_share(recipients[j].exchange_key, s)) for j, s in shares.items()}
        sealed["2"] = b64(bytes(32) + b"\x00" * 48)  # u = 0: every shared secret with it is zero
        return self._send(header, me, "round1", dealer=me.dealer_index, broadcast=broadcast, shares=sealed)


def test_a_dealer_who_seals_a_share_to_a_low_order_key_is_named_not_the_recipient_crashed(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given holder 4 seals holder 2's share in a box with a low-order ephemeral key
    holders = enrol_holders(app, client, db_session, 5)
    ceremony_id = _open(app, db_session, holders, 3)
    runners = {holders[3].id: holders[3].runner(ceremony_id, LowOrderBoxRunner)}

    # When the ceremony runs (holder 2's tool used to stop with ShareTransportError before complaining)
    status = run_ceremony(client, holders, ceremony_id, runners)

    # Then holder 2 complains, the ceremony aborts naming holder 4, and the transcript proves it offline
    assert status == "aborted"
    state = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()
    assert state["blamed_holder"] == holders[3].id
    assert verify_transcript(state).blamed_holder == holders[3].id


def test_false_complaint_names_the_accuser(app: Flask, client: FlaskClient, db_session: Session) -> None:
    # Given an honest round 1 and a holder who complains with a made-up share
    holders = enrol_holders(app, client, db_session, 3)
    ceremony_id = _open(app, db_session, holders, 2)
    for h in holders:
        h.runner(ceremony_id).step()
    liar = holders[0]
    state = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()
    header = CeremonyHeader.from_dict(state["header"])
    me = header.participant(liar.id)
    sealed = unb64(state["messages"][1]["body"]["shares"]["1"])
    body = message_body(
        header,
        me,
        "round2",
        complaints=[
            {
                "dealer": 2,
                "share": b64(bytes(Scalar.from_int(7))),
                "box_key": b64(box_key(liar.secrets.exchange_secret, sealed)),
            }
        ],
        key=None,
    )

    # When it files the complaint
    result = liar.client.request(
        "POST",
        f"/api/v1/ceremonies/{ceremony_id}/messages",
        SignedMessage(body, sign_message(liar.secrets.signing_seed, body)).to_dict(),
    )

    # Then the ceremony aborts naming the accuser, not the dealer
    assert result["status"] == "aborted"
    assert client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()["blamed_holder"] == liar.id


def test_complaint_with_a_box_key_that_opens_nothing_aborts_without_naming_anyone(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given an honest round 1 and a complaint whose revealed box key is made up
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = _open(app, db_session, holders, 2)
    for h in holders:
        h.runner(ceremony_id).step()
    accuser = holders[0]
    header = CeremonyHeader.from_dict(client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()["header"])
    complaint = {"dealer": 2, "share": b64(bytes(Scalar.from_int(7))), "box_key": b64(b"\x01" * 32)}
    body = message_body(header, header.participant(accuser.id), "round2", complaints=[complaint], key=None)
    message = SignedMessage(body, sign_message(accuser.secrets.signing_seed, body))

    # When it is filed
    result = accuser.client.request("POST", f"/api/v1/ceremonies/{ceremony_id}/messages", message.to_dict())

    # Then the ceremony aborts, blames no one, and the transcript says the complaint cannot be decided
    state = client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()
    assert result["status"] == "aborted"
    assert state["blamed_holder"] is None
    report = verify_transcript(state)
    assert "cannot be decided" in report.notes[-1]


def test_message_signed_by_another_holder_is_refused(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given holder 2 signs a round 1 message claiming to be holder 1, sent over holder 1's session
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = _open(app, db_session, holders, 2)
    header = CeremonyHeader.from_dict(client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()["header"])
    body = message_body(
        header, header.participant(holders[0].id), "round1", dealer=1, broadcast={}, shares={}
    )
    forged = SignedMessage(body, sign_message(holders[1].secrets.signing_seed, body))

    # When it is posted
    with pytest.raises(HolderClientError, match="403.*not signed by key-holder"):
        holders[0].client.request("POST", f"/api/v1/ceremonies/{ceremony_id}/messages", forged.to_dict())

    # Then nothing was relayed
    assert client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()["messages"] == []


def test_unsigned_and_replayed_requests_are_refused(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    holders = enrol_holders(app, client, db_session, 1)
    fixed = HolderClient(FlaskTransport(client), holders[0].secrets.signing_seed, clock_ms=lambda: 1)

    unsigned = client.get("/api/v1/keyholders/me")
    holders[0].client.request("GET", "/api/v1/keyholders/me")
    with pytest.raises(HolderClientError, match="401"):
        fixed.request("GET", "/api/v1/keyholders/me")

    assert unsigned.status_code == 401
    assert unsigned.get_json()["code"] == "invalid-holder-signature"


def test_invitation_code_works_once(app: Flask, client: FlaskClient, db_session: Session) -> None:
    invitation = keyholder_service.invite_keyholder(
        db_session, name="A", organisation="O", contact="c", log=get_components(app).log, now=NOW
    )
    enrol(FlaskTransport(client), invitation.code, new_holder_secrets("A"))

    with pytest.raises(HolderClientError, match="401.*unknown, already used or expired"):
        enrol(FlaskTransport(client), invitation.code, new_holder_secrets("B"))


def test_malformed_message_is_a_problem_not_a_server_error(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = _open(app, db_session, holders, 2)

    with pytest.raises(HolderClientError, match="422"):
        holders[0].client.request(
            "POST", f"/api/v1/ceremonies/{ceremony_id}/messages", {"body": [], "signature": 3}
        )


def test_cancelled_ceremony_accepts_no_more_messages(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = _open(app, db_session, holders, 2)

    ceremony_service.cancel_ceremony(
        db_session, ceremony_id=ceremony_id, reason="wrong holders", log=get_components(app).log, now=NOW
    )

    assert holders[0].runner(ceremony_id).step() == "cancelled"
    header = CeremonyHeader.from_dict(client.get(f"/api/v1/ceremonies/{ceremony_id}").get_json()["header"])
    body = message_body(
        header, header.participant(holders[0].id), "round1", dealer=1, broadcast={}, shares={}
    )
    message = SignedMessage(body, sign_message(holders[0].secrets.signing_seed, body))
    with pytest.raises(HolderClientError, match="409.*cancelled"):
        holders[0].client.request("POST", f"/api/v1/ceremonies/{ceremony_id}/messages", message.to_dict())


def test_reshare_3_of_5_to_2_of_3_keeps_the_key_and_old_envelopes_open(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given an active 3-of-5 key and an envelope sealed to it
    holders = enrol_holders(app, client, db_session, 5)
    assert run_ceremony(client, holders, _open(app, db_session, holders, 3)) == "active"
    key = active_escrow_key(db_session)
    envelope = seal(key, b"Jane Doe", {"platform": "p"})
    newcomers = enrol_holders(app, client, db_session, 1)
    new_set = [holders[0], holders[4], newcomers[0]]

    # When holders 1-3 reshare to {1, 5, newcomer} with threshold 2
    reshare_id = ceremony_service.open_reshare(
        db_session,
        threshold=2,
        dealer_ids=[h.id for h in holders[:3]],
        holder_ids=[h.id for h in new_set],
        log=get_components(app).log,
        now=NOW,
    )
    status = run_ceremony(client, [*holders[:3], holders[4], newcomers[0]], reshare_id)

    # Then the public key and key id are the same, and two new shares open the old envelope
    assert status == "active"
    new_key = active_escrow_key(db_session)
    assert (new_key.key_id, new_key.public_key, new_key.threshold) == (key.key_id, key.public_key, 2)
    # and the reshared key is the one seals use: the log's newest key entry (key.reshared) pins it
    assert pinned_escrow_key(db_session) == new_key
    digest = b"\x02" * 32
    new_partials = [
        partial_decrypt(h.secrets.share_for(key.key_id).share, envelope, digest) for h in new_set[1:]
    ]
    assert combine_and_open(new_key, envelope, digest, new_partials).identity == b"Jane Doe"
    # and an old share no longer combines with a new one
    old_partial = partial_decrypt(holders[1].saved[0].share_for(key.key_id).share, envelope, digest)
    with pytest.raises(CryptoError):
        combine_and_open(new_key, envelope, digest, [new_partials[0], old_partial])
    # and the dealer who left has no share any more; the reshare transcript verifies offline
    with pytest.raises(HolderFileError):
        holders[1].secrets.share_for(key.key_id)
    report = verify_transcript(client.get(f"/api/v1/ceremonies/{reshare_id}").get_json())
    assert report.is_complete
    assert report.key == new_key
    # and the log says who left and who joined, so the public report lists the holders in force
    changes = [
        (e["kind"], e["data"]["holder"])
        for e in _log_events(db_session)
        if e["kind"] in ("keyholder.removed", "keyholder.joined")
    ]
    assert changes == [("keyholder.removed", h.id) for h in holders[1:4]] + [
        ("keyholder.joined", newcomers[0].id)
    ]
    public = client.get("/api/v1/transparency/report").get_json()["keyholders"]
    assert sorted(h["name"] for h in public) == ["Holder 1", "Holder 1", "Holder 5"]  # 1, 5, newcomer


def _log_events(session: Session) -> list[dict[str, Any]]:
    import json

    from sqlalchemy import select

    from escrow.models import LogEntry

    rows = session.execute(select(LogEntry.kind, LogEntry.body).order_by(LogEntry.idx)).all()
    return [{"kind": kind, "data": json.loads(body).get("data", {})} for kind, body in rows]


def test_database_after_a_ceremony_holds_no_share_or_holder_secret(
    app: Flask, client: FlaskClient, db_session: Session, settings: Settings
) -> None:
    # Given a completed 3-of-5 ceremony
    holders = enrol_holders(app, client, db_session, 5)
    assert run_ceremony(client, holders, _open(app, db_session, holders, 3)) == "active"
    key = active_escrow_key(db_session)
    secrets_found = []
    for h in holders:
        share = bytes(h.secrets.share_for(key.key_id).share.value)
        secrets_found += [share, h.secrets.signing_seed, h.secrets.exchange_secret]
    needles = [s for raw in secrets_found for s in (raw, raw.hex().encode(), b64(raw).encode())]

    # When every column of every table (and every server key file) is read
    haystack: list[bytes] = []
    for table in Base.metadata.sorted_tables:
        for row in db_session.execute(table.select()).all():
            for value in row:
                haystack.append(value if isinstance(value, bytes) else str(value).encode())
    for path in settings.keys_dir.iterdir():
        haystack.append(path.read_bytes())

    # Then no share or holder secret appears anywhere
    for needle in needles:
        assert not any(needle in hay for hay in haystack)
    # and no 32-byte value there is a share of the key (s*G == PK or any verification key)
    targets = {bytes(key.public_key), *(bytes(v) for v in key.verification_keys.values())}
    for hay in haystack:
        for candidate in _candidate_scalars(hay):
            assert bytes(Point.base_times(candidate)) not in targets


def _candidate_scalars(data: bytes) -> list[Scalar]:
    """Every 32-byte window, raw or base64url-decoded, that is a canonical scalar."""
    blobs = [data]
    for token in re.findall(rb"[A-Za-z0-9_-]{43}", data):
        try:
            blobs.append(unb64(token.decode(), length=32))
        except CryptoError:
            continue
    found = []
    for blob in blobs:
        for start in range(0, max(len(blob) - 31, 0)):
            try:
                found.append(Scalar.decode(blob[start : start + 32]))
            except CryptoError:
                continue
    return found


def test_dealer_leaving_in_a_reshare_cannot_sign_the_new_key(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given a reshare from holders 1-2 to holders 1 and 3, past round 2
    holders = enrol_holders(app, client, db_session, 3)
    assert run_ceremony(client, holders, _open(app, db_session, holders, 2)) == "active"
    reshare_id = ceremony_service.open_reshare(
        db_session,
        threshold=2,
        dealer_ids=[holders[0].id, holders[1].id],
        holder_ids=[holders[0].id, holders[2].id],
        log=get_components(app).log,
        now=NOW,
    )
    runners = {h.id: h.runner(reshare_id) for h in holders}
    for _ in range(2):
        for h in holders:
            runners[h.id].step()
    state = client.get(f"/api/v1/ceremonies/{reshare_id}").get_json()
    assert state["status"] == "confirm"
    leaving = holders[1]
    header = CeremonyHeader.from_dict(state["header"])
    body = message_body(header, header.participant(leaving.id), "confirm", transcript_hash="00", key_id="x")

    # When the leaving dealer sends a success signature
    with pytest.raises(HolderClientError, match="422.*receives no share"):
        leaving.client.request(
            "POST",
            f"/api/v1/ceremonies/{reshare_id}/messages",
            SignedMessage(body, sign_message(leaving.secrets.signing_seed, body)).to_dict(),
        )

    # Then it is refused and the reshare still completes
    assert run_ceremony(client, holders, reshare_id, runners) == "active"


def test_holder_refuses_a_drill_envelope_the_service_swapped_for_a_real_one(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given an active key, an identity sealed to it, and a reshare that reached the drill
    holders = enrol_holders(app, client, db_session, 2)
    assert run_ceremony(client, holders, _open(app, db_session, holders, 2)) == "active"
    key = active_escrow_key(db_session)
    identity_envelope = seal(key, b"Jane Doe", {"platform": "p"})
    reshare_id = ceremony_service.open_reshare(
        db_session,
        threshold=2,
        dealer_ids=[h.id for h in holders],
        holder_ids=[h.id for h in holders],
        log=get_components(app).log,
        now=NOW,
    )
    runners = {h.id: h.runner(reshare_id) for h in holders}
    for _ in range(2):
        for h in holders:
            runners[h.id].step()

    # When a compromised service swaps the drill envelope for the identity envelope
    row = db_session.get(Ceremony, reshare_id)
    assert row is not None
    row.drill_envelope = identity_envelope.to_bytes().decode()
    db_session.commit()

    # Then the holder's tool refuses to decrypt it
    with pytest.raises(HolderClientError, match="refusing to decrypt"):
        runners[holders[0].id].step()


class UnconfirmedRunner(CeremonyRunner):
    """A tool that signs the transcript hash without the access structure it was shown (or another one)."""

    access_override: Any = None

    def _send(self, header: CeremonyHeader, me: Participant, kind: str, **fields: Any) -> str:
        if kind == "confirm":
            fields["access"] = self.access_override
        return super()._send(header, me, kind, **fields)


class _LoweredAccessRunner(UnconfirmedRunner):
    def _send(self, header: CeremonyHeader, me: Participant, kind: str, **fields: Any) -> str:
        if kind == "confirm":
            self.access_override = {**fields["access"], "threshold": 1}
        return super()._send(header, me, kind, **fields)


class _OtherOrganisationRunner(UnconfirmedRunner):
    def _send(self, header: CeremonyHeader, me: Participant, kind: str, **fields: Any) -> str:
        if kind == "confirm":
            members = [{**m, "organisation": "Elsewhere"} for m in fields["access"]["members"]]
            self.access_override = {**fields["access"], "members": members}
        return super()._send(header, me, kind, **fields)


@pytest.mark.parametrize(
    ("runner_class", "message"),
    [
        (UnconfirmedRunner, "carries no confirmed access structure"),
        (_LoweredAccessRunner, "not this ceremony's"),
        (_OtherOrganisationRunner, "organisations this key-holder confirmed are not"),
    ],
)
def test_a_success_message_must_carry_the_access_structure_its_holder_confirmed(
    app: Flask, client: FlaskClient, db_session: Session, runner_class: type[CeremonyRunner], message: str
) -> None:
    # Given a 2-of-2 ceremony whose second holder's tool signs without (or with another) access structure
    holders = enrol_holders(app, client, db_session, 2)
    ceremony_id = _open(app, db_session, holders, 2)
    runners = {holders[1].id: holders[1].runner(ceremony_id, runner_class)}

    # When the ceremony runs, Then that success message is refused (422) and no key activates
    with pytest.raises(HolderClientError, match=f"422.*{message}"):
        run_ceremony(client, holders, ceremony_id, runners)
    assert ceremony_service.ceremony_state(db_session, ceremony_id).status == "confirm"


def test_a_leaving_holder_who_declines_keeps_its_share_and_a_statement_is_logged_once_and_only_for_it(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    # Given an active 2-of-3 key, reshared by holders 1 and 2 to {1, 3}; holder 2 leaves and declines
    # to erase its old share when asked
    holders = enrol_holders(app, client, db_session, 3)
    first = _open(app, db_session, holders, 2)
    assert run_ceremony(client, holders, first) == "active"
    key = active_escrow_key(db_session)
    reshare_id = ceremony_service.open_reshare(
        db_session,
        threshold=2,
        dealer_ids=[holders[0].id, holders[1].id],
        holder_ids=[holders[0].id, holders[2].id],
        log=get_components(app).log,
        now=NOW,
    )
    asked: list[tuple[str, int]] = []
    saved_before = len(holders[1].saved)

    def decline(key_id: str, index: int) -> bool:
        asked.append((key_id, index))
        return False

    leaving = CeremonyRunner(
        holders[1].client,
        holders[1].secrets,
        reshare_id,
        on_new_secrets=holders[1].saved.append,
        confirm_erasure=decline,
    )
    assert run_ceremony(client, holders, reshare_id, {holders[1].id: leaving}) == "active"

    # Then it was asked about share 2 of the key, kept it, and nothing was logged for it
    assert asked == [(key.key_id, 2)]
    assert len(holders[1].saved) == saved_before
    assert holders[1].secrets.share_for(key.key_id).share.index == 2
    assert _logged_erasures(db_session) == []

    # When it signs the statement later, twice; a continuing holder signs one; one is altered;
    # and one names the create ceremony
    header = ceremony_service.ceremony_state(db_session, reshare_id).header

    def statement(holder: Holder, **changes: Any) -> dict[str, Any]:
        body = {**erasure_body(header, header.participant(holders[1].id)), "holder": holder.id, **changes}
        return SignedMessage(body, sign_message(holder.secrets.signing_seed, body)).to_dict()

    path = f"/api/v1/ceremonies/{reshare_id}/erasure"
    logged = holders[1].client.request("POST", path, statement(holders[1]))
    with pytest.raises(HolderClientError, match="409.*already in the log"):
        holders[1].client.request("POST", path, statement(holders[1]))
    with pytest.raises(HolderClientError, match="422.*holds a share of the key after this reshare"):
        holders[0].client.request("POST", path, statement(holders[0]))
    with pytest.raises(HolderClientError, match="422.*does not match"):
        holders[1].client.request("POST", path, statement(holders[1], old_index=1))
    with pytest.raises(HolderClientError, match="409.*not a completed reshare"):
        holders[1].client.request("POST", f"/api/v1/ceremonies/{first}/erasure", statement(holders[1]))

    # Then exactly one statement is in the log, for holder 2's share 2, with its signature
    assert [(e["holder"], e["old_index"], e["key_id"]) for e in _logged_erasures(db_session)] == [
        (holders[1].id, 2, key.key_id)
    ]
    assert isinstance(logged["log_index"], int)


def _logged_erasures(session: Session) -> list[dict[str, Any]]:
    bodies = session.scalars(select(LogEntry.body).where(LogEntry.kind == "keyholder.share_erased")).all()
    return [json.loads(b)["data"] for b in bodies]
