"""A legal officer's signing key held by the browser (WebCrypto Ed25519, non-extractable): made and
registered on /officer/key, then used from the request page to submit and to co-sign, verified by the
server exactly like a key file's signature."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from escrow.crypto.disclosure import sign_court_order
from escrow.crypto.transcript import b64u_encode
from escrow.services.disclosure import registered_officer_key
from tests.browser.conftest import check_page
from tests.browser.support import (
    Portal,
    fill_disclosure_form,
    person_gets_a_credential,
    running_portal,
    sign_in,
)
from tests.browser.test_disclosure import COURT, PERSON, PLATFORM
from tests.disclosure_support import PDF
from tests.oprf_support import OprfNetwork

pytestmark = pytest.mark.browser

_PRIVATE_KEY_EXPORT = """async (username) => {
  const db = await new Promise((ok) => {
    const r = indexedDB.open("escrow-officer-keys", 1);
    r.onsuccess = () => ok(r.result);
  });
  const pair = await new Promise((ok) => {
    const r = db.transaction("keys").objectStore("keys").get(location.origin + " " + username);
    r.onsuccess = () => ok(r.result);
  });
  try { await crypto.subtle.exportKey("pkcs8", pair.privateKey); return "exported"; }
  catch (e) { return pair.privateKey.extractable ? "extractable" : "refused"; }
}"""


@pytest.fixture
def portal(tmp_path: Path, oprf_network: OprfNetwork) -> Iterator[Portal]:
    with running_portal(tmp_path / "portal", holder_files=True, network=oprf_network) as portal:
        yield portal


def _make_browser_key(page: Any, portal: Portal, username: str) -> str:
    """The officer makes a key in this browser on /officer/key; returns the public key registered."""
    page.goto(portal.url + "/officer/key")
    check_page(page)
    page.get_by_role("button", name="Make a key in this browser and register it").click()
    expect(page.get_by_text("Registered. Fingerprint:")).to_be_visible()
    with portal.extension.session_factory() as session:
        registered = registered_officer_key(session, username)
    assert registered is not None
    expect(page.locator("#registered-key")).to_have_text(registered)
    expect(page.get_by_text(f"public key {registered}")).to_be_visible()
    return registered


def test_officer_makes_a_non_extractable_browser_key_and_registers_it(page: Any, portal: Portal) -> None:
    portal.add_staff("olga", "legal_officer")
    sign_in(page, portal, "olga")

    _make_browser_key(page, portal, "olga")

    assert page.evaluate(_PRIVATE_KEY_EXPORT, "olga") == "refused"


def test_officers_submit_and_cosign_with_browser_keys(
    page: Any, new_page: Callable[[], Any], portal: Portal, tmp_path: Path
) -> None:
    # Given: a person's credential, a court, two officers of different organisations with browser keys
    portal.add_platform(PLATFORM, "Example Forum")
    court_seed = portal.add_court(COURT, "EX")
    portal.add_staff("olga", "legal_officer", organisation="Forum Legal")
    portal.add_staff("pavel", "legal_officer", organisation="Public Prosecution Service")
    credential = person_gets_a_credential(page, portal, PERSON.username, PLATFORM)
    order = tmp_path / "order.pdf"
    order.write_bytes(PDF)
    olga, pavel = new_page(), new_page()
    sign_in(olga, portal, "olga")
    _make_browser_key(olga, portal, "olga")
    sign_in(pavel, portal, "pavel")
    _make_browser_key(pavel, portal, "pavel")

    # When: olga drafts and submits with her browser key
    fill_disclosure_form(
        olga,
        portal,
        court=f"{COURT} (EX)",
        case_number="2026/CR/0099",
        scope=f"{credential.platform_id} {credential.pseudonym} {credential.envelope_digest}",
        order=order,
        court_signature_b64=b64u_encode(sign_court_order(court_seed, PDF)),
    )
    expect(olga).to_have_url(re.compile(r"/officer/disclosures/\d+$"))
    request_path = olga.url.removeprefix(portal.url)
    olga.get_by_role("button", name="Submit with this browser's key").click()
    heading = olga.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r": submitted$"))
    check_page(olga)
    # The submitter is offered no browser co-signature on her own request
    expect(olga.get_by_role("button", name="Co-sign with this browser's key")).to_have_count(0)

    # Then: pavel co-signs from his browser, and the request waits for the key-holders
    pavel.goto(portal.url + request_path)
    pavel.get_by_role("button", name="Co-sign with this browser's key").click()
    expect(pavel.get_by_role("heading", level=1)).to_have_text(re.compile(r": cosigned$"))
    check_page(pavel)
    expect(pavel.get_by_role("link", name="the key-holders' page of this request")).to_be_visible()


def test_a_browser_whose_key_is_not_the_registered_one_does_not_offer_to_sign(
    page: Any, new_page: Callable[[], Any], portal: Portal, tmp_path: Path
) -> None:
    portal.add_staff("olga", "legal_officer")
    sign_in(page, portal, "olga")
    _make_browser_key(page, portal, "olga")
    # The same officer then makes a key in a second browser: it replaces the first one's registration
    other = new_page()
    sign_in(other, portal, "olga")
    _make_browser_key(other, portal, "olga")

    page.goto(portal.url + "/officer/key")

    expect(page.get_by_text("This browser holds a signing key for olga")).to_be_visible()
    registered = page.locator("#registered-key").inner_text()
    assert page.get_by_text(f"public key {registered}").count() == 0
