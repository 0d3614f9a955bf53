"""A small HTTP client for the tools in escrow.client (stdlib only, so auditors need nothing more)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from escrow.errors import EscrowError

TIMEOUT_S = 30
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class RemoteError(EscrowError):
    """The server could not be reached, or answered with an error."""

    code = "remote-error"
    title = "Server error"


@dataclass(frozen=True, slots=True)
class HttpClient:
    """GETs paths under one base URL; errors become RemoteError with the server's problem detail."""

    base_url: str

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RemoteError(f"server URL must be http(s)://host[:port], got {self.base_url!r}")

    def get_bytes(self, path: str, params: dict[str, int] | None = None) -> bytes:
        url = self.base_url.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - scheme checked
                return bytes(response.read(MAX_RESPONSE_BYTES))
        except urllib.error.HTTPError as e:
            detail = _problem_detail(e.read(4096))
            raise RemoteError(f"{path}: HTTP {e.code}{': ' + detail if detail else ''}") from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise RemoteError(f"cannot reach {self.base_url}: {getattr(e, 'reason', e)}") from e

    def get_json(self, path: str, params: dict[str, int] | None = None) -> Any:
        try:
            return json.loads(self.get_bytes(path, params))
        except ValueError as e:
            raise RemoteError(f"{path}: the server did not answer JSON") from e

    def get_text(self, path: str) -> str:
        try:
            return self.get_bytes(path).decode()
        except UnicodeDecodeError as e:
            raise RemoteError(f"{path}: the server did not answer UTF-8 text") from e


def _problem_detail(body: bytes) -> str:
    try:
        problem = json.loads(body)
    except ValueError:
        return ""
    return str(problem.get("detail", "")) if isinstance(problem, dict) else ""
