"""`escrow audit verify`: check a server's transparency log from the auditor's own machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from escrow.client.audit import AuditFailure, audit_log, read_state, write_state
from escrow.client.http import HttpClient, RemoteError

DEFAULT_STATE = ".escrow-audit.json"


@click.group()
def audit() -> None:
    """Verify the public transparency log (runs anywhere; needs only the server URL)."""


@audit.command("verify")
@click.option("--server", required=True, help="Base URL of the escrow service, e.g. https://escrow.example")
@click.option(
    "--since",
    "since_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A signed checkpoint saved earlier; the log must extend it.",
)
@click.option("--key", "verifier_key", help="The log's verifier key (name+hash+key); pins it.")
@click.option(
    "--state",
    "state_file",
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the pinned key, last checkpoint and leaf hashes are kept between runs.",
)
@click.option(
    "--save",
    "save_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the verified checkpoint here.",
)
def verify(
    server: str, since_file: Path | None, verifier_key: str | None, state_file: Path, save_file: Path | None
) -> None:
    """Fetch the whole log, recompute the Merkle tree and check every signature and the append-only property.

    Exits 0 when the log verifies, 1 naming the first bad index when it does not, 2 when the server
    or a file cannot be read.
    """
    try:
        state = read_state(state_file)
        since = since_file.read_text() if since_file else None
        report, new_state = audit_log(HttpClient(server), state=state, verifier_key=verifier_key, since=since)
    except AuditFailure as e:
        click.echo(f"FAILED: {e.detail}", err=True)
        sys.exit(1)
    except (RemoteError, OSError) as e:
        message = e.detail if isinstance(e, RemoteError) else f"{e.strerror}: {e.filename}"
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    for line in report.lines:
        click.echo(line)
    write_state(state_file, new_state)
    if save_file is not None and new_state.checkpoint is not None:
        save_file.write_text(new_state.checkpoint)
    click.echo(f"OK: log {report.origin} verified at size {report.size}; state saved to {state_file}")
