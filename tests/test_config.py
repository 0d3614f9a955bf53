"""Settings.from_env() and Settings.for_tests()."""

from __future__ import annotations

from pathlib import Path

import nacl.pwhash.argon2id
import pytest

from escrow.config import Settings
from escrow.errors import ConfigError


def test_defaults_live_under_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({})

    assert settings.instance_path == tmp_path / "instance"
    assert settings.keys_dir == tmp_path / "keys"
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'escrow.sqlite3'}"
    assert settings.secret_key is None
    assert settings.testing is False
    assert settings.log_level == "INFO"
    assert settings.holderfile_opslimit == nacl.pwhash.argon2id.OPSLIMIT_MODERATE
    assert settings.holderfile_memlimit == nacl.pwhash.argon2id.MEMLIMIT_MODERATE


def test_reads_every_variable(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ESCROW_DATABASE_URL": "postgresql+psycopg://escrow@db:5432/escrow",
            "ESCROW_INSTANCE_PATH": str(tmp_path / "inst"),
            "ESCROW_KEYS_DIR": str(tmp_path / "k"),
            "ESCROW_SECRET_KEY": "k" * 32,
            "ESCROW_LOG_LEVEL": "debug",
        }
    )

    assert settings.database_url == "postgresql+psycopg://escrow@db:5432/escrow"
    assert settings.instance_path == tmp_path / "inst"
    assert settings.keys_dir == tmp_path / "k"
    assert settings.secret_key == "k" * 32
    assert settings.log_level == "DEBUG"


def test_instance_path_moves_the_default_database(tmp_path: Path) -> None:
    settings = Settings.from_env({"ESCROW_INSTANCE_PATH": str(tmp_path / "inst")})

    assert settings.database_url == f"sqlite:///{tmp_path / 'inst' / 'escrow.sqlite3'}"


def test_empty_variables_count_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({"ESCROW_SECRET_KEY": "", "ESCROW_DATABASE_URL": ""})

    assert settings.secret_key is None
    assert settings.database_url.startswith("sqlite:///")


@pytest.mark.parametrize("url", ["not a url", "://nothing", "postgresql+psycopg://u:p@h:notaport/db"])
def test_unparsable_database_url_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="ESCROW_DATABASE_URL cannot be parsed") as excinfo:
        Settings.from_env({"ESCROW_DATABASE_URL": url})

    assert url not in str(excinfo.value)  # may contain a password


def test_unknown_driver_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown database driver 'nosuchdb'"):
        Settings.from_env({"ESCROW_DATABASE_URL": "nosuchdb://h/db"})


def test_short_secret_key_is_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Settings.from_env({"ESCROW_SECRET_KEY": "hunter2"})


def test_unknown_log_level_is_config_error() -> None:
    with pytest.raises(ConfigError, match="ESCROW_LOG_LEVEL"):
        Settings.from_env({"ESCROW_LOG_LEVEL": "loud"})


def test_repr_hides_secret_key_and_database_password() -> None:
    settings = Settings.from_env(
        {
            "ESCROW_SECRET_KEY": "topsecret" * 4,
            "ESCROW_DATABASE_URL": "postgresql+psycopg://u:dbpassword@h/db",
        }
    )

    assert "topsecret" not in repr(settings)
    assert "dbpassword" not in repr(settings)


def test_for_tests_uses_fast_kdf_and_testing_mode(tmp_path: Path) -> None:
    settings = Settings.for_tests("sqlite://", tmp_path / "keys")

    assert settings.testing is True
    assert settings.secret_key is None
    assert settings.keys_dir == tmp_path / "keys"
    assert settings.instance_path == tmp_path
    assert settings.holderfile_opslimit == nacl.pwhash.argon2id.OPSLIMIT_MIN
    assert settings.holderfile_memlimit == nacl.pwhash.argon2id.MEMLIMIT_MIN


def test_for_tests_rejects_malformed_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Settings.for_tests("not a url", tmp_path)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings.for_tests("sqlite://", tmp_path)

    with pytest.raises(AttributeError):
        settings.testing = False  # type: ignore[misc]
