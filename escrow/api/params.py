"""Query-parameter parsing for JSON endpoints: bad input becomes a ValidationError (422 problem)."""

from __future__ import annotations

from flask import request

from escrow.errors import ValidationError

MAX_QUERY_INT = 2**62


def int_arg(name: str, *, default: int | None = None, minimum: int = 0) -> int:
    """Returns the integer query parameter `name`. Raises ValidationError if missing or malformed."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ValidationError(f"query parameter {name!r} is required")
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise ValidationError(f"query parameter {name!r} must be a non-negative integer")
    value = int(raw)
    if value < minimum or value > MAX_QUERY_INT:
        raise ValidationError(f"query parameter {name!r} must be at least {minimum}")
    return value
