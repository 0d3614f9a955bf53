"""The disclosure story in a real browser (issue 8): legal officers draft, submit and co-sign a court
order, key-holders see the request and decide with their tools, the submitter views the revealed
identity, another officer is refused it, and the person is told.

Everything is real: the portal over HTTP on 127.0.0.1, the `escrow` command line run exactly as the
pages print it (only the passphrase file and --yes added), officer keys from `escrow officer init`,
holder files from the development ceremony. Every page is checked for console errors, outside requests
(conftest.guard) and the accessibility basics (support.page_problems).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from escrow.client.verifier import VerifiedCredential
from escrow.crypto.disclosure import sign_court_order
from escrow.crypto.transcript import b64u_encode
from escrow.identity.devidp import DEMO_USERS
from escrow.keystore import write_secret_file
from escrow.services.dev_ceremony import DEV_THRESHOLD
from escrow.services.dev_ceremony import PASSPHRASE_FILE as HOLDER_PASSPHRASE_FILE
from tests.browser.conftest import check_page
from tests.browser.support import (
    Portal,
    fill_disclosure_form,
    make_officer_key,
    open_page,
    person_gets_a_credential,
    run_escrow,
    run_shown_command,
    running_portal,
    sign_as_shown,
    sign_in,
    signing_command,
)
from tests.disclosure_support import PDF
from tests.oprf_support import OprfNetwork

pytestmark = pytest.mark.browser

COURT = "District Court of Example"
CASE = "2026/CR/0042"
PLATFORM = "forum"
PERSON = DEMO_USERS[0]  # the development identity provider's "alice"
# username -> organisation: the submitter and a co-signer from another organisation, and an officer of
# the submitter's organisation who is on no request.
OFFICERS = {"olga": "Forum Legal", "pavel": "Public Prosecution Service", "quinn": "Forum Legal"}
ORG_SEEDS = {organisation: os.urandom(32) for organisation in set(OFFICERS.values())}
NOT_FOUND_CONSOLE = (
    "console error: Failed to load resource: the server responded with a status of 404 (NOT FOUND)"
)


@pytest.fixture
def portal(tmp_path: Path, oprf_network: OprfNetwork) -> Iterator[Portal]:
    """Overrides conftest's portal: the active 3-of-5 key has key-holders with holder files."""
    with running_portal(tmp_path / "portal", holder_files=True, network=oprf_network) as portal:
        yield portal


@pytest.fixture
def court_seed(portal: Portal) -> bytes:
    """A platform, a court with a signing key, and the three legal officers; returns the court's seed."""
    portal.add_platform(PLATFORM, "Example Forum")
    for username, organisation in OFFICERS.items():
        portal.add_staff(username, "legal_officer", organisation=organisation)
    seed = portal.add_court(COURT, "EX")
    # The key-holders sign the roster of this court and the officers' organisations (issue 16)
    portal.sign_roster([(COURT, "EX", seed)], ORG_SEEDS)
    return seed


def _officer_signs_in_with_key(new_page: Callable[[], Any], portal: Portal, username: str, home: Path) -> Any:
    """An officer makes a key with `escrow officer init` and registers its public key on /officer/key."""
    public_key = make_officer_key(home, username)
    page = new_page()
    sign_in(page, portal, username)
    page.get_by_role("link", name="My signing key").click()
    expect(page).to_have_url(re.compile(r"/officer/key$"))
    check_page(page)
    page.get_by_label("Public key (base64url)").fill(public_key)
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.get_by_text("Registered. Fingerprint:")).to_be_visible()
    check_page(page)
    # Their organisation certifies the key (`escrow org certify`), and they record it on the same page
    organisation = OFFICERS[username]
    write_secret_file(home / "org.seed", ORG_SEEDS[organisation])
    run_escrow(
        ["org", "certify", "--key", "org.seed", "--organisation", organisation, "--username", username]
        + ["--officer-key", public_key, "--out", "cert.json"],
        cwd=home,
    )
    page.get_by_label("Certificate").fill((home / "cert.json").read_text())
    page.get_by_role("button", name="Record certificate").click()
    expect(page.get_by_text("Registered. Fingerprint:")).to_be_visible()
    check_page(page)
    return page


def _fill_draft(page: Any, portal: Portal, court_seed: bytes, scope: str, order: Path) -> None:
    fill_disclosure_form(
        page,
        portal,
        court=f"{COURT} (EX)",
        case_number=CASE,
        scope=scope,
        order=order,
        court_signature_b64=b64u_encode(sign_court_order(court_seed, PDF)),
    )


