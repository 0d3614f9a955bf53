"""HTTP for the OIDC client: urllib for real providers, an in-process WSGI transport for the dev IdP.

The WSGI transport speaks the same HTTP requests to a WSGI app instead of a socket; the escrow uses it
for the development identity provider mounted in its own process (and tests use it the same way), so
the OIDC client code path is identical to a real provider's.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

TIMEOUT_S = 10
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str]


class HttpClient(Protocol):
    """GET and form POST, returning status, body and headers; OSError if the server is unreachable."""

    def get(self, url: str) -> HttpResponse: ...

    def post_form(self, url: str, data: Mapping[str, str]) -> HttpResponse: ...


class UrllibHttp:
    """HTTP(S) through urllib, with a timeout and a body size limit."""

    def get(self, url: str) -> HttpResponse:
        return self._send(urllib.request.Request(_checked(url), headers={"Accept": "application/json"}))  # noqa: S310

    def post_form(self, url: str, data: Mapping[str, str]) -> HttpResponse:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(  # noqa: S310
            _checked(url),
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> HttpResponse:
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return HttpResponse(
                    response.status, response.read(MAX_BODY_BYTES), dict(response.headers.items())
                )
        except urllib.error.HTTPError as e:
            with e:  # an HTTPError holds the connection open until closed
                return HttpResponse(e.code, e.read(MAX_BODY_BYTES), dict(e.headers.items()))


class WsgiHttp:
    """HTTP to in-process WSGI apps, each mounted at a base URL (e.g. the dev IdP's issuer URL)."""

    def __init__(self, apps: Mapping[str, Any]) -> None:
        # Imported here: only the in-process transport needs werkzeug, not the OIDC client itself.
        from werkzeug.test import Client

        self._clients = {base.rstrip("/"): Client(app) for base, app in apps.items()}

    def get(self, url: str) -> HttpResponse:
        client, path = self._route(url)
        response = client.get(path, headers={"Accept": "application/json"})
        return HttpResponse(response.status_code, response.get_data(), dict(response.headers.items()))

    def post_form(self, url: str, data: Mapping[str, str]) -> HttpResponse:
        client, path = self._route(url)
        response = client.post(path, data=dict(data), headers={"Accept": "application/json"})
        return HttpResponse(response.status_code, response.get_data(), dict(response.headers.items()))

    def _route(self, url: str) -> tuple[Any, str]:
        for base, client in self._clients.items():
            if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
                return client, url[len(base) :] or "/"
        raise OSError(f"no in-process app serves {url}")


def _checked(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise OSError("only http(s) URLs are fetched")
    return url
