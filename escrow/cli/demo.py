"""`escrow demo --url URL`: the whole story against a running development server, over HTTP (issue 8).

Each actor uses the same client code as in real life: the person signs in through the development
identity provider and asks for a credential; the platform verifies it with the SDK
(escrow.client.verifier); legal officers draft, submit and co-sign with their key files
(escrow.client.disclosure) on an order the court signed with the code of `escrow court sign`;
three key-holders check it against the roster the development holders signed and approve with their
holder files; the officer opens the revealed identity in her own tool (the server cannot), checked by
the OPRF nodes to be the person behind the pseudonym; the transparency log is audited
(escrow.client.audit). It reads the
seeded logins and key files from the keys directory that `make run` (ESCROW_DEV_MODE=1) wrote.
DEVELOPMENT ONLY: it shows a revealed identity on the console because that is the point of a demo.
"""

from __future__ import annotations

import http.cookiejar
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from escrow.cli.common import clean_errors
from escrow.cli.dev_nodes import DEV_WITNESS_DIR, DEV_WITNESS_POLICY
from escrow.client.audit import audit_log, load_witness_policy
from escrow.client.disclosure import (
    approve,
    establish_checkpoint,
    fetch_checked,
    officer_sign,
    officer_submit,
    officer_summary,
)
from escrow.client.disclosure.courts import sign_order
from escrow.client.disclosure.reveal import open_request
from escrow.client.holder import HolderClient, UrllibTransport
from escrow.client.http import HttpClient
from escrow.client.verifier import CredentialVerifier
from escrow.crypto.disclosure import ROLE_COSIGN, decrypt_officer_key
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.errors import EscrowError
from escrow.identity.devidp import DEMO_USERS
from escrow.keystore import read_secret_file
from escrow.services import totp
from escrow.services.dev_ceremony import DEV_HOLDERS_DIR, DEV_THRESHOLD
from escrow.services.dev_ceremony import PASSPHRASE_FILE as HOLDER_PASSPHRASE_FILE
from escrow.services.dev_seed import COURT_SEED_FILE, LOGINS_FILE, read_seed_record