def _draft(page: Any, portal: Portal, court_seed: bytes, credential: VerifiedCredential, order: Path) -> int:
    """Drafts a request for `credential`; returns the new request's id from the page's URL."""
    scope = f"{credential.platform_id} {credential.pseudonym} {credential.envelope_digest}"
    _fill_draft(page, portal, court_seed, scope, order)
    expect(page).to_have_url(re.compile(r"/officer/disclosures/\d+$"))
    check_page(page)
    return int(page.url.rsplit("/", 1)[1])


def test_officers_carry_a_court_order_to_the_revealed_identity_in_the_browser(
    page: Any,
    new_page: Callable[[], Any],
    portal: Portal,
    court_seed: bytes,
    tmp_path: Path,
    browser_problems: list[str],
) -> None:
    # Given: a person with a credential the platform verified, and the court's order as a PDF file
    credential = person_gets_a_credential(page, portal, PERSON.username, PLATFORM)
    order = tmp_path / "order.pdf"
    order.write_bytes(PDF)
    olga_home, pavel_home = tmp_path / "olga", tmp_path / "pavel"

    # 1. Officer olga registers her key, drafts the request in the form and submits with the shown command
    olga = _officer_signs_in_with_key(new_page, portal, "olga", olga_home)
    request_id = _draft(olga, portal, court_seed, credential, order)
    heading = olga.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Disclosure request {request_id}: draft")
    expect(olga.get_by_text(credential.envelope_digest)).to_be_visible()
    expect(signing_command(olga)).to_have_text(
        f"escrow officer submit request-{request_id}.json --server {portal.url} --key-file officer.key"
    )
    output = sign_as_shown(olga, request_id, olga_home)
    assert f"request {request_id} is now submitted" in output
    olga.reload()
    check_page(olga)
    expect(heading).to_have_text(f"Disclosure request {request_id}: submitted")
    expect(olga.get_by_text("Waiting for another legal officer to co-sign")).to_be_visible()
    expect(signing_command(olga)).to_have_count(0)  # she cannot co-sign her own request

    # 2. Officer pavel (another organisation) finds it in the list and co-signs with the shown command
    pavel = _officer_signs_in_with_key(new_page, portal, "pavel", pavel_home)
    open_page(pavel, portal.url + "/officer/disclosures")
    pavel.get_by_role("link", name=str(request_id), exact=True).click()
    expect(pavel).to_have_url(re.compile(rf"/officer/disclosures/{request_id}$"))
    check_page(pavel)
    expect(signing_command(pavel)).to_have_text(
        f"escrow officer cosign request-{request_id}.json --server {portal.url} --key-file officer.key"
    )
    output = sign_as_shown(pavel, request_id, pavel_home)
    assert f"request {request_id} is now cosigned" in output
    pavel.reload()
    check_page(pavel)
    expect(pavel.get_by_role("heading", level=1)).to_have_text(f"Disclosure request {request_id}: cosigned")
    expect(pavel.locator("dd").filter(has_text="pavel")).to_have_count(1)
    expect(signing_command(pavel)).to_have_count(0)

    # 3. The key-holders' page, linked from the officers' page, shows the request and the exact
    # command, and asks for no secret
    link = pavel.get_by_role("link", name="the key-holders' page of this request")
    holders_url = portal.url + str(link.get_attribute("href"))
    assert holders_url == f"{portal.url}/keyholder/disclosures/{request_id}"
    holder_page = new_page()
    open_page(holder_page, holders_url)
    main = holder_page.get_by_role("main")
    expect(main).to_contain_text(f"{COURT} (EX)")
    expect(main).to_contain_text(CASE)
    expect(main).to_contain_text("verified")  # the court's signature on the order
    digest = olga.locator("dt:has-text('Request digest') + dd").inner_text()
    expect(main).to_contain_text(digest)
    expect(holder_page.locator("dt:has-text('Pseudonyms in scope') + dd")).to_contain_text("1")
    # The page is public: the pseudonym and the envelope digest stay in the holder's tool (step 4)
    expect(main).not_to_contain_text(credential.pseudonym)
    expect(main).not_to_contain_text(credential.envelope_digest)
    approve_command = (
        f"escrow keyholder approve {request_id} --server {portal.url} --holder-file holder.escrow"
    )
    expect(holder_page.locator("pre").first).to_have_text(approve_command)
    expect(holder_page.locator("input[type=password], input[type=file], textarea")).to_have_count(0)
    expect(holder_page.locator("form[method=post]")).to_have_count(0)

    # 4. Three key-holders each run that command on their own machine, with their holder file
    assert portal.holders_dir is not None
    outputs = []
    for j in range(1, DEV_THRESHOLD + 1):
        home = tmp_path / f"holder-{j}"
        home.mkdir()
        shutil.copy(portal.holders_dir / f"holder-{j}.escrow", home / "holder.escrow")
        passphrase = portal.holders_dir / HOLDER_PASSPHRASE_FILE
        outputs.append(run_shown_command(approve_command, cwd=home, passphrase_file=passphrase))
    assert f"case: {CASE}" in outputs[0]
    assert credential.envelope_digest in outputs[0]
    assert "proven in the signed checkpoint" in outputs[0]
    assert f"request {request_id} is disclosed" in outputs[-1]
    holder_page.reload()
    check_page(holder_page)
    expect(holder_page.get_by_role("heading", level=1)).to_have_text(
        f"Disclosure request {request_id}: disclosed"
    )

    # 5. Olga opens the revealed identity in her own tool, with the command the page shows: the one the
    # person registered with, checked by the OPRF nodes; the page itself never shows it (issue 14)
    olga.reload()
    check_page(olga)
    olga.get_by_role("link", name="Open the disclosed identity in your officer tool").click()
    expect(olga).to_have_url(re.compile(rf"/officer/disclosures/{request_id}/identity$"))
    check_page(olga)
    expect(olga.get_by_role("heading", level=1)).to_have_text(
        f"Disclosure request {request_id}: open the disclosed identity"
    )
    expect(olga.get_by_role("main")).not_to_contain_text(PERSON.name)
    with olga.expect_download() as download:
        olga.get_by_role("link", name=f"request-{request_id}.json").click()
    download.value.save_as(olga_home / download.value.suggested_filename)
    reveal_command = olga.locator("pre").filter(has_text="escrow officer reveal").inner_text()
    assert reveal_command == (
        f"escrow officer reveal request-{request_id}.json --server {portal.url} --key-file officer.key"
    )
    output = run_shown_command(reveal_command, cwd=olga_home, passphrase_file=olga_home / "passphrase")
    assert f"{PLATFORM} / {credential.pseudonym}:" in output
    assert f"name: {PERSON.name}" in output
    assert f"birthdate: {PERSON.birthdate}" in output
    # and quinn, a legal officer of her organisation who is not on the request, finds no such request
    # (issue 16: who may read a request; a 404, so she does not learn that it exists)
    quinn = new_page()
    sign_in(quinn, portal, "quinn")
    response = quinn.goto(f"{portal.url}/officer/disclosures/{request_id}/identity")  # no such request
    assert response is not None
    assert response.status == 404
    check_page(quinn)
    expect(quinn.get_by_role("main")).not_to_contain_text(PERSON.name)
    expect(quinn.get_by_role("heading", level=1)).to_contain_text("404")
    browser_problems.remove(NOT_FOUND_CONSOLE)  # Chromium logs the 404 it was meant to get

    # 6. The person's page tells them (the delay was 0 days)
    open_page(page, portal.url + "/account/credentials")
    notice = page.get_by_role("region", name="Your identity was disclosed")
    expect(notice).to_contain_text(f"for {COURT}, case {CASE}.")


