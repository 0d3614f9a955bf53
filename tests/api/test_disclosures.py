"""Disclosure requests through the HTTP API and the holder/officer tool code (issue 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from escrow.client.disclosure import approve, reject
from escrow.client.disclosure.officers import blinded_body
from escrow.client.holder import HolderClientError
from escrow.crypto.disclosure import sign_decision, sign_officer
from escrow.crypto.seal import partial_decrypt, seal
from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.httpkit import get_components
from escrow.models import DisclosureDecision, DisclosureRequest, DisclosureScope, KeyHolder, LogEntry
from escrow.protocol.disclosure import DisclosureBody
from escrow.services.escrow_keys import escrow_key
from tests.disclosure_support import PERSON_NAME, World, build_world


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def _row(world: World, request_id: int) -> DisclosureRequest:
    with get_components(world.app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        session.expunge(row)
        return row


def _update(world: World, request_id: int, **values: object) -> None:
    with get_components(world.app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.commit()


def _kinds(world: World) -> list[str]:
    with get_components(world.app).session_factory() as session:
        return list(session.scalars(select(LogEntry.kind).order_by(LogEntry.idx)))


def test_court_order_goes_from_submission_to_reveal_and_notification(world: World) -> None:
    # Given a draft by alice with a court-signed order
    draft = world.draft()
    assert draft.status_code == 201, draft.get_json()
    request_id = draft.get_json()["id"]
    assert draft.get_json()["body"]["court_signature"] == "verified"
    # When alice submits, bob (another organisation) co-signs and three holders approve with the tool
    assert world.sign(request_id, "alice", "submit")["status"] == "submitted"
    assert world.sign(request_id, "bob", "cosign")["status"] == "cosigned"
    listed = world.holders[0].client.request("GET", "/api/v1/holder/disclosures")
    assert [r["id"] for r in listed] == [request_id]
    results = [world.approve(h, request_id) for h in world.holders[:3]]
    # Then the third approval reveals, and the submitting officer's tool opens the registered identity,
    # checked by the OPRF nodes to be the person behind the pseudonym (issue 14)
    assert [r["status"] for r in results] == ["cosigned", "cosigned", "disclosed"]
    (shown,) = world.reveal(request_id, "alice")
    assert shown.verdict == "verified"
    assert shown.identity is not None
    assert shown.identity["name"] == PERSON_NAME
    assert shown.label == f"forum / {world.credential.pseudonym}"
    assert world.reveal_post(request_id, "bob").status_code == 404  # a co-signer never sees it
    # and every step is in the log, the identity in none of it, nor in any stored row
    kinds = _kinds(world)
    for kind in (
        "disclosure.submitted",
        "disclosure.cosigned",
        "disclosure.approved",
        "disclosure.disclosed",
    ):
        assert kind in kinds
    assert kinds.count("disclosure.partials_fetched") == 1
    assert kinds.count("disclosure.oprf_checked") == 1
    with get_components(world.app).session_factory() as session:
        bodies = b"".join(session.scalars(select(LogEntry.body)))
        decisions = "".join(d.partials or "" for d in session.scalars(select(DisclosureDecision)))
    assert PERSON_NAME.encode() not in bodies
    assert PERSON_NAME not in decisions
    # and the person sees the disclosure on their page (delay 0), logged once
    person = world.person_client()
    page = person.get("/account/credentials").get_data(as_text=True)
    assert "Your identity was disclosed" in page
    assert "2026/CR/0042" in page
    person.get("/account/credentials")
    assert _kinds(world).count("disclosure.user_notified") == 1


def test_notification_waits_for_the_delay(world: World) -> None:
    response = world.draft(notify_delay_days="30")
    request_id = response.get_json()["id"]
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    for h in world.holders[:3]:
        world.approve(h, request_id)
    person = world.person_client()
    assert "Your identity was disclosed" not in person.get("/account/credentials").get_data(as_text=True)


def test_request_without_order_document_is_refused(world: World) -> None:
    response = world.draft(order=None)
    assert response.status_code == 422
    assert "order document" in response.get_json()["detail"]


def test_order_that_is_not_a_pdf_is_refused(world: World) -> None:
    response = world.draft(order=b"<html>not a pdf</html>")
    assert response.status_code == 422
    assert "PDF" in response.get_json()["detail"]


@pytest.mark.parametrize(("signature", "what"), [("", "no signature"), ("bad", "does not verify")])
def test_unsigned_order_of_a_signing_court_is_refused_naming_the_court(
    world: World, signature: str, what: str
) -> None:
    # Issue 16 item 4: the court registered a key, so it signs its orders; one without is refused.
    response = world.draft(court_signature=b64u_encode(b"\x01" * 64) if signature else "")
    assert response.status_code == 422
    problem = response.get_json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "District Court of Example (EX) signs its orders" in problem["detail"]
    assert what in problem["detail"]


def test_signed_order_is_recorded_as_verified(world: World) -> None:
    assert world.draft().get_json()["body"]["court_signature"] == "verified"


def test_envelope_digest_not_matching_a_stored_envelope_is_refused(world: World) -> None:
    scope = world.scope()
    scope[0]["envelope_digest"] = b64u_encode(b"\x00" * 32)
    response = world.draft(scope=scope)
    assert response.status_code == 422
    assert "does not match a stored envelope" in response.get_json()["detail"]


def test_submitter_cannot_cosign_own_request(world: World) -> None:
    request_id = world.draft().get_json()["id"]
    world.sign(request_id, "alice", "submit")
    with pytest.raises(HolderClientError, match="cannot co-sign their own request"):
        world.sign(request_id, "alice", "cosign")


def test_cosigner_from_the_same_organisation_is_refused_by_default(world: World) -> None:
    request_id = world.draft().get_json()["id"]
    world.sign(request_id, "alice", "submit")
    with pytest.raises(HolderClientError, match="another organisation"):
        world.sign(request_id, "carol", "cosign")


def test_submission_signed_by_another_officer_is_refused(world: World) -> None:
    request_id = world.draft().get_json()["id"]
    # bob's own tool refuses to submit alice's draft
    with pytest.raises(HolderClientError, match="alice's to submit, not bob's"):
        world.sign(request_id, "bob", "submit")
    # and the server refuses bob's signature over it, blinded with bob's key or alice's points
    body = DisclosureBody.from_dict(world.document(request_id)["body"])
    for blinder in ("bob", "alice"):
        blinded = blinded_body(world.officers[blinder], body)
        signature = sign_officer(world.officers["bob"].signing_seed, "submit", blinded.digest())
        response = world.app.test_client().post(
            f"/api/v1/disclosures/{request_id}/submit",
            json={"signature": b64u_encode(signature), "blinding": blinded.to_dict()["blinding"]},
        )
        assert response.status_code == 403
        assert "not the submitter's" in response.get_json()["detail"]


def test_submitted_request_cannot_be_submitted_again(world: World) -> None:
    request_id = world.draft().get_json()["id"]
    world.sign(request_id, "alice", "submit")
    with pytest.raises(HolderClientError, match="already submitted"):
        world.sign(request_id, "alice", "submit")


def test_approval_before_cosigning_is_refused(world: World) -> None:
    request_id = world.draft().get_json()["id"]
    world.sign(request_id, "alice", "submit")
    with pytest.raises(HolderClientError, match="not signed by its submitter and a co-signer"):
        world.approve(world.holders[0], request_id)
    # and the server refuses too, even when the holder's tool is bypassed
    checked_body = world.holders[0].client.request("GET", f"/api/v1/holder/disclosures/{request_id}")
    signature = sign_decision(world.holders[0].secrets.signing_seed, b"\x00" * 32, "reject", b"no")
    with pytest.raises(HolderClientError, match="not co-signed yet"):
        world.holders[0].client.request(
            "POST",
            f"/api/v1/holder/disclosures/{checked_body['id']}/reject",
            {"reason": "no", "signature": b64u_encode(signature)},
        )


def test_partial_made_for_another_request_is_refused_naming_the_holder(world: World) -> None:
    first, second = world.cosigned_request(), world.cosigned_request()
    holder = world.holders[0]
    checked_first = world.check(holder, first)
    checked_second = world.check(holder, second)
    share = holder.secrets.share_for(checked_first.body.key_id).share
    # a partial computed for the first request, sent (correctly signed) for the second
    partials = [partial_decrypt(share, e, checked_first.digest).to_dict() for e in checked_second.envelopes]
    signature = sign_decision(
        holder.secrets.signing_seed, checked_second.digest, "approve", canonical_json(partials)
    )
    with pytest.raises(
        HolderClientError, match="partial decryption of key-holder Holder 1 .* does not verify"
    ):
        holder.client.request(
            "POST",
            f"/api/v1/holder/disclosures/{second}/approve",
            {"partials": partials, "signature": b64u_encode(signature)},
        )


def test_wrong_proof_is_refused_naming_the_holder(world: World) -> None:
    request_id = world.cosigned_request()
    holder = world.holders[1]
    checked = world.check(holder, request_id)
    share = holder.secrets.share_for(checked.body.key_id).share
    partials = [partial_decrypt(share, e, checked.digest).to_dict() for e in checked.envelopes]
    other = [partial_decrypt(share, e, checked.digest).to_dict() for e in checked.envelopes]
    partials[0]["proof"] = other[0]["proof"][:-2] + ("AA" if not other[0]["proof"].endswith("AA") else "BA")
    signature = sign_decision(
        holder.secrets.signing_seed, checked.digest, "approve", canonical_json(partials)
    )
    with pytest.raises(HolderClientError, match="Holder 2"):
        holder.client.request(
            "POST",
            f"/api/v1/holder/disclosures/{request_id}/approve",
            {"partials": partials, "signature": b64u_encode(signature)},
        )


def test_duplicate_approval_is_refused(world: World) -> None:
    request_id = world.cosigned_request()
    world.approve(world.holders[0], request_id)
    with pytest.raises(HolderClientError, match="already decided"):
        world.approve(world.holders[0], request_id)


def test_t_minus_1_approvals_reveal_nothing(world: World) -> None:
    request_id = world.cosigned_request()
    for h in world.holders[:2]:
        world.approve(h, request_id)
    assert _row(world, request_id).status == "cosigned"
    response = world.reveal_post(request_id, "alice")
    assert response.status_code == 409
    assert "disclosure.disclosed" not in _kinds(world)


def test_quorum_from_one_organisation_reveals_nothing(app: Flask) -> None:
    world = build_world(app, holder_orgs=["Same Org"] * 4 + ["Other Org"])
    request_id = world.cosigned_request()
    for h in world.holders[:3]:
        world.approve(h, request_id)
    assert _row(world, request_id).status == "cosigned"
    # a fourth approval from another organisation completes the quorum
    assert world.approve(world.holders[4], request_id)["status"] == "disclosed"


def test_emergency_flag_changes_nothing_about_the_quorum(world: World) -> None:
    response = world.draft(emergency="1")
    request_id = response.get_json()["id"]
    assert response.get_json()["body"]["emergency"] is True
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    for h in world.holders[:2]:
        world.approve(h, request_id)
    assert _row(world, request_id).status == "cosigned"


def test_expired_request_accepts_nothing_and_deletes_partials(world: World) -> None:
    request_id = world.cosigned_request()
    world.approve(world.holders[0], request_id)
    # time passes beyond the expiry
    _update(world, request_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(HolderClientError, match="expired"):
        world.approve(world.holders[1], request_id)
    assert _row(world, request_id).status == "expired"
    with get_components(world.app).session_factory() as session:
        assert all(d.partials is None for d in session.scalars(select(DisclosureDecision)))
    assert "disclosure.expired" in _kinds(world)


def test_rejections_by_n_minus_t_plus_1_holders_reject_the_request(world: World) -> None:
    request_id = world.cosigned_request()
    world.approve(world.holders[0], request_id)
    results = [
        reject(h.client, h.secrets, world.check(h, request_id), "order too broad") for h in world.holders[1:4]
    ]
    assert [r["status"] for r in results] == ["cosigned", "cosigned", "rejected"]
    with get_components(world.app).session_factory() as session:
        assert all(d.partials is None for d in session.scalars(select(DisclosureDecision)))
    with pytest.raises(HolderClientError, match="rejected"):
        world.approve(world.holders[4], request_id)


def test_officer_outside_the_request_cannot_view(world: World) -> None:
    request_id = world.cosigned_request()
    for h in world.holders[:3]:
        world.approve(h, request_id)
    response = world.reveal_post(request_id, "dave")
    assert response.status_code == 404  # not a 403 that would confirm the request (issue 16)
    unsigned = world.app.test_client().post(
        f"/api/v1/disclosures/{request_id}/reveal", json={"signature": ""}
    )
    assert unsigned.status_code == 404


def test_viewing_after_the_window_is_refused_and_partials_are_deleted(world: World) -> None:
    request_id = world.cosigned_request()
    for h in world.holders[:3]:
        world.approve(h, request_id)
    _update(world, request_id, view_until=datetime.now(UTC) - timedelta(seconds=1))
    response = world.reveal_post(request_id, "alice")
    assert response.status_code == 409
    assert "window is over" in response.get_json()["detail"]
    with get_components(world.app).session_factory() as session:
        assert all(d.partials is None for d in session.scalars(select(DisclosureDecision)))


def test_request_missing_from_the_log_is_refused_by_the_holder_tool(world: World) -> None:
    request_id = world.cosigned_request()
    # a compromised server points the request at another log entry
    _update(world, request_id, log_index=0)
    with pytest.raises(HolderClientError, match="not in the transparency log"):
        world.check(world.holders[0], request_id)


def test_tampered_envelope_is_refused_by_the_holder_tool_and_the_server(world: World) -> None:
    request_id = world.cosigned_request()
    holder = world.holders[0]
    checked = world.check(holder, request_id)
    with get_components(world.app).session_factory() as session:
        scope = session.scalars(select(DisclosureScope)).one()
        envelope = json.loads(scope.envelope)
        envelope["outer"] = envelope["outer"][:-2] + ("AA" if not envelope["outer"].endswith("AA") else "BA")
        scope.envelope = canonical_json(envelope)
        session.commit()
    with pytest.raises(HolderClientError, match="no valid proof of its randomness"):
        world.check(holder, request_id)
    with pytest.raises(HolderClientError, match="does not match its digest"):
        approve(holder.client, holder.secrets, checked)
    # a whole new, well-formed envelope in its place is refused by the digest the officers signed
    with get_components(world.app).session_factory() as session:
        scope = session.scalars(select(DisclosureScope)).one()
        forged = seal(escrow_key(session, checked.body.key_id), b"{}", json.loads(scope.envelope)["context"])
        scope.envelope = forged.to_bytes()
        session.commit()
    with pytest.raises(HolderClientError, match="does not match the digest"):
        world.check(holder, request_id)


def test_holder_page_of_another_key_is_refused(world: World) -> None:
    with get_components(world.app).session_factory() as session:
        holder = session.get(KeyHolder, world.holders[0].id)
        assert holder is not None
    request_id = world.cosigned_request()
    assert world.check(world.holders[0], request_id).request_id == request_id


def test_monthly_cap_blocks_the_next_request_and_says_so_publicly(app: Flask) -> None:
    import dataclasses

    from escrow.httpkit import COMPONENTS_KEY

    extension = get_components(app)
    app.extensions[COMPONENTS_KEY] = dataclasses.replace(
        extension, settings=dataclasses.replace(extension.settings, disclosure_monthly_cap=1)
    )
    world = build_world(app)
    world.cosigned_request()
    request_id = world.draft().get_json()["id"]
    with pytest.raises(HolderClientError, match="monthly cap"):
        world.sign(request_id, "alice", "submit")
    assert "disclosure.blocked" in _kinds(world)
    policy = app.test_client().get("/api/v1/disclosures/policy").get_json()
    assert policy == {"monthly_cap": 1, "submitted_this_month": 1, "is_blocked": True}


def test_pages_and_json_need_a_legal_officer(world: World) -> None:
    anonymous = world.app.test_client()
    assert anonymous.get("/api/v1/disclosures").status_code == 401
    response = world.app.test_client().get("/api/v1/holder/disclosures")
    assert response.status_code == 401
    assert world.client("root").post("/api/v1/disclosures", headers=world.csrf("root")).status_code == 403


@pytest.mark.parametrize(
    "payload",
    [
        {"partials": [1.5], "signature": "AA"},
        {"partials": ["x"], "signature": b64u_encode(b"\x00" * 64)},
        {
            "partials": [{"holder": 1, "d1": "!", "d2": "!", "proof": "!"}],
            "signature": b64u_encode(b"\x00" * 64),
        },
        {"partials": [], "signature": b64u_encode(b"\x00" * 64)},
        {"partials": "nope", "signature": 5},
    ],
)
def test_malformed_approvals_are_422_problems_not_errors(world: World, payload: dict[str, object]) -> None:
    request_id = world.cosigned_request()
    with pytest.raises(HolderClientError, match=r"\(4\d\d\)"):
        world.holders[0].client.request("POST", f"/api/v1/holder/disclosures/{request_id}/approve", payload)


def test_unsigned_holder_requests_and_unknown_requests_are_refused(world: World) -> None:
    client = world.app.test_client()
    assert client.post("/api/v1/holder/disclosures/1/approve", json={}).status_code == 401
    assert client.post("/api/v1/disclosures/99/submit", json={"signature": "AA"}).status_code == 404
    assert client.post("/api/v1/disclosures/99/cosign", json={}).status_code == 422
    with pytest.raises(HolderClientError, match="404"):
        world.holders[0].client.request("GET", "/api/v1/holder/disclosures/99")


def test_listing_closes_expired_requests_and_clears_closed_windows(world: World) -> None:
    expired = world.cosigned_request()
    disclosed = world.cosigned_request()
    for h in world.holders[:3]:
        world.approve(h, disclosed)
    _update(world, expired, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    _update(world, disclosed, view_until=datetime.now(UTC) - timedelta(seconds=1))

    listed = world.client("alice").get("/api/v1/disclosures").get_json()

    assert {r["id"]: r["status"] for r in listed} == {expired: "expired", disclosed: "disclosed"}
    assert _row(world, disclosed).partials_deleted_at is not None
    assert "disclosure.window_closed" in _kinds(world)
