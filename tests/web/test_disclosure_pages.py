"""Disclosure pages (issue 6): officers draft and follow requests; holders see details and the command."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from flask import Flask

from escrow.client.disclosure import officer_summary
from escrow.crypto.disclosure import sign_court_order
from escrow.crypto.transcript import b64u_encode
from tests.conftest import csrf_token_from
from tests.disclosure_support import PDF, PERSON_NAME, build_world


def test_officer_drafts_through_the_form_and_the_holder_page_shows_the_command(app: Flask) -> None:
    # Given a world and alice on the new-request page
    world = build_world(app)
    alice = world.client("alice")
    form_page = alice.get("/officer/disclosures/new").get_data(as_text=True)
    assert "District Court of Example" in form_page
    c = world.credential
    # When she drafts a request with the form
    response = alice.post(
        "/officer/disclosures",
        data={
            "csrf_token": csrf_token_from(form_page),
            "court_id": str(world.court_id),
            "case_number": "2026/WEB/1",
            "legal_basis": "art. 1",
            "scope": f"{c.platform_id} {c.pseudonym} {c.envelope_digest}\n",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "notify_delay_days": "0",
            "court_signature": b64u_encode(sign_court_order(world.court_seed, PDF)),
            "order": (io.BytesIO(PDF), "order.pdf"),
        },
        content_type="multipart/form-data",
    )
    # Then she lands on the detail page with the command and a signable request file
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    draft_id = int(location.rstrip("/").rsplit("/", 1)[1])
    detail = alice.get(location).get_data(as_text=True)
    assert f"escrow officer submit request-{draft_id}.json" in detail
    document = alice.get(f"/officer/disclosures/{draft_id}/request.json").get_json()
    request_id, _, lines = officer_summary(document)
    assert request_id == draft_id
    assert any("2026/WEB/1" in line for line in lines)
    assert "2026/WEB/1" in alice.get("/officer/disclosures").get_data(as_text=True)
    # and once submitted, holders see the public details and the command, never the pseudonym
    assert world.app.test_client().get(f"/keyholder/disclosures/{draft_id}").status_code == 404
    world.sign(draft_id, "alice", "submit")
    holder_page = world.app.test_client().get(f"/keyholder/disclosures/{draft_id}").get_data(as_text=True)
    assert f"escrow keyholder approve {draft_id}" in holder_page
    assert "What your tool checks" in holder_page
    assert "officer.key_registered" in holder_page
    assert c.pseudonym not in holder_page
    assert "share" in holder_page
    assert "passphrase" in holder_page
    assert 'type="password"' not in holder_page


def test_request_page_shows_each_officer_only_the_command_they_can_run(app: Flask) -> None:
    # Given alice's draft
    world = build_world(app)
    draft = world.draft()
    assert draft.status_code == 201, draft.get_json()
    request_id = int(draft.get_json()["id"])
    path = f"/officer/disclosures/{request_id}"

    def page(username: str) -> str:
        return world.client(username).get(path).get_data(as_text=True)

    # Then only alice is told to submit it
    assert f"escrow officer submit request-{request_id}.json" in page("alice")
    # (bob may not even read it: a draft is its author's alone, issue 16)
    assert world.client("bob").get(path).status_code == 404
    # and once submitted, bob is told to co-sign, alice that she waits for him
    world.sign(request_id, "alice", "submit")
    assert f"escrow officer cosign request-{request_id}.json" in page("bob")
    assert "escrow officer cosign " not in page("alice")
    assert "escrow officer submit" not in page("alice")
    assert f"escrow officer withdraw request-{request_id}.json" in page("alice")  # hers to withdraw
    assert "Waiting for another legal officer to co-sign" in page("alice")
    # and an administrator, who signs nothing and is named on nothing, cannot read it (issue 16)
    assert world.client("root").get(path).status_code == 404
    # and once co-signed, nobody has a signing command left (only extend and withdraw); the page
    # links the key-holders' page
    world.sign(request_id, "bob", "cosign")
    for username in ("alice", "bob"):
        assert "escrow officer submit" not in page(username)
        assert "escrow officer cosign " not in page(username)
        assert f'href="/keyholder/disclosures/{request_id}"' in page(username)


def test_identity_page_says_how_to_open_it_in_the_officer_tool_and_shows_no_identity(app: Flask) -> None:
    world = build_world(app)
    request_id = world.cosigned_request()
    for h in world.holders[:3]:
        world.approve(h, request_id)

    page = world.client("alice").get(f"/officer/disclosures/{request_id}/identity")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert PERSON_NAME not in text  # the server cannot read it (issue 14)
    assert f"escrow officer reveal request-{request_id}.json" in text
    assert page.headers["Cache-Control"] == "no-store"
    assert world.client("dave").get(f"/officer/disclosures/{request_id}/identity").status_code == 404
    assert app.test_client().get(f"/officer/disclosures/{request_id}/identity").status_code == 302


def test_admin_registers_a_court_and_an_officer_registers_their_key_on_pages(app: Flask) -> None:
    from escrow.crypto.disclosure import new_officer_secrets
    from escrow.crypto.transcript import b64u_encode

    world = build_world(app)
    root = world.client("root")
    page = root.get("/admin/courts").get_data(as_text=True)
    assert "District Court of Example" in page
    added = root.post(
        "/admin/courts",
        data={"csrf_token": csrf_token_from(page), "name": "Court of Appeal", "jurisdiction": "EX"},
    )
    assert added.status_code == 302
    assert "Court of Appeal" in root.get("/admin/courts").get_data(as_text=True)
    assert world.client("alice").get("/admin/courts").status_code == 403

    carol = world.client("carol")
    key_page = carol.get("/officer/key").get_data(as_text=True)
    secrets = new_officer_secrets("carol")
    done = carol.post(
        "/officer/key",
        data={"csrf_token": csrf_token_from(key_page), "public_key": b64u_encode(secrets.public_key)},
    )
    assert done.status_code == 201
    assert "Fingerprint" in done.get_data(as_text=True)
    refused = carol.post(
        "/officer/key",
        data={
            "csrf_token": csrf_token_from(key_page),
            "public_key": b64u_encode(secrets.public_key),
            "username": "alice",
        },
    )
    assert refused.status_code == 403


def test_officer_page_shows_a_pending_extension_with_the_cosign_command(app: Flask) -> None:
    world = build_world(app)
    request_id = world.cosigned_request()
    world.extend(request_id, "alice", 30)
    page = world.client("dave").get(f"/officer/disclosures/{request_id}").get_data(as_text=True)
    assert "proposed" in page
    assert "0 &rarr; 30 day(s)" in page
    assert f"escrow officer cosign-extension request-{request_id}.json --extension 1" in page
    # dave is no officer of this request: he may co-sign the extension but is not offered extend/withdraw
    assert "escrow officer extend " not in page
    assert "escrow officer withdraw" not in page
    document = world.client("dave").get(f"/officer/disclosures/{request_id}/request.json").get_json()
    assert document["extensions"][0]["status"] == "proposed"


def test_request_page_offers_no_command_the_policy_would_refuse(app: Flask) -> None:
    # Given alice's submitted request (Forum Legal)
    world = build_world(app)
    draft = world.draft()
    assert draft.status_code == 201, draft.get_json()
    request_id = int(draft.get_json()["id"])
    world.sign(request_id, "alice", "submit")
    path = f"/officer/disclosures/{request_id}"

    def page(username: str) -> str:
        return world.client(username).get(path).get_data(as_text=True)

    # Then carol, of alice's organisation, whom the policy refuses as a co-signer, cannot read it (issue 16)
    assert world.client("carol").get(path).status_code == 404
    assert "escrow officer cosign " not in page("carol")
    # and once co-signed with an extension alice proposed, alice is not offered to co-sign her own
    world.sign(request_id, "bob", "cosign")
    world.extend(request_id, "alice", 30)
    assert "escrow officer cosign-extension" not in page("alice")
    assert "escrow officer cosign-extension" not in page("carol")
    assert f"escrow officer cosign-extension request-{request_id}.json --extension 1" in page("dave")
