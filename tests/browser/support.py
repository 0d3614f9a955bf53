"""A portal to drive in a browser: the real app on 127.0.0.1 over its own committed database, with the
development identity provider mounted and an active escrow key; plus the checks every page must pass,
the one staff sign-in every browser test and `make screenshots` go through, and the officers' and
key-holders' command-line tools run as the pages tell them to.

Shared by the browser tests (conftest.py) and `make screenshots` (screenshots.py). Nothing is mocked:
the escrow key comes from a real in-process ceremony, identities from the development OIDC provider.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from playwright.sync_api import expect
from werkzeug.serving import make_server

from escrow.app import create_app
from escrow.bootstrap import Components
from escrow.cli.main import cli
from escrow.client.disclosure.roster import sign_version
from escrow.client.holder import HolderClient, UrllibTransport
from escrow.client.verifier import CredentialVerifier, VerifiedCredential
from escrow.config import Settings
from escrow.crypto.disclosure import public_key
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.crypto.transcript import b64u_encode
from escrow.httpkit import get_components
from escrow.services import keyholders as keyholder_service
from escrow.services.dev_ceremony import DEV_HOLDERS_DIR, ensure_dev_escrow_key
from escrow.services.dev_ceremony import PASSPHRASE_FILE as DEV_PASSPHRASE_FILE
from escrow.services.disclosure import add_court
from escrow.services.platforms import register_platform
from escrow.services.roster import propose_roster
from escrow.services.staff import create_staff
from tests.conftest import STAFF_PASSWORD, _migrated_database
from tests.credentials_support import install_key
from tests.oprf_support import OprfNetwork, log_oprf_activation, start_network
from tests.staff_support import forget_authenticator, next_code

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
    """A running server: its base URL and the app's extension (services are called through it).

    `holders_dir` holds holder-1..5.escrow and their PASSPHRASE file when the portal was started with
    holder files (a 3-of-5 key whose key-holders can approve disclosures); else it is None.
    """

    url: str
    extension: Components
    holders_dir: Path | None = None

    def add_staff(
        self, username: str, *roles: str, organisation: str = "Escrow Operator", platform: str | None = None
    ) -> None:
        """A staff member whose display name is `username.title()` and password STAFF_PASSWORD."""
        with self.extension.session_factory() as session:
            create_staff(
                session,
                self.extension.password_hasher,
                self.extension.log,
                username=username,
                display_name=username.title(),
                organisation=organisation,
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

    def add_court(self, name: str, jurisdiction: str) -> bytes:
        """Registers a court with a fresh signing key; returns its seed (to sign orders with)."""
        seed = os.urandom(32)
        with self.extension.session_factory() as session:
            add_court(
                session,
                name=name,
                jurisdiction=jurisdiction,
                public_key_b64=b64u_encode(public_key(seed)),
                log=self.extension.log,
                now=datetime.now(UTC),
            )
        return seed

    def sign_roster(self, courts: list[tuple[str, str, bytes]], organisations: dict[str, bytes]) -> None:
        """Proposes a roster of `courts` (name, jurisdiction, seed) and `organisations` (name -> seed)
        and has every holder in holders_dir sign it with the holder tool over HTTP (issue 16)."""
        assert self.holders_dir is not None, "start the portal with holder files"
        with self.extension.session_factory() as session:
            document = propose_roster(
                session,
                courts=[
                    {"name": n, "jurisdiction": j, "public_key": b64u_encode(public_key(k))}
                    for n, j, k in courts
                ],
                organisations=[
                    {
                        "name": o,
                        "public_key": b64u_encode(public_key(k)),
                        "may_submit": True,
                        "may_cosign": True,
                    }
                    for o, k in sorted(organisations.items())
                ],
                log=self.extension.log,
                now=datetime.now(UTC),
            )
        passphrase = (self.holders_dir / DEV_PASSPHRASE_FILE).read_text().strip()
        for path in sorted(self.holders_dir.glob("holder-*.escrow")):
            secrets = decrypt_holder_file(path.read_bytes(), passphrase)
            client = HolderClient(UrllibTransport(self.url), secrets.signing_seed)
            sign_version(client, secrets, document.roster, None)

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
def running_portal(
    directory: Path, *, holder_files: bool = False, network: OprfNetwork | None = None
) -> Iterator[Portal]:
    """Serves the app on 127.0.0.1 (port chosen by the OS) until the block ends.

    With `holder_files`, the active key comes from the development ceremony (escrow/services/
    dev_ceremony.py, as `make run` does): five key-holders on record, their files in Portal.holders_dir.
    `network`: the OPRF nodes to use (the test session's); None starts three of its own for the block
    (`make screenshots` runs outside pytest).
    """
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if network is None:
            network = start_network(directory / "oprf-nodes")
            stack.callback(network.stop)
        yield stack.enter_context(_serve_portal(directory, holder_files=holder_files, network=network))


@contextlib.contextmanager
def _serve_portal(directory: Path, *, holder_files: bool, network: OprfNetwork) -> Iterator[Portal]:
    with _migrated_database(directory, network) as database_url:
        # Bind first: the issuer URL (and so the OIDC redirect) must name the real port.
        server = make_server("127.0.0.1", 0, _not_ready, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        settings = dataclasses.replace(
            Settings.for_tests(database_url, directory / "keys", instance_path=directory / "instance"),
            issuer_url=url,
            dev_idp_enabled=True,
            oprf_nodes=network.endpoints,
            oprf_client_key=network.client_seed,
        )
        app = create_app(settings)
        server.app = app
        extension = get_components(app)
        holders_dir = None
        with extension.session_factory() as session:
            if holder_files:
                dev = dataclasses.replace(settings, dev_mode=True)
                ensure_dev_escrow_key(session, dev, log=extension.log, now=datetime.now(UTC))
                holders_dir = settings.keys_dir / DEV_HOLDERS_DIR
            else:
                install_key(session, log=extension.log, now=datetime.now(UTC))
            log_oprf_activation(session, extension.log, now=datetime.now(UTC))
        extension.start_sequencing()  # as every server process does (issue 15): queued events reach the log
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Portal(url, extension, holders_dir)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            extension.close()


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


def open_page(page: Any, url: str) -> Any:
    """Opens `url`, which must answer below 400 and pass page_problems; returns the response."""
    response = page.goto(url)
    assert response is not None
    assert response.status < 400, f"{url}: {response.status}"
    assert page_problems(page) == [], page.url
    return response


def sign_in(page: Any, portal: Portal, username: str) -> None:
    """Signs staff member `username` (made by Portal.add_staff) in on /login.

    Every browser staff login goes through here (or finish_sign_in), so a second login step (TOTP for
    legal officers, issue 6) is added in one place.
    """
    open_page(page, portal.url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    finish_sign_in(page, username)


def finish_sign_in(page: Any, username: str) -> None:
    """What follows a correct password, up to the signed-in page (for tests that type it themselves).

    Legal officers answer the second step as a person with an authenticator app would: at the first
    sign-in they type the key the enrolment page shows into the "phone" (tests.staff_support) and
    enter its code; later sign-ins enter a fresh code from it.
    """
    expect(page.locator("h1")).not_to_have_text("Staff sign-in")
    server = page.url.split("/login", 1)[0]
    if re.search(r"/login/authenticator$", page.url):
        assert page_problems(page) == [], page.url
        secret = "".join(page.locator("#totp-secret").inner_text().split())
        forget_authenticator(server, username)
        page.get_by_label("Six-digit code").fill(next_code(server, username, secret))
        page.get_by_role("button", name="Confirm and sign in").click()
    elif re.search(r"/login/code$", page.url):
        assert page_problems(page) == [], page.url
        page.get_by_label("Six-digit code").fill(next_code(server, username))
        page.get_by_role("button", name="Verify and sign in").click()
    expect(page.get_by_text(f"Signed in as {username.title()}.")).to_be_visible()
    assert page_problems(page) == [], page.url


def register_person(page: Any, portal: Portal, username: str) -> None:
    """A person registers through the development identity provider as its user `username`."""
    open_page(page, portal.url + "/account/register")
    page.get_by_role("link", name="Register with Development identity provider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to the development identity provider")
    assert page_problems(page) == [], page.url
    page.get_by_label("User").select_option(username)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/account/credentials$"))
    assert page_problems(page) == [], page.url


def person_gets_a_credential(page: Any, portal: Portal, username: str, platform: str) -> VerifiedCredential:
    """The person registers and asks for a credential; the platform verifies it with the SDK (which is
    where an officer gets the pseudonym and envelope digest from)."""
    register_person(page, portal, username)
    page.get_by_label("Platform").select_option(platform)
    page.get_by_role("button", name="Issue credential").click()
    token_field = page.get_by_label("Your new credential (JWT)")
    expect(token_field).to_be_visible()  # the new page, before checking it
    assert page_problems(page) == [], page.url
    return CredentialVerifier(issuer=portal.url, platform_id=platform).verify(token_field.input_value())


def run_escrow(args: list[str], *, cwd: Path) -> str:
    """Runs the `escrow` command line (in this process, through click) in `cwd`; returns its output.

    Fails the test, with the output, unless it exits 0.
    """
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, f"escrow {shlex.join(args)}:\n{result.output}"
    return result.output


def run_shown_command(command: str, *, cwd: Path, passphrase_file: Path) -> str:
    """Runs a command exactly as a page shows it (`escrow ...`), in `cwd`, adding only what a person
    would type themselves: the passphrase (from a file) and --yes for the confirmation question."""
    argv = shlex.split(command)
    assert argv[0] == "escrow", command
    return run_escrow([*argv[1:], "--passphrase-file", str(passphrase_file), "--yes"], cwd=cwd)


def make_officer_key(directory: Path, username: str) -> str:
    """`escrow officer init` in `directory`: writes officer.key and passphrase there (cheap KDF, tests
    only); returns the printed public key."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "passphrase").write_text(f"passphrase of {username}, long enough\n")
    output = run_escrow(
        [
            "officer",
            "init",
            "--username",
            username,
            "--out",
            "officer.key",
            "--passphrase-file",
            "passphrase",
            "--insecure-fast-kdf",
        ],
        cwd=directory,
    )
    match = re.search(r"public key: (\S+)", output)
    assert match is not None, output
    return match.group(1)


def fill_disclosure_form(
    page: Any,
    portal: Portal,
    *,
    court: str,
    case_number: str,
    scope: str,
    order: Path,
    court_signature_b64: str,
    notify_delay_days: int = 0,
) -> None:
    """A legal officer fills /officer/disclosures/new (expiry in 14 days) and sends it.

    `court` is the option's label, `scope` the text of the scope field, `order` the PDF to upload.
    """
    open_page(page, portal.url + "/officer/disclosures/new")
    page.get_by_role("combobox", name=re.compile(r"^Court\b")).select_option(label=court)
    page.get_by_label("Case number").fill(case_number)
    page.get_by_label("Court order (PDF, at most 4 MiB)").set_input_files(str(order))
    page.get_by_label("Court's detached signature").fill(court_signature_b64)
    page.get_by_label("Legal basis").fill("Criminal procedure code art. 126nd (threats)")
    page.get_by_label("Pseudonyms in scope").fill(scope)
    expires = datetime.now(UTC) + timedelta(days=14)
    page.get_by_label("Expires (UTC)").fill(expires.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Tell the person after (days)").fill(str(notify_delay_days))
    page.get_by_role("button", name="Draft request").click()


def sign_as_shown(page: Any, request_id: int, home: Path) -> str:
    """On an officer's request page: downloads request-<id>.json into `home` (where officer.key and
    passphrase are, see make_officer_key) and runs the command the page shows; returns its output."""
    with page.expect_download() as download:
        page.get_by_role("link", name=f"request-{request_id}.json").click()
    assert download.value.suggested_filename == f"request-{request_id}.json"
    download.value.save_as(home / download.value.suggested_filename)
    command = signing_command(page).inner_text()
    return run_shown_command(command, cwd=home, passphrase_file=home / "passphrase")


def signing_command(page: Any) -> Any:
    """The request page's submit or co-sign command (extend and withdraw commands are shown too)."""
    return page.locator("pre").filter(has_text=re.compile(r"^escrow officer (submit|cosign) "))
