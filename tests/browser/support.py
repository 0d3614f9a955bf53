"""A portal to drive in a browser: the real app on 127.0.0.1 over its own committed database, with the
development identity provider mounted and an active escrow key; plus the checks every page must pass.

Shared by the browser tests (conftest.py) and `make screenshots` (screenshots.py). Nothing is mocked:
the escrow key comes from a real in-process ceremony, identities from the development OIDC provider.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.config import Settings
from escrow.services import keyholders as keyholder_service
from escrow.services.escrow_keys import install_escrow_key
from escrow.services.platforms import register_platform
from escrow.services.staff import create_staff
from escrow.web.session import EscrowExtension, get_extension
from tests.conftest import STAFF_PASSWORD, _migrated_database
from tests.credentials_support import threshold_key

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = (
    f"browser tests skipped: Chromium not found at {CHROMIUM} (install it with `apt-get install -y chromium`)"
)
STEP_TIMEOUT_MS = 5_000  # every Playwright step: a page of this app answers in well under a second
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def chromium_args() -> list[str]:
    """Flags for Debian's Chromium: headless, no sandbox (root in CI), nothing phoning home.

    No --user-data-dir: Playwright refuses it in launch() and already gives every launch a fresh
    temporary profile of its own, deleted when the browser closes.
    """
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
    ]


@dataclasses.dataclass(frozen=True)
class Portal:
    """A running server: its base URL and the app's extension (services are called through it)."""

    url: str
    extension: EscrowExtension

    def add_staff(self, username: str, *roles: str, platform: str | None = None) -> None:
        with self.extension.session_factory() as session:
            create_staff(
                session,
                self.extension.password_hasher,
                self.extension.log,
                username=username,
                display_name=username.title(),
                organisation="Escrow Operator",
                roles=roles,
                password=STAFF_PASSWORD,
                now=datetime.now(UTC),
                platform_id=platform,
            )

    def add_platform(self, platform_id: str, name: str) -> None:
        with self.extension.session_factory() as session:
            register_platform(
                session,
                platform_id=platform_id,
                name=name,
                contact=f"abuse@{platform_id}.example",
                redirect_uris=[f"https://{platform_id}.example/callback"],
                log=self.extension.log,
                now=datetime.now(UTC),
            )
            session.commit()

    def invite_keyholder(self, name: str) -> keyholder_service.Invitation:
        with self.extension.session_factory() as session:
            return keyholder_service.invite_keyholder(
                session,
                name=name,
                organisation="Example Court Trustees",
                contact="trustees@example.org",
                log=self.extension.log,
                now=datetime.now(UTC),
            )


@contextlib.contextmanager
def running_portal(directory: Path) -> Iterator[Portal]:
    """Serves the app on 127.0.0.1 (port chosen by the OS) until the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    with _migrated_database(directory) as database_url:
        # Bind first: the issuer URL (and so the OIDC redirect) must name the real port.
        server = make_server("127.0.0.1", 0, _not_ready, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        settings = dataclasses.replace(
            Settings.for_tests(database_url, directory / "keys", instance_path=directory / "instance"),
            issuer_url=url,
            dev_idp_enabled=True,
        )
        app = create_app(settings)
        server.app = app
        extension = get_extension(app)
        with extension.session_factory() as session:
            key, _ = threshold_key()
            install_escrow_key(session, key, log=extension.log, now=datetime.now(UTC))
            session.commit()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Portal(url, extension)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            extension.engine.dispose()


def _not_ready(environ: Any, start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@contextlib.contextmanager
def temporary_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="escrow-browser-") as name:
        yield Path(name)


def is_loopback(url: str) -> bool:
    """True for http(s) URLs on 127.0.0.1/localhost and for browser-internal schemes (data:, about:)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "about", "blob"):
        return True
    return parts.hostname in LOOPBACK_HOSTS


# Run in the page: every problem a screen-reader user or a newcomer would meet on this page.
PAGE_PROBLEMS_JS = """
() => {
  const problems = [];
  if (!document.title.trim()) problems.push("no <title>");
  const h1 = document.querySelectorAll("h1");
  if (h1.length === 0) problems.push("no <h1>");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.type === "submit" || el.type === "button") continue;
    const named = el.labels.length > 0 || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  return problems;
}
"""


def page_problems(page: Any) -> list[str]:
    """Returns the accessibility basics this page misses: <title>, <h1>, a label for every control."""
    problems: list[str] = page.evaluate(PAGE_PROBLEMS_JS)
    return problems
