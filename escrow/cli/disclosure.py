"""`escrow officer ...` and `escrow keyholder review|approve|reject` (issue 6): run on the signer's machine.

Officers sign request digests with the key from `escrow officer init`; key-holders check a request
themselves (log inclusion, officer signatures, envelopes) before computing partial decryptions.
Neither a share nor a passphrase ever leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import nacl.pwhash

from escrow.cli.ceremony import _clean_errors, _passphrase, keyholder, passphrase_option
from escrow.client.audit import AuditState, read_state, write_state
from escrow.client.disclosure import (
    approve,
    establish_checkpoint,
    extension_summary,
    fetch_checked,
    officer_cosign_extension,
    officer_propose_extension,
    officer_sign,
    officer_summary,
    officer_withdraw,
    prepare_extension,
    reject,
)
from escrow.client.holder import HolderClient, HolderClientError, UrllibTransport
from escrow.client.http import HttpClient
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_SUBMIT,
    OfficerKeyFileError,
    OfficerSecrets,
    decrypt_officer_key,
    encrypt_officer_key,
    new_officer_secrets,
)
from escrow.crypto.holderfile import decrypt_holder_file
from escrow.crypto.transcript import b64u_encode
from escrow.keystore import read_secret_file, write_secret_file

# Tests only, as Settings.for_tests: a key file written with this is cheap to brute-force.
_FAST_KDF = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)
_DEFAULT_KDF = (nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE)
F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def officer() -> None:
    """Legal officer's signing key and signatures (run on the officer's own machine)."""


@officer.command("init")
@click.option("--username", required=True, help="Your staff username.")
@click.option("--out", default="officer.key", show_default=True, type=click.Path(path_type=Path))
@passphrase_option
@click.option("--insecure-fast-kdf", is_flag=True, hidden=True, help="Tests only: cheap Argon2id.")
@_clean_errors
def officer_init(username: str, out: Path, passphrase_file: Path | None, insecure_fast_kdf: bool) -> None:
    """Make a passphrase-protected Ed25519 signing key; prints the public key to register."""
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a key file")
    secrets = new_officer_secrets(username)
    passphrase = _passphrase(passphrase_file, confirm=True)
    opslimit, memlimit = _FAST_KDF if insecure_fast_kdf else _DEFAULT_KDF
    write_secret_file(out, encrypt_officer_key(secrets, passphrase, opslimit=opslimit, memlimit=memlimit))
    click.echo(f"officer key written to {out} (mode 0600)")
    click.echo(f"public key: {b64u_encode(secrets.public_key)}")
    click.echo(f"fingerprint: {fingerprint(secrets.public_key)}")
    click.echo("register it: POST /api/v1/officers/key while logged in, or ask an administrator")


def _request_document(request_file: Path) -> Any:
    try:
        return json.loads(request_file.read_text())
    except ValueError as e:
        raise click.ClickException("the request file is not JSON") from e


def _officer_secrets(key_file: Path, passphrase_file: Path | None) -> OfficerSecrets:
    try:
        return decrypt_officer_key(read_secret_file(key_file), _passphrase(passphrase_file, confirm=False))
    except OfficerKeyFileError as e:
        raise click.ClickException(f"cannot open the officer key file: {e}") from e


def _officer_sign(
    request_file: Path, server: str, key_file: Path, passphrase_file: Path | None, yes: bool, role: str
) -> None:
    document = _request_document(request_file)
    request_id, digest, lines = officer_summary(document)
    for line in lines:
        click.echo(line)
    if not yes:
        click.confirm(f"Sign this request digest ({role})?", abort=True)
    secrets = _officer_secrets(key_file, passphrase_file)
    result = officer_sign(UrllibTransport(server), secrets, request_id, digest, role)
    click.echo(f"signed as {secrets.username}; request {request_id} is now {result.get('status')}")


_officer_options = [
    click.argument("request_file", type=click.Path(dir_okay=False, exists=True, path_type=Path)),
    click.option("--server", required=True, help="The escrow service URL."),
    click.option("--key-file", required=True, type=click.Path(dir_okay=False, path_type=Path)),
    passphrase_option,
    click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts, tests)."),
]


def _with_officer_options(func: F) -> F:
    for option in reversed(_officer_options):
        func = option(func)
    return func


@officer.command("submit")
@_with_officer_options
@_clean_errors
def officer_submit(
    request_file: Path, server: str, key_file: Path, passphrase_file: Path | None, yes: bool
) -> None:
    """Submit your draft: check REQUEST_FILE (from GET /api/v1/disclosures/<id>) and sign its digest."""
    _officer_sign(request_file, server, key_file, passphrase_file, yes, ROLE_SUBMIT)


@officer.command("cosign")
@_with_officer_options
@_clean_errors
def officer_cosign(
    request_file: Path, server: str, key_file: Path, passphrase_file: Path | None, yes: bool
) -> None:
    """Co-sign another officer's request: check REQUEST_FILE and sign its digest."""
    _officer_sign(request_file, server, key_file, passphrase_file, yes, ROLE_COSIGN)


