"""The submitting officer opens a disclosed request in the page with the key this browser holds (issue 14):
officers submit and co-sign with browser keys, three key-holders approve with their tools, and the page
(static/officer-reveal.js) opens the envelope and checks with the OPRF nodes that it is the person
behind the pseudonym, as `escrow officer reveal` does, while the server sees nothing it could open.

Everything is real: the portal over HTTP on 127.0.0.1, the suite's OPRF nodes, holder files from the
development ceremony, the key-holders' command exactly as their page prints it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from base64 import b64encode
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from escrow.client.disclosure.officers import certify_officer
from escrow.client.verifier import VerifiedCredential
from escrow.crypto.disclosure import sign_court_order
from escrow.crypto.errors import CryptoError
from escrow.crypto.seal import (
    Envelope,
    IdentitySeal,
    PartialDecryption,
    SealKey,
    combine_partials,
    open_with_secret_point,
    reseal,
    seal,
)
from escrow.crypto.transcript import b64u_decode, b64u_encode
from escrow.identity.devidp import DEMO_USERS
from escrow.identity.officer import DocumentCheck
from escrow.models import (
    Credential,
    DisclosureDecision,
    DisclosureRequest,
    DisclosureScope,
    Person,
    StaffAccount,
)
from escrow.protocol.disclosure import DisclosureBody
from escrow.services.dev_ceremony import DEV_THRESHOLD
from escrow.services.dev_ceremony import PASSPHRASE_FILE as HOLDER_PASSPHRASE_FILE
from escrow.services.disclosure import record_officer_certificate
from escrow.services.escrow_keys import active_escrow_key
from escrow.services.registration import login_with_password, register_in_person
from escrow.services.staff import get_staff
from tests.browser.conftest import check_page
from tests.browser.support import (
    Portal,
    fill_disclosure_form,
    person_gets_a_credential,
    run_shown_command,
    running_portal,
    sign_in,
)
from tests.browser.test_browser_key import _make_browser_key
from tests.disclosure_support import PDF
from tests.oprf_support import OprfNetwork

pytestmark = pytest.mark.browser

COURT = "District Court of Example"
PLATFORM = "forum"
PERSON = DEMO_USERS[0]
VICTIM_NAME = "Vera Victim"
VICTIM_DOCUMENT = ("NLD", "VV7654321")
VICTIM_PASSWORD = "the victim's long passphrase"
STATIC = Path(__file__).resolve().parents[2] / "escrow" / "static"
OPEN_TIMEOUT_MS = 30_000  # the reveal signs, fetches, verifies proofs and asks the OPRF nodes


@pytest.fixture
def portal(tmp_path: Path, oprf_network: OprfNetwork) -> Iterator[Portal]:
    """The active 3-of-5 key has key-holders with holder files (the development ceremony)."""
    with running_portal(tmp_path / "portal", holder_files=True, network=oprf_network) as portal:
        portal.add_platform(PLATFORM, "Example Forum")
        for username, organisation in ORGANISATIONS.items():
            portal.add_staff(username, "legal_officer", organisation=organisation)
        yield portal


def _disclose_with_browser_keys(
    portal: Portal, new_page: Callable[[], Any], tmp_path: Path, pseudonym: str, envelope_digest: str
) -> tuple[Any, int]:
    """Olga submits and pavel co-signs with their browser keys, three key-holders approve with their
    tools; returns olga's page and the request id."""
    court_seed = portal.add_court(COURT, "EX")
    order = tmp_path / "order.pdf"
    order.write_bytes(PDF)
    olga, pavel = new_page(), new_page()
    sign_in(olga, portal, "olga")
    olga_key = _make_browser_key(olga, portal, "olga")
    sign_in(pavel, portal, "pavel")
    pavel_key = _make_browser_key(pavel, portal, "pavel")
    # The key-holders sign the roster of this court and the officers' organisations, whose keys
    # certify the officers' browser keys (issue 16)
    portal.sign_roster([(COURT, "EX", court_seed)], ORG_SEEDS)
    _certify(portal, {"olga": olga_key, "pavel": pavel_key})
    fill_disclosure_form(
        olga,
        portal,
        court=f"{COURT} (EX)",
        case_number="2026/CR/0142",
        scope=f"{PLATFORM} {pseudonym} {envelope_digest}",
        order=order,
        court_signature_b64=b64u_encode(sign_court_order(court_seed, PDF)),
    )
    expect(olga).to_have_url(re.compile(r"/officer/disclosures/\d+$"))
    request_id = int(olga.url.rsplit("/", 1)[1])
    olga.get_by_role("button", name="Submit with this browser's key").click()
    expect(olga.get_by_role("heading", level=1)).to_have_text(re.compile(r": submitted$"))
    pavel.goto(f"{portal.url}/officer/disclosures/{request_id}")
    pavel.get_by_role("button", name="Co-sign with this browser's key").click()
    expect(pavel.get_by_role("heading", level=1)).to_have_text(re.compile(r": cosigned$"))
    assert portal.holders_dir is not None
    command = f"escrow keyholder approve {request_id} --server {portal.url} --holder-file holder.escrow"
    for j in range(1, DEV_THRESHOLD + 1):
        home = tmp_path / f"holder-{j}"
        home.mkdir()
        shutil.copy(portal.holders_dir / f"holder-{j}.escrow", home / "holder.escrow")
        output = run_shown_command(
            command, cwd=home, passphrase_file=portal.holders_dir / HOLDER_PASSPHRASE_FILE
        )
    assert f"request {request_id} is disclosed" in output
    return olga, request_id


