"""Strict readers for the members of a JSON object from another machine (exact keys, exact types)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Final

from escrow.crypto.errors import CryptoError
from escrow.crypto.transcript import b64u_decode
from escrow.protocol.errors import ProtocolError, UnsupportedVersionError

_UTC_SECOND: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def members(data: object, what: str, keys: Collection[str]) -> Mapping[str, object]:
    """Returns `data` if it is a JSON object with exactly the members `keys`.

    Raises ProtocolError naming what is not an object, or the missing or unknown members.
    """
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    missing = sorted(set(keys) - set(data))
    if missing:
        raise ProtocolError(f"{what} lacks {', '.join(missing)}")
    extra = sorted(repr(k) for k in set(data) - set(keys))
    if extra:
        raise ProtocolError(f"{what} has unknown member(s) {', '.join(extra)}")
    return data


def version(data: Mapping[str, object], key: str, what: str, supported: tuple[int, ...]) -> int:
    """Returns the version in `data[key]`. Raises UnsupportedVersionError naming any other version."""
    value = data[key]
    if type(value) is not int or value not in supported:
        raise UnsupportedVersionError(what, value, supported)
    return value


def text(data: Mapping[str, object], key: str, what: str, *, pattern: re.Pattern[str] | None = None) -> str:
    """Returns `data[key]` if it is a string (matching `pattern`, when given). Raises ProtocolError."""
    value = data[key]
    if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
        raise ProtocolError(
            f"{what}: {key} must be {'text' if pattern is None else 'of the form ' + pattern.pattern}"
        )
    try:
        value.encode()  # a lone surrogate ("\ud800" in JSON) has no UTF-8, so no canonical bytes
    except UnicodeEncodeError as e:
        raise ProtocolError(f"{what}: {key} is not valid Unicode text") from e
    return value


def name(data: Mapping[str, object], key: str, what: str) -> str:
    """Returns `data[key]` if it is a non-empty string (an identifier). Raises ProtocolError."""
    value = text(data, key, what)
    if not value:
        raise ProtocolError(f"{what}: {key} must not be empty")
    return value


def integer(data: Mapping[str, object], key: str, what: str, *, minimum: int = 0) -> int:
    """Returns `data[key]` if it is an integer (not a boolean) of at least `minimum`. Raises ProtocolError."""
    value = data[key]
    if type(value) is not int or value < minimum:
        raise ProtocolError(f"{what}: {key} must be an integer of at least {minimum}")
    return value


def boolean(data: Mapping[str, object], key: str, what: str) -> bool:
    """Returns `data[key]` if it is true or false. Raises ProtocolError."""
    value = data[key]
    if not isinstance(value, bool):
        raise ProtocolError(f"{what}: {key} must be true or false")
    return value


def b64u_digest(data: Mapping[str, object], key: str, what: str) -> str:
    """Returns `data[key]` if it is the unpadded base64url of a 32-byte digest. Raises ProtocolError."""
    value = data[key]
    try:
        b64u_decode(value, length=32)  # type: ignore[arg-type]  # b64u_decode refuses non-strings
    except CryptoError as e:
        raise ProtocolError(f"{what}: {key} must be the base64url of a 32-byte digest") from e
    assert isinstance(value, str)  # noqa: S101 - b64u_decode accepted it
    return value


def utc_second(data: Mapping[str, object], key: str, what: str) -> datetime:
    """Returns `data[key]`, a UTC time to the second written `YYYY-MM-DDTHH:MM:SSZ`. Raises ProtocolError."""
    value = text(data, key, what, pattern=_UTC_SECOND)
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError as e:
        raise ProtocolError(f"{what}: {key} is not a valid date and time") from e


def utc_second_text(moment: datetime) -> str:
    """Returns `moment` in UTC to the second as `YYYY-MM-DDTHH:MM:SSZ` (utc_second reads it back)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
