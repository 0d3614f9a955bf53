"""`escrow demo` carries the whole story through a running development server over HTTP (issue 8)."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import MetaData, select
from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.cli.main import cli
from escrow.cli.server import _ensure_dev_key
from escrow.config import Settings
from escrow.crypto.errors import OpenFailedError
from escrow.crypto.seal import Envelope, PartialDecryption, combine_partials, open_with_secret_point
from escrow.httpkit import get_components
from escrow.models import DisclosureDecision, DisclosureRequest, DisclosureScope
from escrow.protocol.disclosure import DisclosureBody
from escrow.services.escrow_keys import escrow_key
from tests.oprf_support import log_oprf_activation


@pytest.fixture
def dev_server(fresh_database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path, Flask]]:
    """A development-mode server (dev IdP, simulated key, seeded accounts) on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    keys_dir = tmp_path / "keys"
    settings = dataclasses.replace(
        Settings.for_tests(fresh_database_url, keys_dir, instance_path=tmp_path),
        dev_mode=True,
        dev_idp_enabled=True,
        issuer_url=url,
    )
    _ensure_dev_key(settings)
    app = create_app(settings)
    with get_components(app).session_factory() as session:  # as the OPRF node ceremony logs it
        log_oprf_activation(session, get_components(app).log, now=datetime.now(UTC))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url, keys_dir, app
    finally:
        server.shutdown()
        thread.join(timeout=5)
        get_components(app).engine.dispose()


def test_demo_reveals_the_registered_identity_and_writes_the_report_and_the_server_never_logs_it(
    dev_server: tuple[str, Path, Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url, keys_dir, app = dev_server
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["demo", "--url", url, "--report", str(report), "--keys-dir", str(keys_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "demo passed" in result.output
    data = json.loads(report.read_text())
    for key in (
        "url",
        "platform",
        "credential",
        "pseudonym",
        "request_id",
        "registered_identity",
        "revealed_identity",
        "checkpoint",
    ):
        assert key in data, key
    assert data["revealed_identity"]["name"] == data["registered_identity"]["name"]
    # A second run against the same server logs the person in again and still passes
    again = CliRunner().invoke(cli, ["demo", "--url", url, "--keys-dir", str(keys_dir)])
    assert again.exit_code == 0, again.output
    assert data["revealed_identity"]["name"] not in caplog.text
    assert data["revealed_identity"]["birthdate"] not in caplog.text
    # and nothing the server keeps opens the identity without alice's key (issue 14): the stored
    # partials verify, yet their combination opens nothing, and no row holds the name
    with get_components(app).session_factory() as session:
        for request in session.scalars(select(DisclosureRequest)):
            body = DisclosureBody.from_json(request.body)
            key = escrow_key(session, request.key_id)
            scope = session.scalars(
                select(DisclosureScope).where(DisclosureScope.request_id == request.id)
            ).one()
            envelope = Envelope.from_bytes(scope.envelope)
            stored = [
                PartialDecryption.from_dict(json.loads(d.partials)[0])
                for d in session.scalars(
                    select(DisclosureDecision).where(DisclosureDecision.request_id == request.id)
                )
                if d.partials is not None
            ]
            combined = combine_partials(key, envelope, request.digest, stored, blind=body.blinding[0])
            with pytest.raises(OpenFailedError):
                open_with_secret_point(key, envelope, combined)
    with get_components(app).engine.connect() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        dump = "".join(repr(r) for t in metadata.sorted_tables for r in connection.execute(select(t)))
    assert data["revealed_identity"]["name"] not in dump


def test_demo_without_seeded_logins_fails_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--url", "http://127.0.0.1:9", "--keys-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no seeded logins" in result.output
    assert "Traceback" not in result.output


def test_demo_refuses_a_malformed_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--url", "ftp://x", "--keys-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "http" in result.output


def test_demo_against_a_server_without_the_identity_provider_says_how_to_start_it(
    live_server: tuple[str, object], tmp_path: Path
) -> None:
    url, _ = live_server
    keys = tmp_path / "demo-keys"
    keys.mkdir()
    logins = keys / "dev-logins.json"
    logins.write_text(json.dumps({"staff": [], "platform": {"id": "demo-forum"}}))
    logins.chmod(0o600)
    result = CliRunner().invoke(cli, ["demo", "--url", url, "--keys-dir", str(keys)])
    assert result.exit_code == 1
    assert "ESCROW_DEV_IDP=1" in result.output
    assert "Traceback" not in result.output