ORGANISATIONS = {"olga": "Forum Legal", "pavel": "Public Prosecution Service"}
ORG_SEEDS = {organisation: os.urandom(32) for organisation in ORGANISATIONS.values()}


def _certify(portal: Portal, keys: dict[str, str]) -> None:
    """Each officer's organisation certifies their registered key (`escrow org certify`'s code), and the
    officer records the certificate through the service, as their key page does."""
    now = datetime.now(UTC)
    with portal.extension.session_factory() as session:
        for username, key in keys.items():
            officer = session.scalars(select(StaffAccount).where(StaffAccount.username == username)).one()
            organisation = ORGANISATIONS[username]
            record = certify_officer(
                ORG_SEEDS[organisation],
                username=username,
                organisation=organisation,
                officer_key_b64=key,
                not_before=now - timedelta(minutes=5),
                not_after=now + timedelta(days=365),
            )
            record_officer_certificate(
                session,
                actor=get_staff(session, officer.id),
                certificate=record["certificate"],
                signature_b64=record["signature"],
                log=portal.extension.log,
                now=now,
            )


def _open_in_the_page(olga: Any, portal: Portal, request_id: int) -> Any:
    """Olga opens the identity page and presses the button; returns the reveal section."""
    olga.goto(f"{portal.url}/officer/disclosures/{request_id}/identity")
    check_page(olga)
    section = olga.get_by_role("region", name="Or open it in this browser")
    section.get_by_role("button", name="Open in this browser").click()
    expect(section.get_by_role("status")).not_to_have_text("Opening…", timeout=OPEN_TIMEOUT_MS)
    expect(section.get_by_role("status")).not_to_have_text("", timeout=OPEN_TIMEOUT_MS)
    return section


def _sri(name: str) -> str:
    return "sha384-" + b64encode(hashlib.sha384((STATIC / name).read_bytes()).digest()).decode()


def _database_bytes(portal_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(portal_dir.rglob("*.sqlite3*")))