@officer.command("extend")
@_with_officer_options
@click.option(
    "--days", "new_delay_days", required=True, type=click.IntRange(1, 3650), help="New total delay."
)
@click.option("--reason", required=True, help="The reason and legal basis of the extension.")
@click.option("--order-reference", required=True, help="The court decision allowing it (case / order no.).")
@click.option("--order", "order_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_clean_errors
def officer_extend(
    request_file: Path,
    server: str,
    key_file: Path,
    passphrase_file: Path | None,
    yes: bool,
    new_delay_days: int,
    reason: str,
    order_reference: str,
    order_file: Path | None,
) -> None:
    """Propose a longer notification delay for a request you submitted or co-signed: sign the extension
    built from REQUEST_FILE (download it fresh); it takes effect once another officer co-signs it."""
    if not reason.strip() or not order_reference.strip():
        raise click.ClickException("give a reason and the court decision's reference")
    document = _request_document(request_file)
    secrets = _officer_secrets(key_file, passphrase_file)
    prepared = prepare_extension(
        document,
        secrets.username,
        new_delay_days=new_delay_days,
        reason=reason,
        order_reference=order_reference,
        order=order_file.read_bytes() if order_file else None,
    )
    for line in prepared.summary:
        click.echo(line)
    if not yes:
        click.confirm("Sign this extension (extend)?", abort=True)
    officer_propose_extension(UrllibTransport(server), secrets, prepared)
    sequence = prepared.body["sequence"]
    click.echo(
        f"extension {sequence} of request {prepared.request_id} proposed by {secrets.username}; "
        "another officer co-signs it with: escrow officer cosign-extension "
        f"request-{prepared.request_id}.json --extension {sequence} --server {server} --key-file officer.key"
    )


@officer.command("cosign-extension")
@_with_officer_options
@click.option("--extension", "sequence", required=True, type=click.IntRange(1), help="Its sequence number.")
@_clean_errors
def officer_cosign_extension_command(
    request_file: Path, server: str, key_file: Path, passphrase_file: Path | None, yes: bool, sequence: int
) -> None:
    """Co-sign another officer's extension of the notification delay: check it in REQUEST_FILE and sign."""
    request_id, ext_digest, lines = extension_summary(_request_document(request_file), sequence)
    for line in lines:
        click.echo(line)
    if not yes:
        click.confirm("Co-sign this extension (extend-cosign)?", abort=True)
    secrets = _officer_secrets(key_file, passphrase_file)
    result = officer_cosign_extension(UrllibTransport(server), secrets, request_id, sequence, ext_digest)
    click.echo(
        f"co-signed extension {sequence} as {secrets.username}; the notification delay of request "
        f"{request_id} is {result.get('notify_delay_days')} day(s)"
    )


@officer.command("withdraw")
@_with_officer_options
@click.option("--reason", required=True, help="Why the request is withdrawn.")
@_clean_errors
def officer_withdraw_command(
    request_file: Path, server: str, key_file: Path, passphrase_file: Path | None, yes: bool, reason: str
) -> None:
    """Withdraw a request you submitted or co-signed that is not yet disclosed (signed with your key)."""
    if not reason.strip():
        raise click.ClickException("give a reason")
    request_id, digest, lines = officer_summary(_request_document(request_file))
    for line in lines:
        click.echo(line)
    click.echo(f"reason: {reason.strip()}")
    if not yes:
        click.confirm("Withdraw this request (nothing more is accepted on it)?", abort=True)
    secrets = _officer_secrets(key_file, passphrase_file)
    result = officer_withdraw(UrllibTransport(server), secrets, request_id, digest, reason)
    click.echo(f"request {request_id} is {result.get('status')}")


def _holder(server: str, holder_file: Path, passphrase_file: Path | None):  # type: ignore[no-untyped-def]
    secrets = decrypt_holder_file(read_secret_file(holder_file), _passphrase(passphrase_file, confirm=False))
    return secrets, HolderClient(UrllibTransport(server), secrets.signing_seed)


def _fetch(server: str):  # type: ignore[no-untyped-def]
    http = HttpClient(server)

    def fetch(path: str) -> bytes:
        return http.get_bytes(path)

    return fetch


STATE_SUFFIX = ".log-state.json"

_holder_options = [
    click.option("--server", required=True, help="The escrow service URL."),
    click.option("--holder-file", required=True, type=click.Path(dir_okay=False, path_type=Path)),
    passphrase_option,
    click.option(
        "--log-key", help="The log's verifier key, pinned out of band (default: the state's, else first use)."
    ),
    click.option(
        "--state",
        "state_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"The last log checkpoint you verified (default: the holder file's name + {STATE_SUFFIX}).",
    ),
]


def _state_path(holder_file: Path, state_file: Path | None) -> Path:
    return state_file or holder_file.with_name(holder_file.name + STATE_SUFFIX)


def _load_state(path: Path) -> AuditState | None:
    state = read_state(path)
    if state is None:
        click.echo(f"no log state at {path} yet: this first run trusts the log on first use")
    return state


def _save_state(path: Path, state: AuditState) -> None:
    write_state(path, state)
    click.echo(f"log state saved to {path}")


def _with_holder_options(func: F) -> F:
    for option in reversed(_holder_options):
        func = option(func)
    return func


@keyholder.command("review")
@_with_holder_options
@_clean_errors
def keyholder_review(
    server: str, holder_file: Path, passphrase_file: Path | None, log_key: str | None, state_file: Path | None
) -> None:
    """Check that the log only grew since you last looked, then list the requests awaiting you."""
    path = _state_path(holder_file, state_file)
    _, new_state, lines = establish_checkpoint(_fetch(server), log_key=log_key, state=_load_state(path))
    for line in lines:
        click.echo(line)
    _save_state(path, new_state)
    _, client = _holder(server, holder_file, passphrase_file)
    requests = client.request("GET", "/api/v1/holder/disclosures")
    if not requests:
        click.echo("no disclosure request awaits you")
    for item in requests:
        body = item["body"]
        click.echo(
            f"request {item['id']}: {body['court']['name']}, case {body['case_number']}, "
            f"{len(body['scope'])} pseudonym(s), {item['approvals']} of {item['threshold']} approvals; "
            f"escrow keyholder approve {item['id']} --server {server} --holder-file {holder_file}"
        )


@keyholder.command("approve")
@click.argument("request_id", type=int)
@_with_holder_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (tests).")
@_clean_errors
def keyholder_approve(
    request_id: int,
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    log_key: str | None,
    state_file: Path | None,
    yes: bool,
) -> None:
    """Check a request yourself, then approve it with partial decryptions bound to its digest."""
    path = _state_path(holder_file, state_file)
    state = _load_state(path)
    secrets, client = _holder(server, holder_file, passphrase_file)
    checked, new_state = fetch_checked(client, _fetch(server), request_id, log_key=log_key, state=state)
    for line in checked.summary:
        click.echo(line)
    _save_state(path, new_state)
    if not yes:
        click.confirm("Approve this disclosure with your share?", abort=True)
    result = approve(client, secrets, checked)
    progress = f"{result['approvals']} of {result['threshold']}"
    click.echo(f"approved; request {request_id} is {result['status']} ({progress})")


@keyholder.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
@_with_holder_options
@_clean_errors
def keyholder_reject(
    request_id: int,
    reason: str,
    server: str,
    holder_file: Path,
    passphrase_file: Path | None,
    log_key: str | None,
    state_file: Path | None,
) -> None:
    """Reject a request, with a reason (signed with your holder key)."""
    if not reason.strip():
        raise HolderClientError("give a reason")
    path = _state_path(holder_file, state_file)
    state = _load_state(path)
    secrets, client = _holder(server, holder_file, passphrase_file)
    checked, new_state = fetch_checked(client, _fetch(server), request_id, log_key=log_key, state=state)
    for line in checked.summary:
        click.echo(line)
    _save_state(path, new_state)
    result = reject(client, secrets, checked, reason)
    click.echo(f"rejected; request {request_id} is {result['status']} ({result['rejections']} rejection(s))")


@click.group("disclosures")
def disclosures() -> None:
    """Disclosure housekeeping (run on the server)."""


@disclosures.command("sweep")
@_clean_errors
def disclosures_sweep() -> None:
    """Expire overdue requests and delete partial decryptions of closed viewing windows (run from cron)."""
    from datetime import UTC, datetime

    from escrow.cli.main import _server_context
    from escrow.services.disclosure import sweep_disclosures

    extension = _server_context()
    with extension.session_factory() as session:
        count = sweep_disclosures(session, log=extension.log, now=datetime.now(UTC))
    click.echo(f"{count} disclosure request(s) closed or cleared")
