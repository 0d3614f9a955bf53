"""Subresource Integrity for the page scripts (issue 14): the sha384 of every script under static/,
computed once when the app starts, that templates put in the ``integrity`` attribute of its tag.

The browser refuses a script whose bytes differ from the hash, and a module imported by a script is
held to the hash of its own tag when the page loads it with one (officer-reveal.js imports
vendor/noble.js and officer-key.js; identity.html loads all three with hashes). What this guards against
is a file changed on disk or on the way after the server started, or a cache serving another copy:
not a server that serves a hostile page, which can put any hash it likes (docs/disclosure.md).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

SCRIPT_SUFFIXES = (".js",)


def integrity_of(data: bytes) -> str:
    """Returns the SRI value for `data`: "sha384-" and the base64 SHA-384 digest (W3C SRI, section 3.1)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def script_integrity(static_folder: str | Path | None) -> dict[str, str]:
    """Returns {path under static/, with forward slashes: SRI value} for every script in it."""
    if static_folder is None:
        return {}
    root = Path(static_folder)
    return {
        path.relative_to(root).as_posix(): integrity_of(path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in SCRIPT_SUFFIXES
    }
