"""``escrow officer ...``: the legal officer's tool, run on the officer's own machine.

Officers sign request digests (submit, co-sign, extend, withdraw) with the key from ``escrow officer
init``; the key file is passphrase-protected and never leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from escrow.cli.common import (
    DEFAULT_KDF,
    FAST_KDF,
    STATE_SUFFIX,
    clean_errors,
    load_log_state,
    log_fetch,
    passphrase_option,
    read_passphrase,
    save_log_state,
    witness_policy_option,
)
from escrow.client.audit import load_witness_policy
from escrow.client.disclosure import (
    extension_summary,
    officer_cosign_extension,
    officer_propose_extension,
    officer_sign,
    officer_summary,
    officer_withdraw,
    prepare_extension,
)
from escrow.client.disclosure.officers import officer_submit as submit_blinded
from escrow.client.disclosure.reveal import open_request
from escrow.client.disclosure.shared import establish_checkpoint
from escrow.client.holder import UrllibTransport
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
from escrow.crypto.transcript import b64u_encode
from escrow.keystore import read_secret_file, write_secret_file

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def officer() -> None:
    """Legal officer's signing key and signatures (run on the officer's own machine)."""


@officer.command("init")
@click.option("--username", required=True, help="Your staff username.")
@click.option("--out", default="officer.key", show_default=True, type=click.Path(path_type=Path))
@passphrase_option
@click.option("--insecure-fast-kdf", is_flag=True, hidden=True, help="Tests only: cheap Argon2id.")
@clean_errors
def officer_init(username: str, out: Path, passphrase_file: Path | None, insecure_fast_kdf: bool) -> None:
    """Make a passphrase-protected Ed25519 signing key; prints the public key to register."""
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a key file")
    secrets = new_officer_secrets(username)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    opslimit, memlimit = FAST_KDF if insecure_fast_kdf else DEFAULT_KDF
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
        return decrypt_officer_key(
            read_secret_file(key_file), read_passphrase(passphrase_file, confirm=False)
        )
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
    transport = UrllibTransport(server)
    if role == ROLE_SUBMIT:
        # The blinding points go in first; the signed digest is of the body with them (issue 14).
        result = submit_blinded(transport, secrets, document)
        click.echo("blinded with your key: only your tool can open this request's reveal")
    else:
        result = officer_sign(transport, secrets, request_id, digest, role)
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
@clean_errors
def officer_submit(
    request_file: Path, server: str, key_file: Path, passphrase_file: Path | None, yes: bool
) -> None:
    """Submit your draft: check REQUEST_FILE (from GET /api/v1/disclosures/<id>) and sign its digest."""
    _officer_sign(request_file, server, key_file, passphrase_file, yes, ROLE_SUBMIT)


@officer.command("cosign")
@_with_officer_options
@clean_errors
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
@clean_errors
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
@clean_errors
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
@clean_errors
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


@officer.command("reveal")
@_with_officer_options
@witness_policy_option
@click.option(
    "--log-key", help="The log's verifier key, pinned out of band (default: the state's, else first use)."
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The last log checkpoint you verified (default: the key file's name + {STATE_SUFFIX}).",
)
@clean_errors
def officer_reveal(
    request_file: Path,
    server: str,
    key_file: Path,
    passphrase_file: Path | None,
    yes: bool,
    log_key: str | None,
    state_file: Path | None,
    witness_policy: Path,
) -> None:
    """Open the identities of a disclosed request you submitted, on this machine (issue 14).

    Fetches the key-holders' blinded decryptions (logged), opens each envelope with your key, and has
    the OPRF nodes check (logged) that each identity is the person behind the pseudonym in scope; one
    that is not is never shown. Nothing is saved: the identities are printed once.
    """
    document = _request_document(request_file)
    request_id, _, lines = officer_summary(document)
    for line in lines:
        click.echo(line)
    if not yes:
        click.confirm("Fetch and open this request's identities (the fetch is logged)?", abort=True)
    secrets = _officer_secrets(key_file, passphrase_file)
    path = state_file or key_file.with_name(key_file.name + STATE_SUFFIX)
    state = load_log_state(path)
    log, new_state, log_lines = establish_checkpoint(
        log_fetch(server), log_key=log_key, state=state, policy=load_witness_policy(witness_policy)
    )
    for line in log_lines:
        click.echo(line)
    revealed, summary = open_request(UrllibTransport(server), log, secrets, document)
    save_log_state(path, new_state)
    for line in summary:
        click.echo(line)
    substituted = 0
    for item in revealed:
        click.echo(f"\n{item.label}:")
        if item.identity is None:
            substituted += 1
            click.echo(f"  NOT SHOWN: {item.reason}. Report this to the key-holders and the auditors.")
            continue
        for name, value in sorted(item.identity.items()):
            click.echo(f"  {name}: {value}")
    if substituted:
        raise click.ClickException(
            f"{substituted} of {len(revealed)} envelope(s) of request {request_id} did not hold the person "
            "behind the pseudonym; they were not shown"
        )
