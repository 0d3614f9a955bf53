"""`escrow keys rotate`: a new signing key, the old one still published while it has live credentials."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from escrow.cli.main import cli
from escrow.crypto.ceremony_messages import public_keys
from escrow.crypto.transcript import b64u_encode


def test_keys_rotate_adds_a_published_signing_key_with_a_0600_file(runner: CliRunner, tmp_path: Path) -> None:
    first = runner.invoke(cli, ["keys", "rotate"])
    second = runner.invoke(cli, ["keys", "rotate"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    # The first key signed nothing, so only the new one is published after the second rotation.
    assert "1 key(s) published" in second.output
    files = sorted((tmp_path / "keys").glob("credential-signing-*"))
    assert len(files) == 2
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)


def test_keys_oprf_client_prints_the_key_the_nodes_pin(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["keys", "oprf-client"])

    assert result.exit_code == 0, result.output
    printed = result.stdout.strip()
    seed = (tmp_path / "keys" / "oprf-client-key").read_bytes()
    assert printed == b64u_encode(public_keys(seed, bytes(32)).signing_key)  # the public half only
    assert b64u_encode(seed) not in result.output
    assert "fingerprint:" in result.stderr
