"""The roster the key-holders sign, through the real CLI and HTTP (issue 16): an administrator proposes a
new version, holders review and sign it with `escrow keyholder roster`, it comes into force at t
signatures, the holder tool follows the chain from its pin and refuses a rollback, and the service
lets only organisations the roster allows co-sign read a request awaiting co-signature."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from click.testing import CliRunner
from flask import Flask

from escrow.cli.main import cli
from escrow.client.disclosure.officers import certify_officer
from escrow.client.disclosure.roster import fetch_version, sign_version
from escrow.client.disclosure.shared import answer_json
from escrow.client.holder import HolderClientError
from escrow.crypto.disclosure import new_officer_secrets, public_key
from escrow.crypto.holderfile import encrypt_holder_file
from escrow.crypto.transcript import b64u_encode
from escrow.httpkit import get_components
from escrow.models import RosterVersion
from tests.conftest import csrf_token_from
from tests.disclosure_support import World, build_world

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def world_url(live_server: tuple[str, Flask]) -> tuple[World, str]:
    url, app = live_server
    return build_world(app), url


def _holder_file(world: World, index: int, directory: Path) -> Path:
    path = directory / f"holder-{index + 1}.escrow"
    path.write_bytes(
        encrypt_holder_file(
            world.holders[index].secrets,
            PASSPHRASE,
            opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        )
    )
    path.chmod(0o600)
    (directory / "passphrase").write_text(PASSPHRASE + "\n")
    return path


def _keyholder(url: str, holder_file: Path, *command: str, passphrase: bool = True) -> Any:
    args = ["--server", url, "--holder-file", str(holder_file)]
    if passphrase:
        args += ["--passphrase-file", str(holder_file.parent / "passphrase")]
    return CliRunner().invoke(cli, ["keyholder", *command, *args])


def _propose_without_police_cosigning(world: World) -> Any:
    roster = world.roster()
    organisations = [{**o.to_dict(), "may_cosign": o.name != "Police Agency"} for o in roster.organisations]
    return world.client("root").post(
        "/api/v1/admin/roster",
        json={"courts": [c.to_dict() for c in roster.courts], "organisations": organisations},
        headers=world.csrf("root"),
    )


def test_holders_review_and_sign_a_new_roster_version_and_the_tool_follows_the_chain(
    world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, url = world_url
    files = [_holder_file(world, i, tmp_path) for i in range(3)]
    # Given holder 1 pinned roster version 1 on an honest request
    first = _keyholder(url, files[0], "approve", str(world.cosigned_request()), "--yes")
    assert first.exit_code == 0, first.output
    assert "roster version 1 pinned" in first.output
    # When an administrator proposes version 2, in which the Police Agency may no longer co-sign
    proposed = _propose_without_police_cosigning(world)
    assert proposed.status_code == 201, proposed.get_json()
    assert proposed.get_json()["status"] == "proposed"
    assert _propose_without_police_cosigning(world).status_code == 409  # one proposal at a time
    # Then holder 1 reviews it in full, with what changed since their pin
    review = _keyholder(url, files[0], "roster", "review", passphrase=False)
    assert review.exit_code == 0, review.output
    assert "roster version 2" in review.output
    assert "threshold 3 of 5 key-holders" in review.output
    assert "organisation Police Agency: certifies officers with key" in review.output
    assert "may submit\n" in review.output or "may submit " in review.output
    assert 'REMOVED {"organisation": {"may_cosign": true' in review.output
    # and it comes into force only at the third signature
    for i, path in enumerate(files):
        signed = _keyholder(url, path, "roster", "sign", "2", "--yes")
        assert signed.exit_code == 0, signed.output
        assert f"it is {'active' if i == 2 else 'proposed'}" in signed.output
    again = _keyholder(url, files[0], "roster", "sign", "2", "--yes")
    assert again.exit_code == 1
    assert "signed this roster version already" in again.output
    # and holder 1's tool follows the chain from its pin to version 2, then pins it
    result = _keyholder(url, files[0], "approve", str(world.cosigned_request()), "--yes")
    assert result.exit_code == 0, result.output
    assert "from your pinned version 1" in result.output
    assert "roster version 2 pinned" in result.output

    # When the server's database is rolled back to version 1
    with get_components(world.app).session_factory() as session:
        for version, status in ((1, "active"), (2, "superseded")):
            row = session.get(RosterVersion, version)
            assert row is not None
            row.status = status
        session.commit()
    # Then the holder who pinned version 2 refuses it
    request_id = world.cosigned_request()
    refused = _keyholder(url, files[0], "approve", str(request_id), "--yes")
    assert refused.exit_code == 1, refused.output
    assert "older than version 2 you pinned (a rollback)" in refused.output


def test_only_organisations_the_roster_lets_cosign_read_and_cosign_a_request_awaiting_it(
    world_url: tuple[World, str],
) -> None:
    world, _ = world_url
    # Given a roster version in force in which the Police Agency may not co-sign
    assert _propose_without_police_cosigning(world).status_code == 201
    for holder in world.holders[:3]:
        roster = fetch_version(lambda p: answer_json(world.fetch(p), p), 2)
        sign_version(holder.client, holder.secrets, roster, None)
    assert world.roster().version == 2
    # and a request submitted by alice, awaiting its co-signature
    request_id = int(world.draft().get_json()["id"])
    world.sign(request_id, "alice", "submit")
    # Then bob (may co-sign) reads it, dave (Police Agency) gets a 404 and cannot co-sign it
    assert world.client("bob").get(f"/api/v1/disclosures/{request_id}").status_code == 200
    assert world.client("dave").get(f"/api/v1/disclosures/{request_id}").status_code == 404
    assert world.client("dave").get(f"/api/v1/disclosures/{request_id}/order").status_code == 404
    with pytest.raises(HolderClientError, match="does not let officers of Police Agency co-sign"):
        world.sign(request_id, "dave", "cosign")


def test_escrow_org_keygen_and_certify(tmp_path: Path) -> None:
    key = tmp_path / "org.seed"
    made = CliRunner().invoke(cli, ["org", "keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "public key (for the roster): " in made.output
    assert CliRunner().invoke(cli, ["org", "keygen", "--out", str(key)]).exit_code == 1
    officer = b64u_encode(public_key(bytes(32)))
    out = tmp_path / "cert.json"
    certified = CliRunner().invoke(
        cli,
        ["org", "certify", "--key", str(key), "--organisation", "Legal", "--username", "alice"]
        + ["--officer-key", officer, "--days", "30", "--out", str(out)],
    )
    assert certified.exit_code == 0, certified.output
    assert '"username": "alice"' in out.read_text()
    bad = CliRunner().invoke(
        cli,
        ["org", "certify", "--key", str(key), "--organisation", "Legal", "--username", "alice"]
        + ["--officer-key", "not-a-key", "--out", str(tmp_path / "bad.json")],
    )
    assert bad.exit_code == 1
    assert "officer_key must be the base64url" in bad.output
    assert "Traceback" not in bad.output


def test_officer_records_a_certificate_on_the_key_page(app: Flask) -> None:
    world = build_world(app)
    carol = world.client("carol")
    page = carol.get("/officer/key").get_data(as_text=True)
    assert "Record certificate" in page
    fresh = new_officer_secrets("carol")
    now = datetime.now(UTC)

    def post(seed: bytes) -> Any:
        record = certify_officer(
            seed,
            username="carol",
            organisation="Forum Legal",
            officer_key_b64=b64u_encode(fresh.public_key),
            not_before=now - timedelta(minutes=1),
            not_after=now + timedelta(days=1),
        )
        return carol.post(
            "/officer/key/certificate",
            data={"csrf_token": csrf_token_from(page), "certificate": json.dumps(record)},
        )

    # A certificate by a key that is not the organisation's on the roster is refused, with a page
    refused = post(os.urandom(32))
    assert refused.status_code == 422
    assert "not signed by the key the roster lists" in refused.get_data(as_text=True)
    # The organisation's own certificate records the key
    recorded = post(world.org_seeds["Forum Legal"])
    assert recorded.status_code == 201
    assert b64u_encode(fresh.public_key) in carol.get("/officer/key").get_data(as_text=True)


def test_roster_signatures_are_refused_unless_a_listed_holders_own_over_the_digest(app: Flask) -> None:
    world = build_world(app)
    holder = world.holders[0]
    # A flipped signature (or someone else's) is not this holder's over the version's digest
    with pytest.raises(HolderClientError, match="403.*not yours over this roster version"):
        holder.client.request("POST", "/api/v1/holder/roster/1/sign", {"signature": b64u_encode(bytes(64))})
    # A version that does not exist, and one already signed, are refused by name
    with pytest.raises(HolderClientError, match="404"):
        holder.client.request("POST", "/api/v1/holder/roster/9/sign", {"signature": b64u_encode(bytes(64))})
    roster = world.roster()
    with pytest.raises(HolderClientError, match="already"):
        sign_version(holder.client, holder.secrets, roster, None)
    # and the public documents carry every holder's signature, which anyone can count
    document = json.loads(world.fetch("/api/v1/roster"))
    assert document["status"] == "active"
    assert len(document["signatures"]) == len(world.holders)
    # A proposal chains to the version in force
    assert _propose_without_police_cosigning(world).status_code == 201
    latest = json.loads(world.fetch("/api/v1/roster/latest"))
    assert latest["status"] == "proposed"
    assert latest["roster"]["previous"] == document["digest"]
