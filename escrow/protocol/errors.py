"""Errors of the wire formats: a message that does not parse, or a version this code does not speak."""

from __future__ import annotations

from escrow.errors import ValidationError


class ProtocolError(ValidationError):
    """A message from another machine is malformed: wrong type, missing or extra field, bad encoding."""

    code = "protocol-error"
    title = "Malformed message"


class UnsupportedVersionError(ProtocolError):
    """A message carries a version this code does not understand; the detail names both versions."""

    code = "unsupported-version"
    title = "Unsupported message version"

    def __init__(self, what: str, version: object, supported: tuple[int, ...]) -> None:
        understood = ", ".join(str(v) for v in supported)
        super().__init__(
            f"{what} version {version!r} is not supported (this tool understands {understood}); "
            "upgrade the tool if the version is newer"
        )
        self.version = version
