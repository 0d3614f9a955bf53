"""`make screenshots`: PNGs of the main page of each role, written into docs/screenshots/.

Starts the same portal as the browser tests (its own database, the development identity provider, an
active escrow key), fills it with a little example data through the real services and pages, and
photographs each page in Debian's Chromium. Usage: python -m tests.browser.screenshots OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser.support import (
    CHROMIUM,
    STEP_TIMEOUT_MS,
    Portal,
    chromium_args,
    is_loopback,
    page_problems,
    running_portal,
    temporary_directory,
)
from tests.conftest import STAFF_PASSWORD

VIEWPORT = {"width": 1100, "height": 800}


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with temporary_directory() as tmp, running_portal(tmp / "portal") as portal, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args())
        try:
            problems = _photograph(browser, portal, out)
        finally:
            browser.close()
    for problem in problems:
        print(f"screenshots: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _photograph(browser: Any, portal: Portal, out: Path) -> list[str]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if is_loopback(route.request.url)
            else (problems.append(f"outside request: {route.request.url}"), route.abort())
        ),
    )

    def shoot(name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(portal.url + path)
        problems.extend(f"{name}: {p}" for p in page_problems(page))
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        print(f"screenshots: wrote {out / f'{name}.png'}")

    # Example data: an admin, two invited key-holders; a platform and a person come through the pages.
    portal.add_staff("ada", "admin")
    holder = portal.invite_keyholder("Hana Holder")
    portal.invite_keyholder("Ivo Holder")

    shoot("public-landing", "/")
    shoot("staff-login", "/login")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(portal.url + "/admin/platforms")
    page.get_by_label("Id (a-z, 0-9, -)").fill("forum")
    page.get_by_label("Name").fill("Example Forum")
    page.get_by_label("Contact (abuse desk)").fill("abuse@forum.example")
    page.get_by_role("button", name="Register").click()
    shoot("admin-platforms", "/admin/platforms")
    shoot("admin-keyholders", "/admin/keyholders")
    shoot("admin-ceremonies", "/admin/ceremonies")
    page.get_by_role("button", name="Sign out").click()
    # The platform's own staff: their API keys (one just created, shown once) and integration help.
    portal.add_staff("forum-staff", "platform", platform="forum")
    page.goto(portal.url + "/login")
    page.get_by_label("Username").fill("forum-staff")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(portal.url + "/platform/api-keys")
    page.get_by_role("button", name="Create an API key").click()
    shoot("platform-api-keys")
    shoot("platform-integration", "/platform/integration")
    page.get_by_role("button", name="Sign out").click()
    shoot("keyholder-page", f"/keyholders/{holder.holder_id}")

    page.goto(portal.url + "/account/register")
    shoot("person-register")
    page.get_by_role("link", name="Register with your identity provider").click()
    page.get_by_label("User").select_option("alice")
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Platform").select_option("forum")
    page.get_by_role("button", name="Issue credential").click()
    # The page as the person finds it later: the credential listed, its token no longer shown.
    shoot("person-credentials", "/account/credentials")
    page.get_by_role("button", name="Sign out").click()
    # Last, so that the report has activity (a registration, a credential) to chart.
    shoot("public-transparency-report", "/transparency")
    context.close()
    return problems


if __name__ == "__main__":
    sys.exit(main(sys.argv))
