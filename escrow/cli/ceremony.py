"""``escrow keyholder ...`` (the key-holder tool) and ``escrow ceremony ...`` (admin, audit, development).

Holder-side commands talk to the service over HTTP and never send a secret; server-side commands
(invite, open, reshare, cancel) work on the local database like ``escrow staff create``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import nacl.pwhash.argon2id

from escrow.client.holder import (
    TERMINAL,
    CeremonyRunner,
    HolderClient,
    HolderClientError,
    UrllibTransport,
    enrol,
    find_open_ceremony,
    new_holder_secrets,
)
from escrow.crypto.ceremony_messages import fingerprint, public_keys
from escrow.crypto.errors import CryptoError, HolderFileError
from escrow.crypto.holderfile import HolderSecrets, decrypt_holder_file, encrypt_holder_file
from escrow.errors import EscrowError
from escrow.keystore import read_secret_file, write_secret_file
from escrow.protocol.ceremony import CeremonyHeader, TranscriptReport, verify_transcript
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.services.dev_ceremony import WARNING, simulate_ceremony, write_holder_files

P = ParamSpec("P")
R = TypeVar("R")

# Test-only Argon2id cost (as Settings.for_tests): a holder file written with it is cheap to brute-force.
_FAST_KDF = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
MAX_TRANSIENT_FAILURES = 10
_DEFAULT_KDF = (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE)


def _clean_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Crypto and holder-tool failures become ``Error: <message>`` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HolderFileError as e:
            raise click.ClickException(f"cannot open the holder file: {e}") from e
        except CryptoError as e:
            raise click.ClickException(f"a cryptographic check failed: {e}") from e
        except EscrowError as e:
            raise click.ClickException(str(e)) from e
        except OSError as e:
            raise click.ClickException(f"{e.strerror}: {e.filename}") from e

    return wrapper


MIN_PASSPHRASE_LENGTH = 12  # docs/operations.md asks for five random words; this refuses the obviously weak


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    """Returns the passphrase from the file or a prompt; a new one (`confirm`) must be long enough."""
    if passphrase_file is not None:
        passphrase = passphrase_file.read_text().rstrip("\n")
    else:
        passphrase = str(click.prompt("Holder file passphrase", hide_input=True, confirmation_prompt=confirm))
    if confirm and len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise click.ClickException(
            f"choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters (five random words is good)"
        )
    return passphrase


def _kdf_limits(data: bytes) -> tuple[int, int]:
    # Re-encrypt with the cost the holder chose at init (the header is authenticated on decryption).
    kdf = json.loads(data)["kdf"]
    return int(kdf["opslimit"]), int(kdf["memlimit"])


def _replace_holder_file(
    path: Path, secrets: HolderSecrets, passphrase: str, limits: tuple[int, int]
) -> None:
    data = encrypt_holder_file(secrets, passphrase, opslimit=limits[0], memlimit=limits[1])
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    write_secret_file(staging, data)
    os.replace(staging, path)


passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the passphrase from this file (for scripts); otherwise it is prompted for.",
)


@click.group()
def keyholder() -> None:
    """The key-holder tool: enrol, take part in ceremonies and reshares (run on your own machine)."""


@keyholder.command("init")
@click.option("--server", required=True, help="The escrow service URL, e.g. https://escrow.example.org")
@click.option("--invite", "code", required=True, help="The one-time invitation code from the administrator.")
@click.option("--out", "out", default="holder.escrow", show_default=True, type=click.Path(path_type=Path))
@passphrase_option
@click.option("--insecure-fast-kdf", is_flag=True, hidden=True, help="Tests only: cheap Argon2id.")
@_clean_errors
def keyholder_init(
    server: str, code: str, out: Path, passphrase_file: Path | None, insecure_fast_kdf: bool
) -> None:
    """Create your keys in a passphrase-protected holder file and register the public keys."""
    if out.exists():
        raise click.ClickException(
            f"{out} already exists; choose another --out (a holder file is never overwritten)"
        )
    passphrase = _passphrase(passphrase_file, confirm=True)
    secrets = new_holder_secrets("")
    record = enrol(UrllibTransport(server), code, secrets)
    secrets = HolderSecrets(str(record["name"]), secrets.signing_seed, secrets.exchange_secret)
    limits = _FAST_KDF if insecure_fast_kdf else _DEFAULT_KDF
    write_secret_file(out, encrypt_holder_file(secrets, passphrase, opslimit=limits[0], memlimit=limits[1]))
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    click.echo(f"enrolled as key-holder {record['id']} ({record['name']}); holder file written to {out}")
    click.echo(f"signing key fingerprint:  {fingerprint(keys.signing_key)}")
    click.echo(f"exchange key fingerprint: {fingerprint(keys.exchange_key)}")
    click.echo(
        "Read both fingerprints to the administrator by phone; they must match what the service shows."
    )
    click.echo(
        "Keep the holder file and its passphrase apart and backed up: without them your share is lost."
    )


@keyholder.command("show")
@click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@passphrase_option
@_clean_errors
def keyholder_show(holder_file: Path, passphrase_file: Path | None) -> None:
    """Show your fingerprints and which escrow keys you hold a share of (never the share itself)."""
    secrets = decrypt_holder_file(read_secret_file(holder_file), _passphrase(passphrase_file, confirm=False))
    keys = public_keys(secrets.signing_seed, secrets.exchange_secret)
    click.echo(f"key-holder: {secrets.name}")
    click.echo(f"signing key fingerprint:  {fingerprint(keys.signing_key)}")
    click.echo(f"exchange key fingerprint: {fingerprint(keys.exchange_key)}")
    for record in secrets.shares:
        click.echo(f"share {record.share.index} of key {record.key.key_id} ({record.key.threshold} needed)")
    if not secrets.shares:
        click.echo("no shares yet")


def roster_lines(header: CeremonyHeader) -> list[str]:
    """Returns one line per participant: name, both fingerprints and indices (what holders compare)."""
    lines = []
    for p in header.participants:
        roles = [
            f"{r} {i}" for r, i in (("deals as", p.dealer_index), ("receives as", p.recipient_index)) if i
        ]
        lines.append(
            f"{p.name}: signing {fingerprint(p.signing_key)} / exchange {fingerprint(p.exchange_key)}"
            f" ({', '.join(roles)})"
        )
    return lines


def _roster_checker(roster: Path | None) -> Callable[[CeremonyHeader], None]:
    def check(header: CeremonyHeader) -> None:
        click.echo("The key-holders of this ceremony, as the service lists them:")
        for line in roster_lines(header):
            click.echo(f"  {line}")
        if roster is not None:
            confirmed = {" ".join(line.split()) for line in roster.read_text().splitlines()}
            for p in header.participants:
                for key in (p.signing_key, p.exchange_key):
                    if fingerprint(key) not in confirmed:
                        raise click.ClickException(
                            f"{p.name}'s fingerprint {fingerprint(key)} is not in {roster}: the "
                            "service may be substituting keys. Stop, and compare fingerprints with "
                            "every key-holder by phone"
                        )
            click.echo(f"every fingerprint is in {roster}")
        elif not click.confirm(
            "Does every fingerprint match the list you confirmed with the other key-holders by phone?"
        ):
            raise click.ClickException("stopped before sending anything: fingerprints not confirmed")

    return check


def _run_ceremony(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    ceremony_id: int | None,
    poll: float,
    timeout: float,
    roster: Path | None,
) -> None:
    data = read_secret_file(holder_file)
    passphrase = _passphrase(passphrase_file, confirm=False)
    secrets = decrypt_holder_file(data, passphrase)
    limits = _kdf_limits(data)
    client = HolderClient(UrllibTransport(server), secrets.signing_seed)
    if ceremony_id is None:
        ceremony_id = find_open_ceremony(client)
    click.echo(f"taking part in ceremony {ceremony_id} as {secrets.name}")
    runner = CeremonyRunner(
        client,
        secrets,
        ceremony_id,
        on_new_secrets=lambda new: _replace_holder_file(holder_file, new, passphrase, limits),
        report=click.echo,
        check_roster=_roster_checker(roster),
    )
    deadline = time.monotonic() + timeout
    last = ""
    failures = 0
    while True:
        try:
            status = runner.step()
            failures = 0
        except HolderClientError as e:
            # A network hiccup or a busy server must not end an hour-long ceremony: the runner
            # re-reads the transcript on the next step and picks up where it stopped.
            failures += 1
            if not e.is_transient or failures > MAX_TRANSIENT_FAILURES:
                raise
            click.echo(f"warning: {e}; retrying")
            time.sleep(poll)
            continue
        if status != last:
            click.echo(f"ceremony {ceremony_id}: {status}")
            last = status
        if status in TERMINAL and (status != "active" or runner.is_saved):
            break
        if time.monotonic() > deadline:
            raise click.ClickException(
                "timed out waiting for the other key-holders; run the command again later"
            )
        time.sleep(poll)
    if status != "active":
        state = client.public(f"/api/v1/ceremonies/{ceremony_id}")
        raise click.ClickException(
            f"ceremony {ceremony_id} {status}: {state.get('outcome') or 'no reason given'}"
        )
    click.echo("done: the key is active and your holder file is updated. Back it up now.")


def _ceremony_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--server", required=True, help="The escrow service URL."),
            click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path)),
            passphrase_option,
            click.option("--ceremony", "ceremony_id", type=int, help="Ceremony id (default: your open one)."),
            click.option("--poll", default=3.0, show_default=True, help="Seconds between checks."),
            click.option(
                "--timeout", default=3600.0, show_default=True, help="Give up after this many seconds."
            ),
            click.option(
                "--roster",
                type=click.Path(dir_okay=False, path_type=Path),
                help="File of the fingerprints confirmed by phone (one per line); otherwise you are asked.",
            ),
        ]
    ):
        func = option(func)
    return func


@keyholder.command("ceremony")
@_ceremony_options
@_clean_errors
def keyholder_ceremony(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    ceremony_id: int | None,
    poll: float,
    timeout: float,
    roster: Path | None,
) -> None:
    """Take part in a key ceremony: deal, check, sign the transcript and pass the drill."""
    _run_ceremony(server, holder_file, passphrase_file, ceremony_id, poll, timeout, roster)


@keyholder.command("reshare")
@_ceremony_options
@_clean_errors
def keyholder_reshare(
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    ceremony_id: int | None,
    poll: float,
    timeout: float,
    roster: Path | None,
) -> None:
    """Take part in a reshare: hand your share to the new key-holders, or receive a new share."""
    _run_ceremony(server, holder_file, passphrase_file, ceremony_id, poll, timeout, roster)


@click.group()
def ceremony() -> None:
    """Key ceremonies: open, cancel and reshare (server side), verify (anyone), simulate (development)."""


def _echo_report(report: TranscriptReport) -> None:
    for note in report.notes:
        click.echo(f"  {note}")
    if report.key is not None:
        click.echo(f"public key: {report.key.to_dict()['public_key']}")
        click.echo(
            f"key id:     {report.key.key_id} ({report.key.threshold} of {len(report.key.verification_keys)})"
        )
        for index, vk in sorted(report.key.to_dict()["verification_keys"].items(), key=lambda kv: int(kv[0])):
            click.echo(f"  verification key {index}: {vk}")


@ceremony.command("verify")
@click.option("--server", help="Fetch the transcript from this escrow service.")
@click.option("--ceremony", "ceremony_id", type=int, help="Ceremony id (default: the newest).")
@click.option(
    "--transcript", type=click.Path(dir_okay=False, path_type=Path), help="Check a saved transcript."
)
@click.option(
    "--save", type=click.Path(dir_okay=False, path_type=Path), help="Also save the fetched transcript."
)
@_clean_errors
def ceremony_verify(
    server: str | None, ceremony_id: int | None, transcript: Path | None, save: Path | None
) -> None:
    """Recompute the public key and every verification key; check every proof and signature offline."""
    if (server is None) == (transcript is None):
        raise click.UsageError("give exactly one of --server or --transcript")
    if transcript is not None:
        try:
            data = json.loads(transcript.read_text())
        except ValueError as e:
            raise click.ClickException(f"{transcript} is not a JSON transcript") from e
    else:
        transport = UrllibTransport(str(server))
        client = HolderClient(transport, bytes(32))
        if ceremony_id is None:
            listing = client.public("/api/v1/ceremonies")
            if not listing:
                raise click.ClickException("the service has no ceremonies yet")
            ceremony_id = int(listing[0]["id"])
        data = client.public(f"/api/v1/ceremonies/{ceremony_id}")
        if save is not None:
            save.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    if not isinstance(data, dict):
        raise click.ClickException("a transcript is a JSON object")
    report = verify_transcript(data)
    click.echo(f"ceremony {report.header.ceremony} ({report.header.kind}):")
    _echo_report(report)
    if report.blamed_holder is not None:
        click.echo(f"ABORTED: the transcript proves key-holder {report.blamed_holder} cheated")
        sys.exit(2)
    if not report.is_complete:
        click.echo("INCOMPLETE: not every key-holder has signed and passed the drill")
        sys.exit(2)
    if data.get("key") is not None and data["key"] != report.key.to_dict():  # type: ignore[union-attr]
        raise click.ClickException("the service reports another key than the transcript proves")
    click.echo("OK: every signature, proof, success signature and drill proof verifies")


@ceremony.command("simulate")
@click.option("--threshold", default=3, show_default=True, type=click.IntRange(1, 255))
@click.option("--holders", default=5, show_default=True, type=click.IntRange(1, 255))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@passphrase_option
@click.option("--insecure-fast-kdf", is_flag=True, hidden=True, help="Tests only: cheap Argon2id.")
@_clean_errors
def ceremony_simulate(
    threshold: int, holders: int, out: Path, passphrase_file: Path | None, insecure_fast_kdf: bool
) -> None:
    """DEVELOPMENT ONLY: run the dealerless ceremony in one process and write every holder file."""
    click.secho(WARNING, fg="red", bold=True, err=True)
    passphrase = _passphrase(passphrase_file, confirm=True)
    limits = _FAST_KDF if insecure_fast_kdf else _DEFAULT_KDF
    result = simulate_ceremony(threshold, holders)
    paths = write_holder_files(result, out, passphrase, opslimit=limits[0], memlimit=limits[1])
    for path in paths:
        click.echo(f"wrote {path}")
    click.echo(f"key id {result.key.key_id} ({threshold} of {holders})")
    click.echo(json.dumps(result.key.to_dict(), sort_keys=True))


def _server() -> Any:
    from escrow.cli.main import _server_context

    return _server_context()


@keyholder.command("invite")
@click.option("--name", required=True)
@click.option("--organisation", required=True)
@click.option("--contact", required=True)
@_clean_errors
def keyholder_invite(name: str, organisation: str, contact: str) -> None:
    """(Server side) Invite a key-holder; prints the one-time invitation code once."""
    extension = _server()
    with extension.session_factory() as session:
        invitation = keyholder_service.invite_keyholder(
            session,
            name=name,
            organisation=organisation,
            contact=contact,
            log=extension.log,
            now=datetime.now(UTC),
        )
    click.echo(f"invited key-holder {invitation.holder_id}; one-time code (shown once): {invitation.code}")


def _ids(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError as e:
        raise click.BadParameter("key-holder ids are numbers separated by commas") from e


@ceremony.command("open")
@click.option("--threshold", required=True, type=int)
@click.option("--holders", required=True, help="Enrolled key-holder ids in order, e.g. 1,2,3,4,5.")
@_clean_errors
def ceremony_open(threshold: int, holders: str) -> None:
    """(Server side) Open a ceremony for a new escrow key."""
    extension = _server()
    with extension.session_factory() as session:
        ceremony_id = ceremony_service.open_ceremony(
            session, threshold=threshold, holder_ids=_ids(holders), log=extension.log, now=datetime.now(UTC)
        )
    click.echo(f"opened ceremony {ceremony_id}")


@ceremony.command("reshare")
@click.option("--threshold", required=True, type=int)
@click.option("--dealers", required=True, help="Current key-holder ids who hand over their shares.")
@click.option("--holders", required=True, help="The new key-holder ids, in order.")
@_clean_errors
def ceremony_reshare(threshold: int, dealers: str, holders: str) -> None:
    """(Server side) Open a reshare of the active key to a new set of key-holders."""
    extension = _server()
    with extension.session_factory() as session:
        ceremony_id = ceremony_service.open_reshare(
            session,
            threshold=threshold,
            dealer_ids=_ids(dealers),
            holder_ids=_ids(holders),
            log=extension.log,
            now=datetime.now(UTC),
        )
    click.echo(f"opened reshare {ceremony_id}")


@ceremony.command("cancel")
@click.argument("ceremony_id", type=int)
@click.option("--reason", default="cancelled by an admin", show_default=True)
@_clean_errors
def ceremony_cancel(ceremony_id: int, reason: str) -> None:
    """(Server side) Cancel an open ceremony."""
    extension = _server()
    with extension.session_factory() as session:
        ceremony_service.cancel_ceremony(
            session, ceremony_id=ceremony_id, reason=reason, log=extension.log, now=datetime.now(UTC)
        )
    click.echo(f"cancelled ceremony {ceremony_id}")
