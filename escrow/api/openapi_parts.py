"""Schema pieces shared by the OpenAPI fragments kept beside their views (ceremony, disclosures)."""

from __future__ import annotations

from typing import Any


def json_body(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body with a real schema (never a bare object)."""
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


def b64u_bytes(length: int, description: str) -> dict[str, Any]:
    """Unpadded base64url of exactly `length` bytes (b64u_decode(..., length=...) refuses anything else)."""
    chars = (4 * length + 2) // 3
    return {
        "type": "string",
        "pattern": "^[A-Za-z0-9_-]*$",
        "minLength": chars,
        "maxLength": chars,
        "description": description,
    }
