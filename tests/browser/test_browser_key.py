"""A legal officer's signing key held by the browser (WebCrypto Ed25519, non-extractable)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from escrow.services import totp
from escrow.services.disclosures import registered_officer_key
from tests.browser.conftest import check_page
from tests.browser.support import Portal
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def sign_in_officer(page: Any, portal: Portal, username: str) -> None:
    """Password, then the authenticator enrolment a first sign-in asks for (the code typed from the key)."""
    page.goto(portal.url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login/authenticator$"))
    secret = "".join(page.locator("#totp-secret").inner_text().split())
    page.get_by_label("Six-digit code").fill(totp.code_at(secret, totp.current_step(datetime.now(UTC))))
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_text(f"Signed in as {username.title()}.")).to_be_visible()


def test_officer_makes_a_non_extractable_key_in_the_browser_and_registers_it(
    page: Any, portal: Portal
) -> None:
    portal.add_staff("olga", "legal_officer")
    sign_in_officer(page, portal, "olga")

    page.goto(portal.url + "/officer/key")
    check_page(page)
    page.get_by_role("button", name="Make a key in this browser and register it").click()
    expect(page.get_by_text("Registered. Fingerprint:")).to_be_visible()

    with portal.extension.session_factory() as session:
        registered = registered_officer_key(session, "olga")
    assert registered is not None
    expect(page.locator("#registered-key")).to_have_text(registered)
    # The browser says it holds that very key, and its private half cannot be exported
    expect(page.get_by_text(f"public key {registered}")).to_be_visible()
    extractable = page.evaluate(
        """async () => {
          const db = await new Promise((ok) => {
            const r = indexedDB.open("escrow-officer-keys", 1);
            r.onsuccess = () => ok(r.result);
          });
          const pair = await new Promise((ok) => {
            const r = db.transaction("keys").objectStore("keys").get(location.origin + " olga");
            r.onsuccess = () => ok(r.result);
          });
          try { await crypto.subtle.exportKey("pkcs8", pair.privateKey); return "exported"; }
          catch (e) { return pair.privateKey.extractable ? "extractable" : "refused"; }
        }"""
    )
    assert extractable == "refused"