ORDER = (
    b"%PDF-1.7\n% escrow demo court order\n1 0 obj << /Type /Catalog >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
TIMEOUT_S = 30


class DemoError(EscrowError):
    """A step of the demo failed; the message says which."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (each actor has their own)."""

    base_url: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        url = path if path.startswith("http") else self.base_url + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
        try:
            with self._opener.open(request, timeout=TIMEOUT_S) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise DemoError(f"cannot reach {self.base_url}: {getattr(e, 'reason', e)}") from e

    def form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        body = urllib.parse.urlencode(fields).encode()
        return self.request(
            "POST", path, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if method != "GET":
            headers["X-CSRFToken"] = self.csrf()
            if body is not None:
                headers["Content-Type"] = "application/json"
                data = json.dumps(body).encode()
        status, _, raw = self.request(method, path, data=data, headers=headers)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError as e:
            raise DemoError(f"{path}: HTTP {status}, not JSON") from e

    def csrf(self) -> str:
        status, _, raw = self.request("GET", "/api/v1/session")
        if status != 200:
            raise DemoError(f"/api/v1/session: HTTP {status}")
        return str(json.loads(raw)["csrf_token"])


def _expect(status: int, wanted: int, what: str, body: Any = None) -> None:
    if status != wanted:
        detail = body.get("detail") if isinstance(body, dict) else None
        raise DemoError(f"{what}: HTTP {status}{': ' + str(detail) if detail else ''}")


def _local(location: str) -> str:
    """The path and query of a redirect (the server may name itself by its configured issuer URL)."""
    parts = urllib.parse.urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def _person_signs_in(browser: Browser, username: str) -> None:
    for intent in ("register", "login"):
        status, headers, _ = browser.request("GET", f"/account/oidc/start?intent={intent}")
        if status == 404:
            raise DemoError("the server has no identity provider; start it with ESCROW_DEV_IDP=1 (make run)")
        _expect(status, 302, "starting sign-in with the identity provider")
        authorize = urllib.parse.urlsplit(headers["Location"])
        form = dict(urllib.parse.parse_qsl(authorize.query))
        form["username"] = username
        status, headers, _ = browser.form(authorize.path, form)
        _expect(status, 303, "logging in at the development identity provider")
        status, headers, _ = browser.request("GET", _local(headers["Location"]))
        if status == 302:
            return
        if status != 409:  # 409: registered by an earlier run; log in instead
            raise DemoError(f"identity provider callback: HTTP {status}")
    raise DemoError("the person could neither register nor log in")


def _csrf_token(page: bytes) -> str:
    return page.decode().split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]


def _staff_logs_in(browser: Browser, username: str, password: str, totp_secret: str | None) -> None:
    """Password, then (legal officers) the code an authenticator app with the seeded key would show."""
    _, _, page = browser.request("GET", "/login")
    form = {"username": username, "password": password, "csrf_token": _csrf_token(page)}
    status, headers, _ = browser.form("/login", form)
    _expect(status, 302, f"staff login of {username}")
    if not headers.get("Location", "").endswith("/login/code"):
        return
    if totp_secret is None:
        raise DemoError(f"{username} needs a TOTP code but {LOGINS_FILE} holds no key for them")
    _, _, page = browser.request("GET", "/login/code")
    # The current step's code, or the next one's if an earlier run this half-minute used it.
    step = totp.current_step(datetime.now(UTC))
    for candidate in (step, step + 1):
        code = totp.code_at(totp_secret, candidate)
        status, _, page = browser.form("/login/code", {"code": code, "csrf_token": _csrf_token(page)})
        if status == 302:
            return
    _expect(status, 302, f"TOTP code of {username}")


def _multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "escrow-demo-" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run_demo(url: str, keys_dir: Path, echo: Any = click.echo) -> dict[str, Any]:
    """Runs the whole story against `url`; returns the report. Raises DemoError (or another
    EscrowError) naming the failed step."""
    url = url.rstrip("/")
    HttpClient(url)  # checks the URL's form
    seeded = read_seed_record(keys_dir)
    logins = {s["username"]: s["password"] for s in seeded["staff"]}
    totp_secrets = {s["username"]: s.get("totp_secret") for s in seeded["staff"]}
    platform = str(seeded["platform"]["id"])
    dev_user = DEMO_USERS[0]
    registered = {"name": dev_user.name, "birthdate": dev_user.birthdate}

    echo(f"1. person {dev_user.username!r} verifies with the development identity provider")
    person = Browser(url)
    _person_signs_in(person, dev_user.username)
    status, issued = person.json("POST", "/api/v1/me/credentials", {"platform_id": platform})
    _expect(status, 201, "issuing a credential", issued)
    echo(f"   credential for {platform}: pseudonym {issued['pseudonym']}")

    echo(f"2. platform {platform} verifies the credential with the SDK")
    verified = CredentialVerifier(issuer=url, platform_id=platform).verify(issued["credential"])
    echo(f"   valid: pseudonym {verified.pseudonym}, expires {verified.expires_at.isoformat()}")

    echo("3. legal officer alice drafts and submits a court order naming that pseudonym")
    alice = Browser(url)
    _staff_logs_in(alice, "alice", logins["alice"], totp_secrets["alice"])
    # The court signs with the code behind `escrow court sign ORDER --key keys/dev-court.seed`.
    court_signature = sign_order(ORDER, read_secret_file(keys_dir / COURT_SEED_FILE))
    fields = {
        "court_id": str(seeded["court"]["id"]),
        "case_number": f"DEMO/{datetime.now(UTC):%Y%m%d%H%M%S}",
        "legal_basis": "Demonstration of the disclosure procedure",
        "scope": json.dumps(
            [
                {
                    "platform": platform,
                    "pseudonym": issued["pseudonym"],
                    "envelope_digest": issued["envelope_digest"],
                }
            ]
        ),
        "expires_at": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
        "notify_delay_days": "0",
        "court_signature": court_signature,
    }
    body, content_type = _multipart(fields, "order", "order.pdf", ORDER)
    status, _, raw = alice.request(
        "POST",
        "/api/v1/disclosures",
        data=body,
        headers={"Content-Type": content_type, "X-CSRFToken": alice.csrf(), "Accept": "application/json"},
    )
    try:
        draft: Any = json.loads(raw)
    except ValueError as e:
        raise DemoError(f"drafting the request: HTTP {status}, not JSON") from e
    _expect(status, 201, "drafting the request", draft)
    request_id = int(draft["id"])
    status, document = alice.json("GET", f"/api/v1/disclosures/{request_id}")
    _expect(status, 200, "reading the request document", document)
    officer_dir = keys_dir / Path(seeded["officer_passphrase_file"]).parent
    officer_passphrase = read_secret_file(keys_dir / seeded["officer_passphrase_file"]).decode().strip()
    transport = UrllibTransport(url)
    alice_key = decrypt_officer_key(read_secret_file(officer_dir / "alice.key"), officer_passphrase)
    result = officer_submit(transport, alice_key, document)
    echo(f"   request {request_id} is {result.get('status')}, blinded with alice's key (only her tool opens)")

    echo("4. legal officer bob (another organisation) co-signs")
    status, document = alice.json("GET", f"/api/v1/disclosures/{request_id}")
    _expect(status, 200, "reading the submitted request", document)
    _, digest, _ = officer_summary(document)
    bob_key = decrypt_officer_key(read_secret_file(officer_dir / "bob.key"), officer_passphrase)
    result = officer_sign(transport, bob_key, request_id, digest, ROLE_COSIGN)
    echo(f"   request {request_id} is {result.get('status')}")

    echo(f"5. {DEV_THRESHOLD} key-holders check the request themselves and approve")
    holders_dir = keys_dir / DEV_HOLDERS_DIR
    policy_file = keys_dir / DEV_WITNESS_DIR / DEV_WITNESS_POLICY
    policy = load_witness_policy(policy_file) if policy_file.exists() else None
    holder_passphrase = read_secret_file(holders_dir / HOLDER_PASSPHRASE_FILE).decode().strip()
    public = HttpClient(url)
    for j in range(1, DEV_THRESHOLD + 1):
        holder = decrypt_holder_file(read_secret_file(holders_dir / f"holder-{j}.escrow"), holder_passphrase)
        client = HolderClient(UrllibTransport(url), holder.signing_seed)
        checked, _ = fetch_checked(client, public.get_bytes, request_id, policy=policy)
        if j == 1:  # what each holder's tool checked, once: the roster it verified and the court's signature
            for line in checked.summary:
                if line.startswith(("roster:", "court signature")):
                    echo(f"   {line}")
        outcome = approve(client, holder, checked)
        echo(f"   holder {j} approved: {outcome['approvals']} of {outcome['threshold']}, {outcome['status']}")

    echo("6. alice opens the identity in her own tool; the OPRF nodes confirm it is the right person")
    log, _, _ = establish_checkpoint(public.get_bytes, policy=policy)
    revealed, lines = open_request(transport, log, alice_key, document)
    for line in lines:
        echo(f"   {line}")
    identity = revealed[0].identity if revealed and revealed[0].identity is not None else {}
    if revealed and revealed[0].identity is None:
        echo(f"   NOT SHOWN: {revealed[0].reason}")
    echo(f"   revealed: {json.dumps(identity, sort_keys=True)}")

    echo("7. the transparency log is verified, and its checkpoint is witnessed")
    audit, _ = audit_log(public, state=None, policy=policy)
    for line in audit.lines:
        echo(f"   {line}")
    checkpoint = public.get_text("/api/v1/log/checkpoint")
    if policy is None:
        echo("   (no development witnesses: this server was not started by `escrow run`)")
    echo("   the witnessed checkpoint (the log's signature, then one cosignature per witness):")
    for line in checkpoint.splitlines():
        echo(f"     {line}")
    return {
        "url": url,
        "platform": platform,
        "credential": issued["credential"],
        "pseudonym": issued["pseudonym"],
        "request_id": request_id,
        "registered_identity": registered,
        "revealed_identity": identity,
        "checkpoint": checkpoint,
        "log_size": audit.size,
    }


def identity_matches(registered: dict[str, Any], revealed: Any) -> bool:
    """True if every registered attribute appears, equal, in the revealed identity."""
    return isinstance(revealed, dict) and all(revealed.get(k) == v for k, v in registered.items())


@click.command("demo")
@click.option("--url", required=True, help="The running development server, e.g. http://127.0.0.1:5000")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON report here.")
@click.option(
    "--keys-dir",
    default="keys",
    show_default=True,
    envvar="ESCROW_KEYS_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's keys directory (seeded logins, officer and holder files).",
)
@clean_errors
def demo(url: str, report: Path | None, keys_dir: Path) -> None:
    """DEVELOPMENT ONLY: run the whole story against a running dev server; exit 0 if the identity matches."""
    result = run_demo(url, keys_dir)
    if report is not None:
        report.write_text(json.dumps(result, indent=2) + "\n")
        click.echo(f"report written to {report}")
    if not identity_matches(result["registered_identity"], result["revealed_identity"]):
        raise click.ClickException("the revealed identity does not equal the registered one")
    click.echo("demo passed: the revealed identity equals the registered one")
