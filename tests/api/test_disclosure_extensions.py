"""Extending the notification delay and withdrawing a request, through the HTTP API and the officer tool
code (issue 6)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from escrow.client.disclosure import prepare_extension, reject
from escrow.client.holder import HolderClientError
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_WITHDRAW,
    sign_decision,
    sign_officer,
    withdrawal_body,
    withdrawal_digest,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.httpkit import get_components
from escrow.models import (
    DisclosureDecision,
    DisclosureExtension,
    DisclosureRequest,
    LogCommitmentOpening,
    LogEntry,
    OrderDocument,
)
from tests.disclosure_support import PDF, PERSON_NAME, World, backdate_reveal, build_world

NOTICE = "Your identity was disclosed"


@pytest.fixture
def world(app: Flask) -> World:
    return build_world(app)


def _update(world: World, request_id: int, **values: object) -> None:
    with get_components(world.app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        session.commit()


def _row(world: World, request_id: int) -> DisclosureRequest:
    with get_components(world.app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        session.expunge(row)
        return row


def _events(world: World) -> list[dict[str, Any]]:
    with get_components(world.app).session_factory() as session:
        return [json.loads(b) for b in session.scalars(select(LogEntry.body).order_by(LogEntry.idx))]


def _kinds(world: World) -> list[str]:
    return [e["kind"] for e in _events(world)]


def _disclosed(world: World, delay_days: int = 1) -> int:
    response = world.draft(notify_delay_days=str(delay_days))
    assert response.status_code == 201, response.get_json()
    request_id = int(response.get_json()["id"])
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    for holder in world.holders[:3]:
        world.approve(holder, request_id)
    assert _row(world, request_id).status == "disclosed"
    return request_id


def _sees_notice(world: World) -> bool:
    return NOTICE in world.person_client().get("/account/credentials").get_data(as_text=True)


def _post(world: World, path: str, payload: dict[str, Any]) -> Any:
    return world.app.test_client().post(path, json=payload)


# --- extension -----------------------------------------------------------------------------------


def test_cosigned_extension_moves_the_notification_date(world: World) -> None:
    # Given a request disclosed with a 1-day delay
    request_id = _disclosed(world, delay_days=1)
    # When alice (its submitter) proposes 30 days and dave (another organisation) co-signs
    proposed = world.extend(request_id, "alice", 30)
    assert proposed["extensions"][0]["status"] == "proposed"
    assert proposed["notify_delay_days"] == 1
    done = world.cosign_extension(request_id, 1, "dave")
    # Then the delay is 30 days from the reveal
    assert done["notify_delay_days"] == 30
    assert done["extensions"][0]["status"] == "effective"
    assert done["extensions"][0]["cosigners"] == ["dave"]
    disclosed_at = _row(world, request_id).disclosed_at
    assert disclosed_at is not None
    assert datetime.fromisoformat(done["notify_at"]) == disclosed_at + timedelta(days=30)
    # and after two days (the old date) the person is not told yet
    backdate_reveal(world.app, request_id, timedelta(days=2))
    assert not _sees_notice(world)
    assert "disclosure.user_notified" not in _kinds(world)
    # and after the new date they are, logged once
    backdate_reveal(world.app, request_id, timedelta(days=30, seconds=1))
    assert _sees_notice(world)
    assert _kinds(world).count("disclosure.user_notified") == 1
    # and every step is logged without the pseudonym or identity; the reason only as a commitment
    events = [e for e in _events(world) if e["kind"].startswith(("disclosure.extension", "disclosure.notif"))]
    assert [e["kind"] for e in events] == [
        "disclosure.extension_proposed",
        "disclosure.extension_cosigned",
        "disclosure.notification_extended",
    ]
    assert events[0]["data"]["new_delay_days"] == 30
    assert events[0]["data"]["old_delay_days"] == 1
    assert "reason" in events[0]["commitments"]
    assert events[2]["data"]["notify_delay_days"] == 30
    text = json.dumps(events)
    assert world.credential.pseudonym not in text
    assert PERSON_NAME not in text
    assert "investigation is ongoing" not in text


def test_extension_proposed_but_not_cosigned_changes_nothing(world: World) -> None:
    request_id = _disclosed(world, delay_days=1)
    world.extend(request_id, "alice", 30)
    backdate_reveal(world.app, request_id, timedelta(days=2))
    assert world.document(request_id)["notify_delay_days"] == 1
    assert _sees_notice(world)
    assert "disclosure.notification_extended" not in _kinds(world)


def test_extension_with_an_order_document_stores_it_by_sha256(world: World) -> None:
    request_id = _disclosed(world, delay_days=1)
    order = PDF + b"% extension order\n"
    result = world.extend(request_id, "bob", 60, order=order)
    body = result["extensions"][0]["body"]
    assert body["proposer"] == "bob"
    with get_components(world.app).session_factory() as session:
        stored = session.get(OrderDocument, body["order_sha256"])
        assert stored is not None
        assert stored.content == order


def test_proposer_cannot_cosign_own_extension(world: World) -> None:
    request_id = _disclosed(world)
    world.extend(request_id, "alice", 30)
    with pytest.raises(HolderClientError, match=r"\(403\).*proposer cannot co-sign"):
        world.cosign_extension(request_id, 1, "alice")


def test_cosigner_from_the_proposers_organisation_is_refused_by_default(world: World) -> None:
    request_id = _disclosed(world)
    world.extend(request_id, "alice", 30)
    with pytest.raises(HolderClientError, match=r"\(403\).*another organisation"):
        world.cosign_extension(request_id, 1, "carol")
    assert world.document(request_id)["notify_delay_days"] == 1


def test_extension_signature_replayed_on_another_request_is_refused(world: World) -> None:
    first, second = _disclosed(world), _disclosed(world)
    world.extend(first, "alice", 30)
    extension = world.document(first)["extensions"][0]
    signature = sign_officer(
        world.officers["alice"].signing_seed, ROLE_EXTEND, b64u_decode(extension["digest"])
    )
    payload = {
        k: extension["body"][k] for k in ("old_delay_days", "new_delay_days", "reason", "order_reference")
    }
    payload |= {"sequence": 1, "username": "alice", "signature": b64u_encode(signature)}
    # the same signed extension, posted for the second request
    response = _post(world, f"/api/v1/disclosures/{second}/extensions", payload)
    assert response.status_code == 403, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "extension digest" in response.get_json()["detail"]
    # and a co-signature of extension 1 of the first request is no co-signature for the second's
    world.extend(second, "alice", 30)
    cosign = sign_officer(
        world.officers["dave"].signing_seed, ROLE_EXTEND_COSIGN, b64u_decode(extension["digest"])
    )
    response = _post(
        world,
        f"/api/v1/disclosures/{second}/extensions/1/cosign",
        {"username": "dave", "signature": b64u_encode(cosign)},
    )
    assert response.status_code == 403
    assert world.document(second)["notify_delay_days"] == 1


def test_request_cosignature_submitted_as_extension_signature_is_refused(world: World) -> None:
    request_id = _disclosed(world)
    world.extend(request_id, "alice", 30)
    document = world.document(request_id)
    extension_digest_bytes = b64u_decode(document["extensions"][0]["digest"])
    seed = world.officers["dave"].signing_seed
    # a signature made to co-sign a request (over the request digest, or even over this extension's
    # digest) is refused as an extension co-signature: the role is part of what is signed
    for digest in (b64u_decode(document["digest"]), extension_digest_bytes):
        response = _post(
            world,
            f"/api/v1/disclosures/{request_id}/extensions/1/cosign",
            {"username": "dave", "signature": b64u_encode(sign_officer(seed, ROLE_COSIGN, digest))},
        )
        assert response.status_code == 403
    # and likewise as the proposer's own signature of a new extension
    body = document["extensions"][0]["body"]
    payload = {k: body[k] for k in ("old_delay_days", "new_delay_days", "reason", "order_reference")}
    payload |= {
        "sequence": 2,
        "username": "alice",
        "signature": b64u_encode(
            sign_officer(world.officers["alice"].signing_seed, ROLE_COSIGN, b64u_decode(document["digest"]))
        ),
    }
    assert _post(world, f"/api/v1/disclosures/{request_id}/extensions", payload).status_code == 403
    assert world.document(request_id)["notify_delay_days"] == 1


def test_extension_after_the_person_was_notified_is_refused(world: World) -> None:
    # Given a request disclosed with no delay, and the person has seen the notice
    request_id = _disclosed(world, delay_days=0)
    assert _sees_notice(world)
    # When an officer tries to extend the delay, it is refused: the person cannot be un-told
    response = _post(
        world, f"/api/v1/disclosures/{request_id}/extensions", _signed_extension(world, request_id)
    )
    assert response.status_code == 409
    assert "cannot be undone" in response.get_json()["detail"]
    assert "disclosure.extension_proposed" not in _kinds(world)


def test_extension_is_refused_once_the_date_passed_even_if_the_person_has_not_looked(world: World) -> None:
    request_id = _disclosed(world, delay_days=1)
    world.extend(request_id, "alice", 30)
    backdate_reveal(world.app, request_id, timedelta(days=1, seconds=1))
    # a pending extension cannot be completed after the old date either
    with pytest.raises(HolderClientError, match=r"\(409\).*notification date"):
        world.cosign_extension(request_id, 1, "dave")
    with pytest.raises(HolderClientError, match=r"\(409\).*notification date"):
        world.extend(request_id, "alice", 60)


def _signed_extension(
    world: World, request_id: int, username: str = "alice", days: int = 30
) -> dict[str, Any]:
    prepared = prepare_extension(
        world.document(request_id), username, new_delay_days=days, reason="ongoing", order_reference="X-1"
    )
    signature = sign_officer(world.officers[username].signing_seed, ROLE_EXTEND, prepared.digest)
    payload = {
        k: prepared.body[k]
        for k in ("sequence", "old_delay_days", "new_delay_days", "reason", "order_reference")
    }
    return payload | {"username": username, "signature": b64u_encode(signature)}


def test_officer_outside_the_request_cannot_extend(world: World) -> None:
    request_id = _disclosed(world)
    # dave neither submitted nor co-signed this request
    response = _post(
        world, f"/api/v1/disclosures/{request_id}/extensions", _signed_extension(world, request_id, "dave")
    )
    assert response.status_code == 403
    assert "officer of this request" in response.get_json()["detail"]


def test_extension_must_lengthen_the_delay_within_the_maximum(world: World) -> None:
    request_id = _disclosed(world, delay_days=1)
    for days in (1, 0, 3651):
        with pytest.raises(HolderClientError, match=r"\(422\).*longer than the current 1 day"):
            world.extend(request_id, "alice", days)


def test_stale_document_is_refused_as_a_conflict(world: World) -> None:
    request_id = _disclosed(world)
    stale = _signed_extension(world, request_id)
    world.extend(request_id, "alice", 30)
    response = _post(world, f"/api/v1/disclosures/{request_id}/extensions", stale)
    assert response.status_code == 409
    assert "download it again" in response.get_json()["detail"]


def test_first_effective_extension_supersedes_the_other_pending_one(world: World) -> None:
    request_id = _disclosed(world)
    world.extend(request_id, "alice", 30)
    world.extend(request_id, "bob", 40)
    world.cosign_extension(request_id, 2, "carol")  # carol (Forum Legal) for bob (Escrow Counsel)
    with pytest.raises(HolderClientError, match=r"\(409\).*superseded"):
        world.cosign_extension(request_id, 1, "dave")
    assert world.document(request_id)["notify_delay_days"] == 40


def test_extension_of_a_request_not_yet_disclosed_applies_at_the_reveal(world: World) -> None:
    response = world.draft(notify_delay_days="1")
    request_id = int(response.get_json()["id"])
    world.sign(request_id, "alice", "submit")
    world.extend(request_id, "alice", 20)  # only the submitter is an officer of it so far
    world.sign(request_id, "bob", "cosign")
    world.cosign_extension(request_id, 1, "bob")
    for holder in world.holders[:3]:
        world.approve(holder, request_id)
    backdate_reveal(world.app, request_id, timedelta(days=2))
    assert not _sees_notice(world)


def test_draft_cannot_be_extended(world: World) -> None:
    request_id = int(world.draft().get_json()["id"])
    response = _post(
        world, f"/api/v1/disclosures/{request_id}/extensions", _signed_extension(world, request_id)
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": "alice"},
        {
            "username": "alice",
            "reason": "r",
            "order_reference": "o",
            "signature": "AA",
            "new_delay_days": "30",
        },
        {
            "username": "alice",
            "reason": "r",
            "order_reference": "o",
            "signature": "AA",
            "new_delay_days": 30.5,
        },
        {"username": 5, "reason": "r", "order_reference": "o", "signature": "AA"},
        {"username": "alice", "reason": "", "order_reference": "o", "signature": "AA", "new_delay_days": 30},
        {
            "username": "alice",
            "reason": "r",
            "order_reference": "o",
            "signature": "AA",
            "new_delay_days": 30,
            "order": "!!",
        },
        {
            "username": "alice",
            "reason": "r",
            "order_reference": "o",
            "signature": "AA",
            "new_delay_days": 30,
            "sequence": 1,
            "old_delay_days": 1,
            "order": b64u_encode(b"<html>"),
        },
        {
            "username": "nobody",
            "reason": "r",
            "order_reference": "o",
            "signature": "AA",
            "new_delay_days": 30,
        },
    ],
)
def test_malformed_extensions_are_4xx_problems(world: World, payload: dict[str, Any]) -> None:
    request_id = _disclosed(world)
    response = _post(world, f"/api/v1/disclosures/{request_id}/extensions", payload)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    for path, body in (
        (f"/api/v1/disclosures/{request_id}/extensions/1/cosign", payload),
        (f"/api/v1/disclosures/{request_id}/extensions/9/cosign", {"username": "dave", "signature": "AA"}),
        ("/api/v1/disclosures/999/extensions", payload),
        (f"/api/v1/disclosures/{request_id}/withdraw", payload),
    ):
        response = _post(world, path, body)
        assert 400 <= response.status_code < 500, (path, response.get_data(as_text=True))
    assert (
        world.app.test_client().post(f"/api/v1/disclosures/{request_id}/extensions", data="x").status_code
        == 422
    )


# --- withdrawal ----------------------------------------------------------------------------------


def test_withdrawn_request_refuses_everything_and_its_partials_are_deleted(world: World) -> None:
    # Given a co-signed request with one approval
    request_id = world.cosigned_request()
    world.approve(world.holders[0], request_id)
    # When bob (the co-signer) withdraws it with his officer key
    result = world.withdraw(request_id, "bob")
    # Then it is withdrawn, its stored partial decryptions are gone and the step is logged
    assert result["status"] == "withdrawn"
    assert result["withdrawn_by"] == "bob"
    row = _row(world, request_id)
    assert row.partials_deleted_at is not None
    assert row.closed_at is not None
    with get_components(world.app).session_factory() as session:
        decisions = session.scalars(
            select(DisclosureDecision).where(DisclosureDecision.request_id == request_id)
        )
        assert all(d.partials is None for d in decisions)
    withdrawn = [e for e in _events(world) if e["kind"] == "disclosure.withdrawn"]
    assert withdrawn[0]["data"] == {
        "request": request_id,
        "was": "cosigned",
        "by": "co-signer",
        "organisation": "Escrow Counsel",
    }
    assert "reason" in withdrawn[0]["commitments"]
    # and no approval, rejection or co-signature is accepted any more (409)
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.approve(world.holders[1], request_id)
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        reject(
            world.holders[2].client, world.holders[2].secrets, world.check(world.holders[2], request_id), "no"
        )
    signature = sign_decision(world.holders[3].secrets.signing_seed, row.digest, "reject", b"no")
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.holders[3].client.request(
            "POST",
            f"/api/v1/holder/disclosures/{request_id}/reject",
            {"reason": "no", "signature": b64u_encode(signature)},
        )
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.sign(request_id, "dave", "cosign")
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.withdraw(request_id, "alice")
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.extend(request_id, "alice", 30)
    # and key-holders no longer see it in their list; the public page says it was withdrawn
    assert world.holders[4].client.request("GET", "/api/v1/holder/disclosures") == []
    page = world.app.test_client().get(f"/keyholder/disclosures/{request_id}").get_data(as_text=True)
    assert "withdrawn" in page
    assert "escrow keyholder approve" not in page


def test_submitted_request_withdrawn_cannot_be_cosigned(world: World) -> None:
    request_id = int(world.draft().get_json()["id"])
    world.sign(request_id, "alice", "submit")
    assert world.withdraw(request_id, "alice")["status"] == "withdrawn"
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.sign(request_id, "bob", "cosign")
    event = [e for e in _events(world) if e["kind"] == "disclosure.withdrawn"][0]
    assert event["data"]["by"] == "submitter"


def test_withdrawn_draft_cannot_be_submitted(world: World) -> None:
    request_id = int(world.draft().get_json()["id"])
    world.withdraw(request_id, "alice")
    with pytest.raises(HolderClientError, match=r"\(409\).*withdrawn"):
        world.sign(request_id, "alice", "submit")


def test_withdrawal_after_disclosure_is_refused(world: World) -> None:
    request_id = _disclosed(world)
    with pytest.raises(HolderClientError, match=r"\(409\).*disclosed"):
        world.withdraw(request_id, "alice")
    assert _row(world, request_id).status == "disclosed"


def test_officer_outside_the_request_cannot_withdraw(world: World) -> None:
    request_id = world.cosigned_request()
    with pytest.raises(HolderClientError, match=r"\(403\).*officer of this request"):
        world.withdraw(request_id, "dave")
    assert _row(world, request_id).status == "cosigned"


def test_withdrawal_signature_is_bound_to_the_request_and_role(world: World) -> None:
    first, second = world.cosigned_request(), world.cosigned_request()
    seed = world.officers["alice"].signing_seed
    digest = _row(world, first).digest
    body = withdrawal_body(request_id=first, request_digest=digest, officer="alice", reason="set aside")
    signature = sign_officer(seed, ROLE_WITHDRAW, withdrawal_digest(body))
    payload = {"username": "alice", "reason": "set aside", "signature": b64u_encode(signature)}
    # replayed on another request
    assert _post(world, f"/api/v1/disclosures/{second}/withdraw", payload).status_code == 403
    # the submission signature offered as a withdrawal
    submit = b64u_encode(_row(world, first).submit_signature or b"")
    assert (
        _post(world, f"/api/v1/disclosures/{first}/withdraw", {**payload, "signature": submit}).status_code
        == 403
    )
    # a different reason than the one signed
    assert (
        _post(world, f"/api/v1/disclosures/{first}/withdraw", {**payload, "reason": "other"}).status_code
        == 403
    )
    assert {_row(world, first).status, _row(world, second).status} == {"cosigned"}
    assert _post(world, f"/api/v1/disclosures/{first}/withdraw", payload).status_code == 200


def test_reason_of_a_withdrawal_is_kept_for_auditors_only(world: World) -> None:
    request_id = world.cosigned_request()
    world.withdraw(request_id, "alice", reason="order set aside on appeal")
    assert "order set aside on appeal" not in json.dumps(_events(world))
    with get_components(world.app).session_factory() as session:
        assert session.scalars(select(LogCommitmentOpening)).first() is not None
        assert session.scalars(select(DisclosureExtension)).first() is None


def test_public_report_counts_withdrawals_and_extensions(world: World) -> None:
    withdrawn = world.cosigned_request()
    world.withdraw(withdrawn, "alice")
    extended = _disclosed(world)
    world.extend(extended, "alice", 30)
    world.cosign_extension(extended, 1, "dave")
    counts = world.app.test_client().get("/api/v1/transparency/report").get_json()["counts"]
    assert sum(counts["requests_withdrawn"].values()) == 1
    assert sum(counts["notification_delays_extended"].values()) == 1
