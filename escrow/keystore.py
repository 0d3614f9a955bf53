"""Secrets kept as files under the keys directory (mode 0600), and the Keyring built from them.

Files are published atomically: written to a temporary file opened with O_CREAT|O_EXCL and mode
0600, fsynced, then hard-linked to the final name (link(2) never overwrites), so a crash never
leaves a half-written key under its real name and two processes starting together agree on one key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from escrow.errors import KeyFileError

if TYPE_CHECKING:
    from escrow.config import Settings

KEYS_DIR_MODE = 0o700
SECRET_FILE_MODE = 0o600
FLASK_SECRET_KEY_NAME = "flask-secret-key"  # noqa: S105 - a file name
FLASK_SECRET_KEY_BYTES = 32  # 256 bits for HMAC-signed session cookies
# Issue 13: no file here derives a person key or a pseudonym; the old keys/person-key and
# keys/pseudonym-key files are no longer made or read (the threshold OPRF replaces them).
# Ed25519 credential signing keys (issue 3): one file per key, named by its RFC 7638 thumbprint.
SIGNING_KEY_PREFIX = "credential-signing-"
SIGNING_SEED_BYTES = 32
LOG_SIGNING_KEY_NAME = "log-signing-key"
LOG_SIGNING_KEY_BYTES = 32  # an Ed25519 seed (RFC 8032) for transparency-log checkpoints
# Seals staff TOTP secrets at rest (XChaCha20-Poly1305, escrow.services.totp): a database copy alone
# yields no second factor.
TOTP_KEY_NAME = "totp-key"
TOTP_KEY_BYTES = 32
# Issue 13: the Ed25519 seed that signs the service's requests to the OPRF nodes (each node pins its
# public key). It lets its holder ask for evaluations, within the nodes' quotas and in their public
# counts: it derives nothing by itself (docs/protocol.md#oprf-nodes).
OPRF_CLIENT_KEY_NAME = "oprf-client-key"
OPRF_CLIENT_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Keyring:
    """The instance's secret keys, loaded once in create_app and passed down (never global)."""

    flask_secret_key: bytes = field(repr=False)
    log_signing_seed: bytes = field(repr=False)
    totp_key: bytes = field(repr=False)
    oprf_client_seed: bytes = field(repr=False)
    keys_dir: Path | None = None

    def signing_seed(self, kid: str) -> bytes:
        """Returns the Ed25519 seed of credential signing key ``kid`` (a file under keys_dir).

        Raises KeyFileError if the file is missing, unsafe or malformed.
        """
        if self.keys_dir is None or not _is_safe_kid(kid):
            raise KeyFileError("no credential signing key with that id")
        data = read_secret_file(self.keys_dir / f"{SIGNING_KEY_PREFIX}{kid}")
        if len(data) != SIGNING_SEED_BYTES:
            raise KeyFileError(f"credential signing key {kid} holds {len(data)} bytes")
        return data


def load_keyring(settings: Settings) -> Keyring:
    """Returns the keyring for ``settings``, creating missing key files on first start.

    Raises KeyFileError if a key file is unsafe or has the wrong length.
    """
    if settings.secret_key is not None:
        flask_secret_key = settings.secret_key.encode()
    else:
        flask_secret_key = load_or_create_secret(
            settings.keys_dir, FLASK_SECRET_KEY_NAME, FLASK_SECRET_KEY_BYTES
        )
    log_signing_seed = load_or_create_secret(settings.keys_dir, LOG_SIGNING_KEY_NAME, LOG_SIGNING_KEY_BYTES)
    return Keyring(
        flask_secret_key=flask_secret_key,
        log_signing_seed=log_signing_seed,
        totp_key=load_or_create_secret(settings.keys_dir, TOTP_KEY_NAME, TOTP_KEY_BYTES),
        oprf_client_seed=settings.oprf_client_key
        or load_or_create_secret(settings.keys_dir, OPRF_CLIENT_KEY_NAME, OPRF_CLIENT_KEY_BYTES),
        keys_dir=settings.keys_dir,
    )


def write_signing_seed(keys_dir: Path, kid: str, seed: bytes) -> Path:
    """Stores a new credential signing seed as ``keys_dir/credential-signing-<kid>`` (mode 0600).

    Returns the path. Raises KeyFileError if it cannot be written or already exists.
    """
    if not _is_safe_kid(kid) or len(seed) != SIGNING_SEED_BYTES:
        raise KeyFileError("malformed credential signing key")
    ensure_keys_dir(keys_dir)
    path = keys_dir / f"{SIGNING_KEY_PREFIX}{kid}"
    try:
        write_secret_file(path, seed)
    except FileExistsError as e:
        raise KeyFileError(f"credential signing key {kid} already exists") from e
    return path


def _is_safe_kid(kid: str) -> bool:
    # A kid is base64url (RFC 7638 thumbprint): safe as a file name, never a path.
    return 0 < len(kid) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in kid)


def ensure_keys_dir(keys_dir: Path) -> bool:
    """Creates ``keys_dir`` (mode 0700) if missing. Returns True if it was created.

    Raises KeyFileError if the path exists but is not a directory.
    """
    if keys_dir.is_dir():
        return False
    if keys_dir.exists():
        raise KeyFileError(f"keys directory {keys_dir} exists but is not a directory")
    keys_dir.mkdir(mode=KEYS_DIR_MODE, parents=True, exist_ok=True)
    return True


def load_or_create_secret(keys_dir: Path, name: str, nbytes: int) -> bytes:
    """Returns the ``nbytes`` random secret stored in ``keys_dir/name``, creating it if missing.

    Raises KeyFileError if the existing file is readable by group or others, is not a regular
    file, or does not hold exactly ``nbytes`` bytes.
    """
    ensure_keys_dir(keys_dir)
    path = keys_dir / name
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process won the race: read theirs
            write_secret_file(path, secrets.token_bytes(nbytes))
    data = read_secret_file(path)
    if len(data) != nbytes:
        raise KeyFileError(
            f"key file {path} holds {len(data)} bytes, expected {nbytes}; "
            "restore it from a backup (deleting it makes a new key and invalidates the old one)"
        )
    return data


def read_secret_file(path: Path) -> bytes:
    """Returns the contents of the secret file at ``path``.

    Raises KeyFileError if it is not a regular file (symlinks are refused) or if its mode gives
    group or others any access.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise KeyFileError(f"cannot open key file {path}: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {path} is accessible by group or others (mode {mode:04o}); run: chmod 600 {path}"
            )
        with os.fdopen(fd, "rb") as f:
            fd = -1  # now owned by f
            return f.read()
    finally:
        if fd >= 0:
            os.close(fd)


def write_secret_file(path: Path, data: bytes) -> None:
    """Writes ``data`` to a new file at ``path`` with mode 0600, atomically and durably.

    Raises FileExistsError if ``path`` already exists (a secret is never overwritten), and
    KeyFileError if the file cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            SECRET_FILE_MODE,
        )
    except OSError as e:
        raise KeyFileError(f"cannot create key file in {path.parent}: {e.strerror}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), SECRET_FILE_MODE)  # the umask may have removed owner bits
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails with FileExistsError instead of overwriting
    except FileExistsError:
        raise
    except OSError as e:
        raise KeyFileError(f"cannot write key file {path}: {e.strerror}") from e
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the new directory entry durable (POSIX: fsync the file is not enough).
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