def test_draft_form_says_why_it_refuses_an_envelope_digest(
    page: Any,
    new_page: Callable[[], Any],
    portal: Portal,
    court_seed: bytes,
    tmp_path: Path,
    browser_problems: list[str],
) -> None:
    # Given: a person's credential, and an officer with a digest that is not its envelope's
    credential = person_gets_a_credential(page, portal, PERSON.username, PLATFORM)
    order = tmp_path / "order.pdf"
    order.write_bytes(PDF)
    olga = new_page()
    sign_in(olga, portal, "olga")

    # When: she drafts the request with it
    wrong_digest = b64u_encode(bytes(32))
    _fill_draft(olga, portal, court_seed, f"{PLATFORM} {credential.pseudonym} {wrong_digest}", order)

    # Then: the form comes back with what she typed and says what is wrong, and no request was drafted
    expect(olga.get_by_role("heading", level=1)).to_have_text("New disclosure request")
    check_page(olga)
    expect(olga.get_by_role("alert")).to_contain_text(
        "an envelope digest does not match a stored envelope for that pseudonym"
    )
    expect(olga.get_by_label("Case number")).to_have_value(CASE)
    open_page(olga, portal.url + "/officer/disclosures")
    expect(olga.get_by_role("cell", name="None yet.")).to_be_visible()
    browser_problems.remove(
        "console error: Failed to load resource: the server responded with a status of 422 "
        "(UNPROCESSABLE ENTITY)"
    )