def test_the_submitting_officer_opens_the_identity_in_the_page_and_the_server_holds_nothing_that_opens_it(
    page: Any,
    new_page: Callable[[], Any],
    portal: Portal,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given: a person's credential, disclosed on a request olga submitted with her browser key
    credential = person_gets_a_credential(page, portal, PERSON.username, PLATFORM)
    olga, request_id = _disclose_with_browser_keys(
        portal, new_page, tmp_path, credential.pseudonym, credential.envelope_digest
    )
    sent: list[str] = []
    olga.on("request", lambda request: sent.append(f"{request.url} {request.post_data or ''}"))

    # When: she opens it in the page
    section = _open_in_the_page(olga, portal, request_id)

    # Then: the page shows the registered identity, verified with the OPRF nodes
    expect(section.get_by_role("status")).to_have_text("Opened in this browser: 1 of 1 identity verified.")
    shown = section.locator("section[data-verdict=verified]")
    expect(shown.get_by_role("heading", level=3)).to_have_text(f"{PLATFORM} / {credential.pseudonym}")
    expect(shown.locator("dt:text-is('name') + dd")).to_have_text(PERSON.name)
    expect(shown.locator("dt:text-is('birthdate') + dd")).to_have_text(PERSON.birthdate)
    check_page(olga)
    # the scripts came with the integrity hashes of the files
    for name in ("vendor/noble.js", "officer-key.js", "officer-reveal.js"):
        tag = olga.locator(f"script[src='/static/{name}']")
        expect(tag).to_have_attribute("integrity", _sri(name))
    # and nothing the page sent, nothing the server logged or stored, holds the identity
    assert any("/reveal" in s for s in sent)
    assert any("/oprf-check" in s for s in sent)
    assert not [s for s in sent if PERSON.name in s or PERSON.birthdate in s]
    assert PERSON.name not in caplog.text
    assert PERSON.name.encode() not in _database_bytes(tmp_path / "portal")
    _stored_partials_open_nothing(portal, request_id)


def _stored_partials_open_nothing(portal: Portal, request_id: int) -> None:
    """What the database holds after the reveal (the holders' partials of R + B) opens no envelope."""
    with portal.extension.session_factory() as session:
        key = active_escrow_key(session)
        scope = session.scalars(select(DisclosureScope).where(DisclosureScope.request_id == request_id)).one()
        envelope = Envelope.from_bytes(scope.envelope)
        stored = [
            PartialDecryption.from_dict(json.loads(p)[0])
            for p in session.scalars(
                select(DisclosureDecision.partials).where(DisclosureDecision.request_id == request_id)
            )
            if p is not None
        ]
        row = session.get(DisclosureRequest, request_id)
        assert row is not None
        body = DisclosureBody.from_dict(json.loads(row.body))
        digest = row.digest
    assert len(stored) >= DEV_THRESHOLD
    combined = combine_partials(key, envelope, digest, stored, blind=body.blinding[0])
    with pytest.raises(CryptoError):
        open_with_secret_point(key, envelope, combined)


def _victim_secret_and_seal(portal: Portal) -> tuple[Any, bytes]:
    """Registers an innocent second person; returns the secret of their signed-in session and their
    stored identity seal (what a server compromised while they were signed in holds)."""
    extension = portal.extension
    with extension.session_factory() as session:
        register_in_person(
            session,
            check=DocumentCheck("passport", *VICTIM_DOCUMENT, VICTIM_NAME, "1985-06-07"),
            password=VICTIM_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=extension.log,
            now=datetime.now(UTC),
        )
        signed_in = login_with_password(
            session,
            issuing_country=VICTIM_DOCUMENT[0],
            document_number=VICTIM_DOCUMENT[1],
            password=VICTIM_PASSWORD,
            oprf=extension.oprf,
            hasher=extension.password_hasher,
            log=extension.log,
            now=datetime.now(UTC),
        )
        victim = session.get(Person, signed_in.account.id)
        assert victim is not None
        return signed_in.secret, victim.identity_seal


def _swap_in_mixed_envelope(portal: Portal, credential: VerifiedCredential) -> str:
    """The compromised server builds the troll's envelope from the victim's seal and seal key (a valid
    proof: it chose the randomness), under the troll's platform and pseudonym; returns its digest."""
    secret, seal = _victim_secret_and_seal(portal)
    with portal.extension.session_factory() as session:
        row = session.scalars(select(Credential).where(Credential.pseudonym == credential.pseudonym)).one()
        mixed = reseal(
            active_escrow_key(session),
            SealKey(secret.seal_key_material()),
            IdentitySeal.from_dict(json.loads(seal)),
            {"platform": PLATFORM, "pseudonym": credential.pseudonym, "envelope_id": row.jti},
        )
        row.envelope, row.envelope_digest = mixed.to_bytes(), b64u_encode(mixed.digest())
        session.commit()
    assert b64u_decode(b64u_encode(mixed.digest()), length=32) == mixed.digest()
    return b64u_encode(mixed.digest())


def test_a_swapped_or_mixed_envelope_is_refused_in_the_page_and_shows_no_identity(
    page: Any, new_page: Callable[[], Any], portal: Portal, tmp_path: Path
) -> None:
    # Given: the troll's credential, whose envelope a compromised server rebuilt from a victim's seal
    credential = person_gets_a_credential(page, portal, PERSON.username, PLATFORM)
    mixed_digest = _swap_in_mixed_envelope(portal, credential)
    # and an honest court order on the troll's pseudonym (the platform's digest is the mixed one)
    olga, request_id = _disclose_with_browser_keys(
        portal, new_page, tmp_path, credential.pseudonym, mixed_digest
    )

    # When: the server first serves, in the reveal package, another envelope it made for the same
    # platform and pseudonym (a valid proof of knowledge, another digest)
    with portal.extension.session_factory() as session:
        other = seal(
            active_escrow_key(session),
            b'{"provider":"x","issuer":"x","subject":"x","name":"Someone Else"}',
            {"platform": PLATFORM, "pseudonym": credential.pseudonym, "envelope_id": "other"},
        )

    def serve_other(route: Any) -> None:
        response = route.fetch()
        package = response.json()
        package["envelopes"][0] = other.to_dict()
        route.fulfill(response=response, json=package)

    reveal_path = f"**/api/v1/disclosures/{request_id}/reveal"
    olga.route(reveal_path, serve_other)
    section = _open_in_the_page(olga, portal, request_id)

    # Then: the page refuses the package and shows nothing
    expect(section.get_by_role("status")).to_have_text(
        f"Refused: the envelope for {PLATFORM}/{credential.pseudonym} does not match the digest the "
        "officers signed (tampered or substituted); refusing. No identity is shown."
    )
    expect(section.locator("dd")).to_have_count(0)

    # When: olga opens it in the page, served as stored
    olga.unroute(reveal_path)
    section = _open_in_the_page(olga, portal, request_id)

    # Then: it opens, the OPRF check fails, and the page shows no identity and says why
    expect(section.get_by_role("status")).to_have_text("Opened in this browser: 0 of 1 identity verified.")
    refused = section.locator("section[data-verdict=substituted]")
    expect(refused).to_contain_text("do not include the one in scope")
    expect(section).not_to_contain_text(VICTIM_NAME)
    expect(section).not_to_contain_text(PERSON.name)
    expect(section.locator("dd")).to_have_count(0)
    check_page(olga)


def test_a_library_changed_after_the_server_started_is_refused_by_its_integrity_hash(
    page: Any, new_page: Callable[[], Any], portal: Portal, tmp_path: Path, browser_problems: list[str]
) -> None:
    # Given: olga's draft, her key in this browser, and the vendored library changed on its way to her
    credential = person_gets_a_credential(page, portal, PERSON.username, PLATFORM)
    court_seed = portal.add_court(COURT, "EX")
    order = tmp_path / "order.pdf"
    order.write_bytes(PDF)
    olga = new_page()
    sign_in(olga, portal, "olga")
    _make_browser_key(olga, portal, "olga")
    fill_disclosure_form(
        olga,
        portal,
        court=f"{COURT} (EX)",
        case_number="2026/CR/0143",
        scope=f"{PLATFORM} {credential.pseudonym} {credential.envelope_digest}",
        order=order,
        court_signature_b64=b64u_encode(sign_court_order(court_seed, PDF)),
    )
    expect(olga).to_have_url(re.compile(r"/officer/disclosures/\d+$"))
    identity_page = olga.url + "/identity"
    button = olga.locator("[data-browser-reveal] button")
    olga.goto(identity_page)
    expect(button).to_be_visible()  # the control: unchanged, the page offers to open the request
    changed = (STATIC / "vendor" / "noble.js").read_bytes() + b"\n// one byte more\n"
    olga.route(
        "**/static/vendor/noble.js",
        lambda route: route.fulfill(body=changed, content_type="text/javascript"),
    )

    # When: she opens the identity page again
    olga.goto(identity_page)

    # Then: Chromium refuses the script, so the page offers nothing to open the request with
    expect(olga.get_by_role("heading", level=1)).to_contain_text("open the disclosed identity")
    expect(button).to_have_count(1)
    expect(button).to_be_hidden()
    refused = [p for p in browser_problems if "integrity" in p and "noble.js" in p]
    assert refused, browser_problems
    for problem in refused:
        browser_problems.remove(problem)
