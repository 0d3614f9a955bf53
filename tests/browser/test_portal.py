"""Each role's pages in a real browser (Debian's Chromium): what a person, a staff member, an admin, a
key-holder and the public see, driven as they would drive it, keyboard included."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.conftest import check_page
from tests.browser.support import Portal, finish_sign_in, open_page, register_person, sign_in
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def test_person_registers_through_the_identity_provider_and_gets_a_credential(
    page: Any, visit: Any, portal: Portal
) -> None:
    # Given: an admin registered a platform on the admin page
    portal.add_staff("ada", "admin")
    sign_in(page, portal, "ada")
    visit("/admin/platforms")
    page.get_by_label("Id (a-z, 0-9, -)").fill("forum")
    page.get_by_label("Name").fill("Example Forum")
    page.get_by_label("Contact (abuse desk)").fill("abuse@forum.example")
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/admin/platforms/forum$"))
    check_page(page)
    page.get_by_role("button", name="Sign out").click()

    # When: a person registers through the development identity provider and asks for a credential
    register_person(page, portal, "alice")
    page.get_by_label("Platform").select_option("forum")
    page.get_by_role("button", name="Issue credential").click()

    # Then: the credential is shown once, and listed with its pseudonym
    expect(page.get_by_text("it is shown only once")).to_be_visible()
    check_page(page)
    token = page.locator("textarea").input_value()
    assert token.count(".") == 2  # a compact JWT
    row = page.get_by_role("row").filter(has_text="forum")
    expect(row.get_by_role("cell", name="active")).to_be_visible()


def test_staff_member_signs_in_and_out(page: Any, visit: Any, portal: Portal) -> None:
    portal.add_staff("vera", "verification_officer")

    sign_in(page, portal, "vera")
    check_page(page)
    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_text("Signed out.")).to_be_visible()
    expect(page.get_by_role("link", name="Staff sign-in")).to_be_visible()


def test_wrong_password_is_refused_with_an_announced_message(
    page: Any, visit: Any, portal: Portal, browser_problems: list[str]
) -> None:
    portal.add_staff("vera", "verification_officer")
    visit("/login")

    page.get_by_label("Username").fill("vera")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("status")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # The refused login answers 401 on purpose; Chromium logs that status as a console error.
    expected = (
        "console error: Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"
    )
    browser_problems.remove(expected)


def test_login_form_works_with_the_keyboard_alone(page: Any, visit: Any, portal: Portal) -> None:
    portal.add_staff("kim", "admin")
    visit("/login")

    # Tab from the top of the page until the username field has focus (bounded: a few links first)
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.name") == "username":
            break
    else:
        pytest.fail("Tab never reached the username field")
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "password"
    page.keyboard.type(STAFF_PASSWORD)
    page.keyboard.press("Enter")

    finish_sign_in(page, "kim")


def test_admin_sees_key_holders_and_ceremonies(page: Any, visit: Any, portal: Portal) -> None:
    portal.add_staff("ada", "admin")
    portal.invite_keyholder("Hana Holder")
    sign_in(page, portal, "ada")

    visit("/admin/keyholders")
    expect(page.get_by_role("heading", level=1)).to_have_text("Key-holders")
    expect(page.get_by_role("cell", name="Hana Holder")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Ceremonies").click()
    expect(page).to_have_url(re.compile(r"/admin/ceremonies$"))  # the new page, before checking it
    check_page(page)

    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Ceremonies", re.IGNORECASE))
    expect(page.get_by_label(re.compile("Threshold"))).to_be_visible()


def test_admin_invites_a_key_holder_and_sees_the_command_once(page: Any, visit: Any, portal: Portal) -> None:
    portal.add_staff("ada", "admin")
    sign_in(page, portal, "ada")
    visit("/admin/keyholders")

    page.get_by_label("Name").fill("Ines Holder")
    page.get_by_label("Organisation").fill("Example Trustees")
    page.get_by_label("Contact (e-mail or phone)").fill("ines@example.org")
    page.get_by_role("button", name="Invite").click()

    notice = page.locator(".notice")
    expect(notice).to_contain_text(f"escrow keyholder init --server {portal.url} --invite ")
    check_page(page)


def test_key_holder_page_shows_the_exact_command_to_run_next(page: Any, visit: Any, portal: Portal) -> None:
    invitation = portal.invite_keyholder("Hana Holder")

    visit(f"/keyholders/{invitation.holder_id}")

    expect(page.get_by_role("heading", level=1)).to_have_text("Key-holder Hana Holder")
    expect(page.locator("code").first).to_have_text(
        f"escrow keyholder init --server {portal.url} --invite CODE --out holder.escrow"
    )


def test_public_transparency_report_renders_its_chart(page: Any, visit: Any, portal: Portal) -> None:
    # Given: some activity to chart (a registration and a credential, this quarter)
    portal.add_platform("forum", "Example Forum")
    register_person(page, portal, "bob")
    page.get_by_label("Platform").select_option("forum")
    page.get_by_role("button", name="Issue credential").click()

    visit("/transparency")

    expect(page.get_by_role("heading", level=1)).to_have_text("Transparency report")
    chart = page.locator("figure svg[role=img]")
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_name("Escrow activity per quarter")
    expect(chart.locator("rect").first).to_be_visible()
    expect(page.get_by_text("any 3 of its 5 key-holders")).to_be_visible()


def test_a_second_browser_is_guarded_like_the_first(
    new_page: Any, portal: Portal, browser_problems: list[str]
) -> None:
    other = new_page()
    open_page(other, portal.url + "/")

    # A script's outside request (refused by our CSP: a console error) and a navigation outside
    other.evaluate("() => fetch('https://example.org/script').catch(() => null)")
    with pytest.raises(PlaywrightError):
        other.goto("https://example.org/page")

    assert any("example.org/script" in p and p.startswith("console error") for p in browser_problems)
    assert "request left localhost: https://example.org/page" in browser_problems
    browser_problems[:] = [p for p in browser_problems if "example.org" not in p]


@pytest.mark.parametrize("path", ["/", "/account/register", "/account/login", "/login", "/transparency"])
def test_public_pages_have_a_title_a_heading_and_labelled_controls(visit: Any, path: str) -> None:
    visit(path)


def test_platform_staff_create_an_api_key_and_revoke_it(page: Any, visit: Any, portal: Portal) -> None:
    # Given: a platform and a login of its own staff (issue 8)
    portal.add_platform("forum", "Example Forum")
    portal.add_staff("forum-staff", "platform", platform="forum")
    sign_in(page, portal, "forum-staff")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Platforms")).to_have_count(0)  # no admin links
    expect(nav.get_by_role("link", name="Integration help")).to_be_visible()

    # When: they open their API keys from the navigation and create one
    nav.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys of Example Forum")
    check_page(page)
    page.get_by_role("button", name="Create an API key").click()

    # Then: the key is shown once, and listed by its prefix as active
    expect(page.get_by_text("it is shown only once")).to_be_visible()
    check_page(page)
    api_key = page.locator("#new-api-key").inner_text()
    assert re.fullmatch(r"esk_[A-Za-z0-9]{10}_[A-Za-z0-9_-]{43}", api_key)
    prefix = api_key[:14]
    row = page.get_by_role("row").filter(has_text=prefix)
    expect(row.get_by_role("cell", name="active")).to_be_visible()

    # and revoking it (keyboard: focus the button, press Enter) marks it revoked
    row.get_by_role("button", name=f"Revoke API key {prefix}").press("Enter")
    expect(page.get_by_text(f"API key {prefix} revoked.")).to_be_visible()
    expect(
        page.get_by_role("row").filter(has_text=prefix).get_by_role("cell", name="revoked")
    ).to_be_visible()
    visit("/platform/integration")
    expect(page.locator("#client-id")).to_have_text("forum")
