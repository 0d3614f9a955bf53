"""A witness's settings, from flags or the environment, and its Ed25519 key file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nacl.signing

from escrow.crypto.errors import CryptoError
from escrow.crypto.note import NoteVerifier, cosigner_key_hash, parse_verifier_key
from escrow.errors import ConfigError
from escrow.keystore import read_secret_file, write_secret_file

STATE_FILE: Final = "witness-state.sqlite3"
SEED_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class WitnessSettings:
    """Everything a witness needs: its key name, key file, data folder and the logs it witnesses."""

    name: str
    key_file: Path
    data_dir: Path
    logs: tuple[NoteVerifier, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> WitnessSettings:
        """Reads ESCROW_WITNESS_* variables (docs/operations.md#witnesses); `overrides` (flags) win.

        ESCROW_WITNESS_LOGS is a comma-separated list of log verifier keys (`<origin>+<hash>+<key>`).
        Raises ConfigError naming a missing or malformed setting.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "name": env.get("ESCROW_WITNESS_NAME"),
            "key_file": env.get("ESCROW_WITNESS_KEY_FILE"),
            "data_dir": env.get("ESCROW_WITNESS_DATA_DIR"),
            "logs": tuple(filter(None, (s.strip() for s in env.get("ESCROW_WITNESS_LOGS", "").split(",")))),
        }
        values.update({k: v for k, v in overrides.items() if v})
        for name in ("name", "key_file", "data_dir", "logs"):
            if not values.get(name):
                raise ConfigError(
                    f"the witness needs {name.replace('_', ' ')} (ESCROW_WITNESS_{name.upper()})"
                )
        logs = []
        for text in values["logs"]:  # type: ignore[attr-defined]
            try:
                logs.append(parse_verifier_key(str(text)))
            except CryptoError as e:
                raise ConfigError(f"ESCROW_WITNESS_LOGS: {str(text)!r} is not a log verifier key: {e}") from e
        try:
            cosigner_key_hash(str(values["name"]), bytes(SEED_BYTES))  # checks the key name's syntax
        except CryptoError as e:
            raise ConfigError(f"the witness name {values['name']!r} is not a valid key name: {e}") from e
        return cls(
            name=str(values["name"]),
            key_file=Path(str(values["key_file"])),
            data_dir=Path(str(values["data_dir"])),
            logs=tuple(logs),
        )


def load_or_create_key(key_file: Path) -> tuple[nacl.signing.SigningKey, bool]:
    """Returns the witness's signing key from `key_file` (a 32-byte seed, mode 0600), creating it if
    there is none; and whether it was created. Raises ConfigError (KeyFileError) for a bad file."""
    created = False
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_secret_file(key_file, secrets.token_bytes(SEED_BYTES))
        created = True
    seed = read_secret_file(key_file)
    if len(seed) != SEED_BYTES:
        raise ConfigError(f"the witness key file {key_file} must hold a {SEED_BYTES}-byte Ed25519 seed")
    return nacl.signing.SigningKey(seed), created
