"""`make screenshots`: PNGs of the main page of each role, written into docs/screenshots/.

Starts the same portal as the browser tests (its own database, the development identity provider, an
active escrow key), fills it with a little example data through the real services, pages and command-line
tools (a disclosure request drafted in the form, submitted and co-signed with `escrow officer`), and
photographs each page in Debian's Chromium. Usage: python -m tests.browser.screenshots OUT_DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from escrow.client.verifier import CredentialVerifier, VerifiedCredential
from escrow.crypto.disclosure import sign_court_order
from escrow.crypto.transcript import b64u_encode
from tests.browser.support import (
    CHROMIUM,
    STEP_TIMEOUT_MS,
    Portal,
    chromium_args,
    fill_disclosure_form,
    finish_sign_in,
    is_loopback,
    make_officer_key,
    page_problems,
    running_portal,
    sign_as_shown,
    sign_in,
    temporary_directory,
)
from tests.conftest import STAFF_PASSWORD
from tests.disclosure_support import PDF

VIEWPORT = {"width": 1100, "height": 800}


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with temporary_directory() as tmp, running_portal(tmp / "portal") as portal, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=chromium_args())
        try:
            problems = _photograph(browser, portal, out, tmp)
        finally:
            browser.close()
    for problem in problems:
        print(f"screenshots: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _photograph(browser: Any, portal: Portal, out: Path, tmp: Path) -> list[str]:
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
    sign_in(page, portal, "ada")
    page.goto(portal.url + "/admin/platforms")
    page.get_by_label("Id (a-z, 0-9, -)").fill("forum")
    page.get_by_label("Name").fill("Example Forum")
    page.get_by_label("Contact (abuse desk)").fill("abuse@forum.example")
    page.get_by_role("button", name="Register", exact=True).click()
    shoot("admin-platforms", "/admin/platforms")
    shoot("admin-keyholders", "/admin/keyholders")
    shoot("admin-ceremonies", "/admin/ceremonies")
    page.get_by_role("button", name="Sign out").click()
    # The platform's own staff: their API keys (one just created, shown once) and integration help.
    portal.add_staff("forum-staff", "platform", platform="forum")
    sign_in(page, portal, "forum-staff")
    page.goto(portal.url + "/platform/api-keys")
    page.get_by_role("button", name="Create an API key").click()
    shoot("platform-api-keys")
    shoot("platform-integration", "/platform/integration")
    page.get_by_role("button", name="Sign out").click()
    shoot("keyholder-page", f"/keyholders/{holder.holder_id}")

    page.goto(portal.url + "/account/register")
    shoot("person-register")
    page.get_by_role("link", name="Register with Development identity provider").click()
    page.get_by_label("User").select_option("alice")
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Platform").select_option("forum")
    page.get_by_role("button", name="Issue credential").click()
    token = page.get_by_label("Your new credential (JWT)").input_value()
    credential = CredentialVerifier(issuer=portal.url, platform_id="forum").verify(token)
    # The page as the person finds it later: the credential listed, its token no longer shown.
    shoot("person-credentials", "/account/credentials")
    page.get_by_role("button", name="Sign out").click()

    request_id = _disclosure_request(page, portal, tmp, credential, shoot)
    shoot("keyholder-request", f"/keyholder/disclosures/{request_id}")
    # Last, so that the report has activity (a registration, a credential) to chart.
    shoot("public-transparency-report", "/transparency")
    context.close()
    return problems


def _disclosure_request(
    page: Any, portal: Portal, tmp: Path, credential: VerifiedCredential, shoot: Any
) -> int:
    """Officer olga drafts a request for `credential` (photographed with its submit command) and
    submits it; pavel, of another organisation, co-signs. Returns the request's id."""
    court_seed = portal.add_court("District Court of Example", "EX")
    order = tmp / "order.pdf"
    order.write_bytes(PDF)
    request_id = 0
    for username, organisation in (("olga", "Forum Legal"), ("pavel", "Public Prosecution Service")):
        portal.add_staff(username, "legal_officer", organisation=organisation)
        public_key = make_officer_key(tmp / username, username)
        if username == "olga":  # her first sign-in: enrolling the authenticator app (TOTP)
            page.goto(portal.url + "/login")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(STAFF_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("figure.qr svg")).to_be_visible()
            shoot("officer-authenticator")
            finish_sign_in(page, username)
        else:
            sign_in(page, portal, username)
        page.goto(portal.url + "/officer/key")
        page.get_by_label("Public key (base64url)").fill(public_key)
        page.get_by_role("button", name="Register", exact=True).click()
        expect(page.get_by_text("Registered. Fingerprint:")).to_be_visible()
        if not request_id:
            fill_disclosure_form(
                page,
                portal,
                court="District Court of Example (EX)",
                case_number="2026/CR/0042",
                scope=f"{credential.platform_id} {credential.pseudonym} {credential.envelope_digest}",
                order=order,
                court_signature_b64=b64u_encode(sign_court_order(court_seed, PDF)),
                notify_delay_days=30,
            )
            page.wait_for_url(re.compile(r"/officer/disclosures/\d+$"))
            request_id = int(page.url.rsplit("/", 1)[1])
            shoot("officer-request")
        else:
            page.goto(f"{portal.url}/officer/disclosures/{request_id}")
        sign_as_shown(page, request_id, tmp / username)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("Signed out.")).to_be_visible()
    return request_id


if __name__ == "__main__":
    sys.exit(main(sys.argv))
