"""ESCROW_DEV_MODE: off unless asked for, and a malformed value stops startup (issue 4)."""

from __future__ import annotations

import pytest

from escrow.config import Settings
from escrow.errors import ConfigError


def test_dev_mode_is_off_by_default() -> None:
    assert Settings.from_env({}).dev_mode is False


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("off", False)])
def test_dev_mode_reads_the_flag(value: str, expected: bool) -> None:
    assert Settings.from_env({"ESCROW_DEV_MODE": value}).dev_mode is expected


def test_malformed_dev_mode_stops_startup() -> None:
    with pytest.raises(ConfigError, match="ESCROW_DEV_MODE"):
        Settings.from_env({"ESCROW_DEV_MODE": "maybe"})
