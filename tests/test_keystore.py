"""Secret files under the keys directory: creation, reuse, refusal of unsafe files."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from escrow.config import Settings
from escrow.errors import KeyFileError
from escrow.keystore import (
    load_keyring,
    load_or_create_secret,
    read_secret_file,
    write_secret_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_load_or_create_secret_creates_file_0600_in_dir_0700(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"

    secret = load_or_create_secret(keys_dir, "k", 32)

    assert len(secret) == 32
    assert _mode(keys_dir) == 0o700
    assert _mode(keys_dir / "k") == 0o600
    assert (keys_dir / "k").read_bytes() == secret
    assert [p.name for p in keys_dir.iterdir()] == ["k"]  # no temporary file left behind


def test_load_or_create_secret_reuses_existing_file(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path, "k", 32)

    second = load_or_create_secret(tmp_path, "k", 32)

    assert second == first


def test_secret_file_is_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_secret(tmp_path, "k", 32)
    finally:
        os.umask(old)

    assert _mode(tmp_path / "k") == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_refuses_file_accessible_by_group_or_others(tmp_path: Path, mode: int) -> None:
    load_or_create_secret(tmp_path, "k", 32)
    (tmp_path / "k").chmod(mode)

    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_secret(tmp_path, "k", 32)


def test_refuses_wrong_length(tmp_path: Path) -> None:
    load_or_create_secret(tmp_path, "k", 16)

    with pytest.raises(KeyFileError, match="holds 16 bytes, expected 32"):
        load_or_create_secret(tmp_path, "k", 32)


def test_refuses_symlink(tmp_path: Path) -> None:
    load_or_create_secret(tmp_path, "real", 32)
    (tmp_path / "link").symlink_to(tmp_path / "real")

    with pytest.raises(KeyFileError, match="cannot open"):
        read_secret_file(tmp_path / "link")


def test_refuses_directory_in_place_of_key_file(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir(mode=0o700)

    with pytest.raises(KeyFileError, match="not a regular file"):
        load_or_create_secret(tmp_path, "k", 32)


def test_refuses_keys_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "keys").write_bytes(b"")

    with pytest.raises(KeyFileError, match="not a directory"):
        load_or_create_secret(tmp_path / "keys", "k", 32)


def test_write_secret_file_refuses_to_overwrite(tmp_path: Path) -> None:
    write_secret_file(tmp_path / "holder.key", b"first")

    with pytest.raises(FileExistsError):
        write_secret_file(tmp_path / "holder.key", b"second")

    assert (tmp_path / "holder.key").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["holder.key"]


def test_write_secret_file_reports_unwritable_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot create key file"):
        write_secret_file(tmp_path / "missing" / "k", b"x")


def test_keyring_uses_configured_secret_key_without_writing_a_flask_key(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.for_tests("sqlite://", tmp_path / "keys"), secret_key="x" * 32)

    keyring = load_keyring(settings)

    assert keyring.flask_secret_key == b"x" * 32
    assert not (tmp_path / "keys" / "flask-secret-key").exists()
    assert len(keyring.log_signing_seed) == 32
    assert "x" * 32 not in repr(keyring)
    assert keyring.log_signing_seed.hex() not in repr(keyring)
