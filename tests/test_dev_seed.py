"""The demonstration instance seeded on first start in development mode, and never otherwise (issue 8)."""

from __future__ import annotations

import dataclasses
import json
import stat
from datetime import UTC, datetime

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from escrow.cli.main import cli
from escrow.crypto.disclosure import decrypt_officer_key
from escrow.httpkit import get_components
from escrow.keystore import read_secret_file
from escrow.models import StaffAccount
from escrow.services import totp
from escrow.services.dev_ceremony import ensure_dev_escrow_key
from escrow.services.dev_seed import LOGINS_FILE, OFFICERS_DIR, seed_demo_instance
from escrow.services.disclosure import list_courts
from escrow.services.platforms import get_platform
from tests.conftest import csrf_token_from


def _seed(app: Flask, *, dev_mode: bool):  # type: ignore[no-untyped-def]
    extension = get_components(app)
    settings = dataclasses.replace(extension.settings, dev_mode=dev_mode)
    with extension.session_factory() as session:
        # As `make run` does: the development escrow key and holders first, who then sign the roster.
        ensure_dev_escrow_key(session, settings, log=extension.log, now=datetime.now(UTC))
        return settings, seed_demo_instance(
            session,
            settings,
            hasher=extension.password_hasher,
            log=extension.log,
            totp_key=extension.keyring.totp_key,
            now=datetime.now(UTC),
        )


def test_development_mode_seeds_accounts_keys_and_a_court_once_with_secrets_in_0600_files(app: Flask) -> None:
    settings, report = _seed(app, dev_mode=True)
    assert report is not None
    assert set(report.logins) == {"admin", "verifier", "alice", "bob", "forum"}
    record = json.loads(read_secret_file(settings.keys_dir / LOGINS_FILE))
    for path in (
        settings.keys_dir / LOGINS_FILE,
        settings.keys_dir / OFFICERS_DIR / "PASSPHRASE",
        settings.keys_dir / OFFICERS_DIR / "alice.key",
        settings.keys_dir / OFFICERS_DIR / "bob.key",
        report.court_seed_file,
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    passphrase = read_secret_file(settings.keys_dir / OFFICERS_DIR / "PASSPHRASE").decode().strip()
    alice = decrypt_officer_key(read_secret_file(settings.keys_dir / OFFICERS_DIR / "alice.key"), passphrase)
    assert alice.username == "alice"
    organisations = {s["username"]: s["organisation"] for s in record["staff"]}
    assert organisations["alice"] != organisations["bob"]
    extension = get_components(app)
    with extension.session_factory() as session:
        assert get_platform(session, record["platform"]["id"]).name == "Demo Forum"
        assert [c.name for c in list_courts(session)] == [record["court"]["name"]]
    # The generated password and a code from the seeded authenticator key sign the legal officer in
    secrets_by_user = {s["username"]: s.get("totp_secret") for s in record["staff"]}
    assert set(report.totp_secrets) == {"alice", "bob"}
    assert secrets_by_user["admin"] is None
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": "alice", "password": report.logins["alice"], "csrf_token": token}
    )
    assert response.headers["Location"].endswith("/login/code")
    token = csrf_token_from(client.get("/login/code").get_data(as_text=True))
    code = totp.code_at(str(secrets_by_user["alice"]), totp.current_step(datetime.now(UTC)))
    response = client.post("/login/code", data={"code": code, "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/api/v1/session").get_json()["staff"]["username"] == "alice"
    # and the platform login manages the seeded platform (issue 8)
    assert {"username": "forum", "platform": record["platform"]["id"]}.items() <= next(
        s for s in record["staff"] if s["username"] == "forum"
    ).items()
    platform_staff = app.test_client()
    token = csrf_token_from(platform_staff.get("/login").get_data(as_text=True))
    platform_staff.post(
        "/login", data={"username": "forum", "password": report.logins["forum"], "csrf_token": token}
    )
    assert "Demo Forum" in platform_staff.get("/platform/").get_data(as_text=True)
    # A second start seeds nothing more
    assert _seed(app, dev_mode=True)[1] is None


def test_seeding_never_happens_outside_development_mode(app: Flask) -> None:
    settings, report = _seed(app, dev_mode=False)
    assert report is None
    assert not (settings.keys_dir / LOGINS_FILE).exists()
    assert not (settings.keys_dir / OFFICERS_DIR).exists()
    with get_components(app).session_factory() as session:
        assert session.scalar(select(func.count()).select_from(StaffAccount)) == 0


def test_passwords_are_generated_not_hard_coded(app: Flask) -> None:
    _, first = _seed(app, dev_mode=True)
    assert first is not None
    assert len(set(first.logins.values())) == len(first.logins)
    assert all(len(password) >= 20 for password in first.logins.values())


def test_escrow_init_in_development_mode_prints_the_logins_once(runner: CliRunner) -> None:
    first = runner.invoke(cli, ["init"], env={"ESCROW_DEV_MODE": "1"})
    assert first.exit_code == 0, first.output
    assert "seeded a demonstration instance" in first.output
    assert "alice: " in first.output
    assert "dev-officers" in first.output
    second = runner.invoke(cli, ["init"], env={"ESCROW_DEV_MODE": "1"})
    assert second.exit_code == 0, second.output
    assert "seeded" not in second.output


def test_escrow_init_without_development_mode_seeds_nothing(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init"], env={"ESCROW_DEV_MODE": "0"})
    assert result.exit_code == 0, result.output
    assert "seeded" not in result.output
    assert "alice" not in result.output
