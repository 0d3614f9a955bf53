"""Court orders for real (issue 16 item 4): a court that signs its orders opens nothing without its
signature; `escrow court sign` makes that signature; officers and holders can open the stored order.

Driven through the real CLI, the HTTP API and pages (a live loopback server where the holder's tool runs).
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from click.testing import CliRunner
from flask import Flask

from escrow.cli.main import cli
from escrow.crypto.disclosure import court_verdict, public_key, request_digest
from escrow.crypto.holderfile import encrypt_holder_file
from escrow.crypto.transcript import b64u_decode, canonical_json
from escrow.httpkit import get_components
from escrow.keystore import write_secret_file
from escrow.models import DisclosureRequest, OrderDocument
from escrow.protocol.signed_request import request_target, sign_holder_request, split_target
from tests.conftest import csrf_token_from
from tests.disclosure_support import PDF, World, build_world

PASSPHRASE = "correct horse battery staple"
CSP = "default-src 'none'; sandbox"


def _court_sign(order: Path, key: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["court", "sign", str(order), "--key", str(key), *extra])


def test_escrow_court_sign_makes_the_signature_the_service_verifies(app: Flask, tmp_path: Path) -> None:
    # Given the court's seed file (as keys/dev-court.seed is written) and its order as a file
    world = build_world(app)
    key = tmp_path / "court.seed"
    write_secret_file(key, world.court_seed)
    order = tmp_path / "order.pdf"
    order.write_bytes(PDF)
    # When the court signs it with the command (no server, no database)
    result = _court_sign(order, key)
    # Then the signature file verifies with the court's key, and the service records it as verified
    assert result.exit_code == 0, result.output
    signature = (tmp_path / "order.pdf.sig").read_text().strip()
    assert court_verdict(public_key(world.court_seed), PDF, b64u_decode(signature)) == "verified"
    draft = world.draft(court_signature=signature)
    assert draft.status_code == 201, draft.get_json()
    assert draft.get_json()["body"]["court_signature"] == "verified"
    # and it never overwrites a signature file, and refuses a key file that is no seed
    assert _court_sign(order, key).exit_code == 1
    write_secret_file(tmp_path / "bad.seed", b"short")
    bad = _court_sign(order, tmp_path / "bad.seed", "--out", str(tmp_path / "x.sig"))
    assert bad.exit_code == 1
    assert "not a 32-byte Ed25519 seed" in bad.output


def test_draft_form_keeps_its_input_when_an_unsigned_order_is_refused(app: Flask) -> None:
    # Given alice on the new-request page of a court that signs its orders
    world = build_world(app)
    alice = world.client("alice")
    page = alice.get("/officer/disclosures/new").get_data(as_text=True)
    c = world.credential
    # When she drafts with no court signature
    response = alice.post(
        "/officer/disclosures",
        data={
            "csrf_token": csrf_token_from(page),
            "court_id": str(world.court_id),
            "case_number": "2026/KEEP/7",
            "legal_basis": "art. 7 kept",
            "scope": f"{c.platform_id} {c.pseudonym} {c.envelope_digest}\n",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "notify_delay_days": "5",
            "order": (io.BytesIO(PDF), "order.pdf"),
        },
        content_type="multipart/form-data",
    )
    # Then the form comes back (422) naming the court, with what she typed
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "District Court of Example (EX) signs its orders" in html
    assert 'value="2026/KEEP/7"' in html
    assert "art. 7 kept</textarea>" in html
    assert c.pseudonym in html
    assert "2026/KEEP/7" not in alice.get("/officer/disclosures").get_data(as_text=True)


def _assert_attachment(response: Any) -> None:
    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CSP


def test_order_is_opened_by_readers_only_as_a_sandboxed_attachment(app: Flask) -> None:
    # Given a submitted request awaiting its co-signature
    world = build_world(app)
    request_id = int(world.draft().get_json()["id"])
    world.sign(request_id, "alice", "submit")
    # Then its submitter opens the order from the API, her page and the link in request.json
    alice = world.client("alice")
    _assert_attachment(alice.get(f"/api/v1/disclosures/{request_id}/order"))
    _assert_attachment(alice.get(f"/officer/disclosures/{request_id}/order.pdf"))
    assert f"/officer/disclosures/{request_id}/order.pdf" in alice.get(
        f"/officer/disclosures/{request_id}"
    ).get_data(as_text=True)
    document = alice.get(f"/officer/disclosures/{request_id}/request.json").get_json()
    assert document["order_url"].endswith(f"/api/v1/disclosures/{request_id}/order")
    # and so does an officer who may co-sign it now (they must read what they sign)
    _assert_attachment(world.client("bob").get(f"/api/v1/disclosures/{request_id}/order"))
    # but the submitter's colleague, and the administrator, get a 404 as for no such request
    for username in ("carol", "root"):
        for path in (
            f"/api/v1/disclosures/{request_id}/order",
            f"/officer/disclosures/{request_id}/order.pdf",
        ):
            assert world.client(username).get(path).status_code == 404, (username, path)


@pytest.fixture
def holder_file(tmp_path: Path) -> Any:
    def write(world: World, index: int = 0) -> Path:
        path = tmp_path / f"holder-{index + 1}.escrow"
        path.write_bytes(
            encrypt_holder_file(
                world.holders[index].secrets,
                PASSPHRASE,
                opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
                memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
            )
        )
        path.chmod(0o600)
        (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
        return path

    return write


def _keyholder(command: str, url: str, holder_file: Path, *extra: str) -> Any:
    args = ["--server", url, "--holder-file", str(holder_file)]
    args += ["--passphrase-file", str(holder_file.parent / "passphrase")]
    return CliRunner().invoke(cli, ["keyholder", command, *extra, *args])


def test_holder_fetches_the_order_checked_against_the_signed_request(
    live_server: tuple[str, Flask], holder_file: Any, tmp_path: Path
) -> None:
    url, app = live_server
    world = build_world(app)
    request_id = world.cosigned_request()
    path = holder_file(world)
    out = tmp_path / "order-from-holder.pdf"
    result = _keyholder("order", url, path, str(request_id), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PDF
    assert "as in the request the officers signed" in result.output
    # A swapped order is refused, and nothing is written
    with get_components(app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        document = session.get(OrderDocument, row.order_sha256)
        assert document is not None
        document.content = PDF + b"% another order\n"
        session.commit()
    swapped = tmp_path / "swapped.pdf"
    result = _keyholder("order", url, path, str(request_id), "--out", str(swapped))
    assert result.exit_code == 1
    assert "a swapped order" in result.output
    assert not swapped.exists()


def test_unsigned_order_of_a_signing_court_is_refused_by_the_holder_tool(
    live_server: tuple[str, Flask], holder_file: Any
) -> None:
    # Given a compromised server that drops the court's signature and records the body as "unsigned"
    # (the digest recomputed before the officers sign; the verdict column kept so its own check passes)
    url, app = live_server
    world = build_world(app)
    request_id = int(world.draft().get_json()["id"])
    with get_components(app).session_factory() as session:
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        body = json.loads(row.body)
        body["court_signature"] = "unsigned"
        row.body, row.digest, row.court_signature = canonical_json(body).decode(), request_digest(body), None
        session.commit()
    world.sign(request_id, "alice", "submit")
    world.sign(request_id, "bob", "cosign")
    # When a holder runs the real tool
    result = _keyholder("approve", url, holder_file(world), str(request_id), "--yes")
    # Then it refuses, naming the court that signs its orders
    assert result.exit_code == 1, result.output
    assert "court 'District Court of Example' (EX) signs its orders" in result.output


def _holder_get(world: World, index: int, path: str) -> Any:
    authorization = sign_holder_request(
        world.holders[index].secrets.signing_seed,
        method="GET",
        target=request_target(*split_target(path)),
        timestamp_ms=int(datetime.now(UTC).timestamp() * 1000),
        body=b"",
    )
    return world.app.test_client().get(path, headers={"Authorization": authorization.to_header()})


def test_holder_order_endpoint_serves_the_order_to_holders_of_its_key(app: Flask) -> None:
    world = build_world(app)
    request_id = world.cosigned_request()
    package = _holder_get(world, 0, f"/api/v1/holder/disclosures/{request_id}").get_json()
    assert package["order_url"] == f"/api/v1/holder/disclosures/{request_id}/order"
    _assert_attachment(_holder_get(world, 1, package["order_url"]))
    # A draft is its author's alone: no holder opens its order
    draft_id = int(world.draft().get_json()["id"])
    assert _holder_get(world, 2, f"/api/v1/holder/disclosures/{draft_id}/order").status_code == 404
