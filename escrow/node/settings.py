"""An OPRF node's settings, from flags or the environment, and the share it loads from its holder file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.errors import CryptoError
from escrow.crypto.group import Point, Scalar
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.crypto.ristretto import Element, from_edwards
from escrow.crypto.transcript import b64u_decode
from escrow.errors import ConfigError
from escrow.node.ledger import Limits

# Defaults sized for a service registering or signing in up to ~30,000 persons a day (one element
# each); docs/operations.md#oprf-nodes shows what they bound: testing 10^6 guessed identities through
# one seized service takes at least 10^6 * t / (n * 30,000) days (23 for 2 of 3), in counts anyone
# can read at GET /stats.
DEFAULT_LIMITS: Final = Limits(minute=120, hour=3_000, day=30_000)
DEFAULT_FRESHNESS_S: Final = 60
LEDGER_FILE: Final = "node-ledger.sqlite3"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """Everything a node needs; the passphrase is used once, to open the share file, and not kept."""

    share_file: Path
    passphrase: str
    service_key: bytes
    data_dir: Path
    key_id: str | None = None
    limits: Limits = DEFAULT_LIMITS
    freshness_s: int = DEFAULT_FRESHNESS_S

    def __repr__(self) -> str:
        return (
            f"NodeSettings(share_file={self.share_file!s}, data_dir={self.data_dir!s}, limits={self.limits})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> NodeSettings:
        """Reads ESCROW_NODE_* variables (docs/operations.md#oprf-nodes); `overrides` (flags) win.

        Raises ConfigError naming a missing or malformed setting.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "share_file": env.get("ESCROW_NODE_SHARE_FILE"),
            "passphrase": _passphrase(env),
            "service_key": env.get("ESCROW_NODE_SERVICE_KEY"),
            "data_dir": env.get("ESCROW_NODE_DATA_DIR"),
            "key_id": env.get("ESCROW_NODE_KEY_ID") or None,
            "minute": env.get("ESCROW_NODE_LIMIT_MINUTE"),
            "hour": env.get("ESCROW_NODE_LIMIT_HOUR"),
            "day": env.get("ESCROW_NODE_LIMIT_DAY"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("share_file", "passphrase", "service_key", "data_dir"):
            if not values.get(name):
                raise ConfigError(
                    f"the node needs {name.replace('_', ' ')} (flag or ESCROW_NODE_{name.upper()})"
                )
        try:
            service_key = b64u_decode(str(values["service_key"]), length=32)
        except CryptoError as e:
            raise ConfigError("the escrow service key must be the base64url of a 32-byte Ed25519 key") from e
        limits = Limits(
            minute=_limit(values["minute"], DEFAULT_LIMITS.minute, "minute"),
            hour=_limit(values["hour"], DEFAULT_LIMITS.hour, "hour"),
            day=_limit(values["day"], DEFAULT_LIMITS.day, "day"),
        )
        return cls(
            share_file=Path(str(values["share_file"])),
            passphrase=str(values["passphrase"]),
            service_key=service_key,
            data_dir=Path(str(values["data_dir"])),
            key_id=str(values["key_id"]) if values.get("key_id") else None,
            limits=limits,
        )


def _passphrase(env: Mapping[str, str]) -> str | None:
    if env.get("ESCROW_NODE_PASSPHRASE"):
        return env["ESCROW_NODE_PASSPHRASE"]
    path = env.get("ESCROW_NODE_PASSPHRASE_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read the passphrase file {path}: {e.strerror}") from e
    return None


def _limit(value: object, default: int, window: str) -> int:
    if value is None or value == "":
        return default
    text = str(value)
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ConfigError(f"the per-{window} limit must be a positive whole number, got {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class NodeShare:
    """The one share this node holds: its index, the scalar, and the public values everyone can check."""

    key: ThresholdPublicKey
    index: int
    share: Scalar
    public_share: Element

    def __repr__(self) -> str:
        return f"NodeShare(key_id={self.key.key_id}, index={self.index})"


def load_share(settings: NodeSettings) -> NodeShare:
    """Opens the share file and returns its share of `settings.key_id` (or its only share).

    Raises ConfigError if the file is missing, the passphrase is wrong, the key is not in it, or the
    share does not match the public share the ceremony recorded for it.
    """
    try:
        data = settings.share_file.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the share file {settings.share_file}: {e.strerror}") from e
    try:
        secrets = decrypt_holder_file(data, settings.passphrase)
    except CryptoError as e:
        raise ConfigError(f"cannot open the share file {settings.share_file}: {e}") from e
    if settings.key_id is not None:
        records = [r for r in secrets.shares if r.key.key_id == settings.key_id]
    else:
        records = list(secrets.shares)
    if len(records) != 1:
        found = ", ".join(r.key.key_id for r in secrets.shares) or "none"
        wanted = settings.key_id or "exactly one key"
        raise ConfigError(f"the share file holds shares of {found}; this node needs {wanted} (--key-id)")
    record = records[0]
    index = record.share.index
    expected = record.key.verification_key(index)
    if Point.base_times(record.share.value) != expected:
        raise ConfigError("the share in the file does not match its public share: the file is damaged")
    return NodeShare(record.key, index, record.share.value, from_edwards(expected))
