"""A legal officer's second factor in a real browser: enrol from the QR page, then sign in with a code."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from escrow.services import totp
from tests.browser.conftest import check_page
from tests.browser.support import Portal
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def _password(page: Any, visit: Any, username: str) -> None:
    visit("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_legal_officer_enrols_an_authenticator_then_signs_in_with_a_code(
    page: Any, visit: Any, portal: Portal
) -> None:
    portal.add_staff("olga", "legal_officer")

    _password(page, visit, "olga")
    expect(page).to_have_url(re.compile(r"/login/authenticator$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator")
    expect(page.locator("figure.qr svg")).to_be_visible()
    check_page(page)
    secret = "".join(page.locator("#totp-secret").inner_text().split())
    step = totp.current_step(datetime.now(UTC))
    page.get_by_label("Six-digit code").fill(totp.code_at(secret, step))
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_text("Signed in as Olga.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    # The sign-out's redirect must land before the next navigation: a page aborted mid-answer can still
    # set its (new, server-side) session cookie after the next page's, whose form token then mismatches.
    expect(page.get_by_role("link", name="Staff sign-in")).to_be_visible()
    page.wait_for_load_state("load")

    _password(page, visit, "olga")
    expect(page).to_have_url(re.compile(r"/login/code$"))
    check_page(page)
    page.get_by_label("Six-digit code").fill(totp.code_at(secret, step + 1))
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_text("Signed in as Olga.")).to_be_visible()
