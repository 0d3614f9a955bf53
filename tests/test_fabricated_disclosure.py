"""The fabricated disclosure (issue 16, finding 1), replayed as the attack was, and now refused.

Whoever holds the server (its admin account, its database, keys/) registers keys of their own for two
real officers and a court through the admin paths, submits and co-signs an order in their names, puts
the real keys back, and asks the key-holders to approve. Then, going further, writes officer
certificates and a whole roster version of its own into the database. The real `escrow keyholder`
commands over HTTP refuse each, because officer and court keys are checked against the roster the
holders signed, with the holders' signatures checked on the holder's machine.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.pwhash
import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from escrow.cli.main import cli
from escrow.client.disclosure import officer_sign, officer_submit, officer_summary
from escrow.client.disclosure.officers import certify_officer
from escrow.client.holder import UrllibTransport
from escrow.crypto.disclosure import new_officer_secrets, public_key, sign_court_order, sign_roster
from escrow.crypto.holderfile import encrypt_holder_file
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.httpkit import get_components
from escrow.models import (
    Court,
    KeyHolder,
    OfficerCertificateRecord,
    RosterSignature,
    RosterVersion,
    StaffAccount,
)
from escrow.protocol.roster import Roster, RosterOrganisation
from tests.disclosure_support import OFFICER_ORGS, PDF, World, build_world

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def world_url(live_server: tuple[str, Flask]) -> tuple[World, str]:
    url, app = live_server
    return build_world(app), url


@pytest.fixture
def holder_file(tmp_path: Path, world_url: tuple[World, str]) -> Path:
    world, _ = world_url
    path = tmp_path / "holder-1.escrow"
    path.write_bytes(
        encrypt_holder_file(
            world.holders[0].secrets,
            PASSPHRASE,
            opslimit=nacl.pwhash.argon2id.OPSLIMIT_MIN,
            memlimit=nacl.pwhash.argon2id.MEMLIMIT_MIN,
        )
    )
    path.chmod(0o600)
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    return path


def _keyholder(url: str, holder_file: Path, *command: str) -> Any:
    args = ["--server", url, "--holder-file", str(holder_file)]
    args += ["--passphrase-file", str(holder_file.parent / "passphrase")]
    return CliRunner().invoke(cli, ["keyholder", *command, *args])


def _admin_registers_key(world: World, username: str, key: bytes) -> None:
    response = world.client("root").post(
        "/api/v1/officers/key",
        json={"username": username, "public_key": b64u_encode(key)},
        headers=world.csrf("root"),
    )
    assert response.status_code == 201, response.get_json()


def _set_court_key(world: World, key: bytes) -> None:
    with get_components(world.app).session_factory() as session:
        court = session.get(Court, world.court_id)
        assert court is not None
        court.public_key = key
        session.commit()


def _set_roster_status(world: World, status: str) -> None:
    with get_components(world.app).session_factory() as session:
        row = session.get(RosterVersion, 1)
        assert row is not None
        row.status = status
        session.commit()


def _fabricate(world: World, url: str, *, with_court: bool = True) -> int:
    """The attack of finding 1: returns the id of a request 'submitted and co-signed' by alice and bob
    (with the court's key replaced too, unless `with_court` is false: then the real court signed)."""
    fake = {name: new_officer_secrets(name) for name in ("alice", "bob")}
    fake_court = os.urandom(32) if with_court else world.court_seed
    # Keys of its own for two real officers (the admin API) and the court (the database)
    for name, secrets in fake.items():
        _admin_registers_key(world, name, secrets.public_key)
    _set_court_key(world, public_key(fake_court))
    # An order "signed by the court", submitted and co-signed in the officers' names over real HTTP
    signature = b64u_encode(sign_court_order(fake_court, PDF))
    if with_court:
        # The service itself refuses a court key the roster does not list; a database writer hides the
        # roster from it for the moment of drafting (the holders' tools are what must not be fooled).
        refused = world.draft(court_signature=signature)
        assert refused.status_code == 422
        assert "another signing key on the roster" in refused.get_json()["detail"]
        _set_roster_status(world, "superseded")
    draft = world.draft(court_signature=signature)
    _set_roster_status(world, "active")
    assert draft.status_code == 201, draft.get_json()
    assert draft.get_json()["body"]["court_signature"] == "verified"  # the server is fooled
    request_id = int(draft.get_json()["id"])
    officer_submit(UrllibTransport(url), fake["alice"], world.document(request_id))
    _, digest, _ = officer_summary(world.document(request_id))
    result = officer_sign(UrllibTransport(url), fake["bob"], request_id, digest, "cosign")
    assert result["status"] == "cosigned"
    # and the real keys put back, so nothing looks changed
    for name in ("alice", "bob"):
        _admin_registers_key(world, name, world.officers[name].public_key)
    _set_court_key(world, public_key(world.court_seed))
    return request_id


@pytest.mark.parametrize(
    ("with_court", "refusal"),
    [
        (
            True,
            "COURT SIGNATURE VERDICT MISMATCH: the officer-signed request says 'verified', but this tool "
            "finds 'signature-invalid' (checked here with the court key of roster version 1)",
        ),
        (False, "officer 'alice': no certificate by an organisation on the roster"),
    ],
    ids=["officers-and-court", "officers-only"],
)
def test_fabricated_disclosure_is_refused_by_the_holder_tool(
    world_url: tuple[World, str], holder_file: Path, with_court: bool, refusal: str
) -> None:
    # Given the holder pinned the roster on a first, honest request
    world, url = world_url
    honest = world.cosigned_request()
    first = _keyholder(url, holder_file, "approve", str(honest), "--yes")
    assert first.exit_code == 0, first.output
    assert "roster version 1 pinned" in first.output
    # When the server's holder fabricates a disclosure as in finding 1
    request_id = _fabricate(world, url, with_court=with_court)
    # Then the review lists it, but approving it is refused: the keys have no roster certificate
    listed = _keyholder(url, holder_file, "review")
    assert listed.exit_code == 0, listed.output
    assert f"request {request_id}:" in listed.output
    assert "REFUSED by your tool: " + refusal in listed.output
    result = _keyholder(url, holder_file, "approve", str(request_id), "--yes")
    assert result.exit_code == 1, result.output
    assert refusal in result.output
    assert "approved" not in result.output


def test_fabricated_certificates_and_roster_in_the_database_are_refused(
    world_url: tuple[World, str], holder_file: Path
) -> None:
    world, url = world_url
    honest = world.cosigned_request()
    assert _keyholder(url, holder_file, "approve", str(honest), "--yes").exit_code == 0
    request_id = _fabricate(world, url, with_court=False)
    # Given the attacker also certifies its keys with an "organisation key" of its own, in the database
    attacker_org = os.urandom(32)
    now = datetime.now(UTC)
    keys = {name: _signed_key(world, request_id, name) for name in ("alice", "bob")}
    with get_components(world.app).session_factory() as session:
        for name, key in keys.items():
            staff = session.scalars(select(StaffAccount).where(StaffAccount.username == name)).one()
            record = certify_officer(
                attacker_org,
                username=name,
                organisation=OFFICER_ORGS[name],
                officer_key_b64=b64u_encode(key),
                not_before=now - timedelta(hours=1),
                not_after=now + timedelta(days=1),
            )
            session.add(
                OfficerCertificateRecord(
                    staff_id=staff.id,
                    officer_key=key,
                    certificate=canonical_json(record["certificate"]).decode(),
                    signature=b64u_decode(record["signature"]),
                    recorded_at=now,
                )
            )
        session.commit()
    # Then the holder's tool finds the certificates signed by a key the roster does not list
    result = _keyholder(url, holder_file, "approve", str(request_id), "--yes")
    assert result.exit_code == 1, result.output
    assert "is not signed by the key the roster lists for" in result.output

    # Given it then writes a roster version 2 of its own (its organisation key and court key), marked
    # in force, "signed" by holder keys it made up, and the real holders' rows signing nothing
    roster = world.roster()
    forged = Roster(
        version=2,
        previous=b64u_encode(roster.digest()),
        key_id=roster.key_id,
        threshold=roster.threshold,
        holders=roster.holders,
        courts=roster.courts,
        organisations=tuple(
            RosterOrganisation(o.name, b64u_encode(public_key(attacker_org)), True, True)
            for o in roster.organisations
        ),
    )
    with get_components(world.app).session_factory() as session:
        session.get(RosterVersion, 1).status = "superseded"  # type: ignore[union-attr]
        session.add(
            RosterVersion(
                version=2,
                body=forged.canonical_bytes().decode(),
                digest=forged.digest(),
                status="active",
                proposed_at=now,
                activated_at=now,
            )
        )
        session.flush()
        for holder in session.scalars(select(KeyHolder).order_by(KeyHolder.id)).all()[: roster.threshold]:
            session.add(
                RosterSignature(
                    version=2,
                    holder_id=holder.id,
                    signing_key=holder.signing_key,
                    signature=sign_roster(os.urandom(32), forged.digest()),
                    created_at=now,
                )
            )
        session.commit()
    # Then a holder who pinned version 1 refuses it, and so does one who never pinned
    result = _keyholder(url, holder_file, "approve", str(request_id), "--yes")
    assert result.exit_code == 1, result.output
    assert "the roster is not in force: roster version 2 has 0 valid holder signature(s)" in result.output
    second = _holder_file(world, 1, holder_file.parent)
    result = _keyholder(url, second, "approve", str(request_id), "--yes")
    assert result.exit_code == 1, result.output
    assert "roster version 2 does not carry your signature" in result.output


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
    return path


def _signed_key(world: World, request_id: int, username: str) -> bytes:
    """The key the fabricated signature was made with (the one the log recorded before it)."""
    holder = world.holders[0]
    package = holder.client.request("GET", f"/api/v1/holder/disclosures/{request_id}")
    return b64u_decode(next(o for o in package["officers"] if o["username"] == username)["public_key"])
