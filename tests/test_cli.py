"""The ``escrow`` command through click's CliRunner."""

from __future__ import annotations

import stat
from pathlib import Path
from unittest import mock

from click.testing import CliRunner
from sqlalchemy import inspect

from escrow.cli.main import cli
from escrow.db import make_engine


def test_init_creates_keys_0600_and_migrates(runner: CliRunner, tmp_path: Path) -> None:
    # When
    result = runner.invoke(cli, ["init"])

    # Then
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "keys" / "flask-secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert f"created {key_file}" in result.output
    assert "migrated from empty to revision" in result.output
    assert f"created {tmp_path / 'keys' / 'log-signing-key'}" in result.output
    assert key_file.read_bytes().hex() not in result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'instance' / 'escrow.sqlite3'}")
    assert "escrow_keys" in inspect(engine).get_table_names()
    engine.dispose()


def test_init_is_idempotent(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(cli, ["init"])
    key = (tmp_path / "keys" / "flask-secret-key").read_bytes()

    result = runner.invoke(cli, ["init"])

    assert result.exit_code == 0, result.output
    assert "already present" in result.output
    assert "already at revision" in result.output
    assert (tmp_path / "keys" / "flask-secret-key").read_bytes() == key


def test_bad_database_url_exits_nonzero_with_message(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init"], env={"ESCROW_DATABASE_URL": "not a url"})

    assert result.exit_code == 1
    assert "Error: ESCROW_DATABASE_URL cannot be parsed" in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_exits_nonzero_with_message(runner: CliRunner) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/escrow"

    result = runner.invoke(cli, ["db", "upgrade"], env={"ESCROW_DATABASE_URL": url})

    assert result.exit_code == 1
    assert "the database cannot be reached" in result.output
    assert "Traceback" not in result.output


def test_unsafe_key_file_exits_nonzero_with_message(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(cli, ["init"])
    (tmp_path / "keys" / "flask-secret-key").chmod(0o644)

    result = runner.invoke(cli, ["init"])

    assert result.exit_code == 1
    assert "chmod 600" in result.output


def test_unwritable_instance_folder_exits_nonzero_with_message(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    result = runner.invoke(cli, ["init"], env={"ESCROW_INSTANCE_PATH": str(tmp_path / "file" / "x")})

    assert result.exit_code == 1
    assert "Error:" in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_migrates_then_reports_head(runner: CliRunner) -> None:
    first = runner.invoke(cli, ["db", "upgrade"])
    second = runner.invoke(cli, ["db", "upgrade"])

    assert first.exit_code == 0, first.output
    assert "migrated from empty to revision" in first.output
    assert second.exit_code == 0, second.output
    assert "already at revision" in second.output


def test_run_refuses_the_default_log_origin_outside_development_mode(runner: CliRunner) -> None:
    with mock.patch("werkzeug.serving.run_simple") as run_simple:
        result = runner.invoke(cli, ["run", "--port", "5055"], env={"ESCROW_LOG_ORIGIN": ""})

    assert result.exit_code == 1
    assert "ESCROW_LOG_ORIGIN is the development default 'escrow.localhost/log'" in result.output
    assert "Traceback" not in result.output
    run_simple.assert_not_called()


def test_run_initialises_then_serves(runner: CliRunner, tmp_path: Path) -> None:
    with mock.patch("werkzeug.serving.run_simple") as run_simple:
        result = runner.invoke(
            cli, ["run", "--host", "127.0.0.1", "--port", "5055"], env={"ESCROW_LOG_ORIGIN": "escrow.test/l"}
        )

    assert result.exit_code == 0, result.output
    assert "serving on http://127.0.0.1:5055/" in result.output
    (host, port, _app), kwargs = run_simple.call_args
    assert (host, port) == ("127.0.0.1", 5055)
    assert kwargs["threaded"] is True
    assert kwargs["use_debugger"] is False
    assert (tmp_path / "keys" / "flask-secret-key").exists()


def test_staff_create_reads_password_from_stdin_and_never_echoes_it(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "staff",
            "create",
            "--username",
            "root-admin",
            "--display-name",
            "Root",
            "--organisation",
            "Ops",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="a very long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "created staff account root-admin (admin)" in result.output
    assert "a very long password" not in result.output


def test_staff_create_with_short_password_fails_cleanly(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "staff",
            "create",
            "--username",
            "x1",
            "--display-name",
            "X",
            "--organisation",
            "O",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert result.exit_code == 1
    assert "password must be at least" in result.output
    assert "Traceback" not in result.output


def test_staff_disable_names_unknown_accounts(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["staff", "disable", "--username", "ghost"])
    assert result.exit_code == 1
    assert "no active staff account 'ghost'" in result.output


def _create_officer(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "staff",
            "create",
            "--username",
            "olga",
            "--display-name",
            "Olga",
            "--organisation",
            "Forum Legal",
            "--role",
            "legal_officer",
            "--password-stdin",
        ],
        input="a very long password\n",
    )
    assert result.exit_code == 0, result.output


def test_staff_reset_totp_refuses_an_account_without_one_and_names_unknown_accounts(
    runner: CliRunner,
) -> None:
    _create_officer(runner)

    without = runner.invoke(cli, ["staff", "reset-totp", "--username", "olga"])
    unknown = runner.invoke(cli, ["staff", "reset-totp", "--username", "ghost"])

    assert without.exit_code == 1
    assert "'olga' has no authenticator app to reset" in without.output
    assert unknown.exit_code == 1
    assert "no active staff account 'ghost'" in unknown.output
    assert "Traceback" not in without.output + unknown.output


def test_dev_code_prints_the_current_code_of_a_seeded_officer_in_development_mode_only(
    runner: CliRunner, tmp_path: Path
) -> None:
    import json
    from datetime import UTC, datetime

    from escrow.keystore import read_secret_file
    from escrow.services import totp

    refused = runner.invoke(cli, ["dev-code", "alice"])
    assert refused.exit_code == 1
    assert "only in development mode" in refused.output

    assert runner.invoke(cli, ["init"], env={"ESCROW_DEV_MODE": "1"}).exit_code == 0
    seeded = json.loads(read_secret_file(tmp_path / "keys" / "dev-logins.json"))
    secret = next(s["totp_secret"] for s in seeded["staff"] if s["username"] == "alice")

    result = runner.invoke(cli, ["dev-code", "alice"], env={"ESCROW_DEV_MODE": "1"})
    admin = runner.invoke(cli, ["dev-code", "admin"], env={"ESCROW_DEV_MODE": "1"})

    step = totp.current_step(datetime.now(UTC))
    assert result.exit_code == 0, result.output
    assert result.output.strip() in {totp.code_at(secret, step - 1), totp.code_at(secret, step)}
    assert admin.exit_code == 1
    assert "only legal officers need one" in admin.output


def test_staff_create_platform_login_needs_an_existing_platform(runner: CliRunner) -> None:
    args = ["staff", "create", "--username", "forum-ops", "--display-name", "F", "--organisation", "Forum"]
    result = runner.invoke(
        cli,
        [*args, "--role", "platform", "--platform", "no-such", "--password-stdin"],
        input="a very long password\n",
    )
    assert result.exit_code == 1
    assert "a platform login must name an existing platform" in result.output
    assert "Traceback" not in result.output
