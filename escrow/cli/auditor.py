"""``escrow audit ...`` and ``escrow ceremony verify``: what anyone can check, from any machine.

The transparency log (every entry, every checkpoint, and that the log only grew) and a key ceremony's
transcript (every proof and signature, recomputing the public key) are verified offline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from escrow.cli.common import clean_errors, witness_policy_option
from escrow.client.audit import AuditFailure, audit_log, load_witness_policy, read_state, write_state
from escrow.client.holder import (
    HolderClient,
    UrllibTransport,
)
from escrow.client.http import HttpClient, RemoteError
from escrow.client.oprf_audit import audit_usage
from escrow.protocol.ceremony import PURPOSE_OPRF, TranscriptReport, verify_transcript
from escrow.protocol.errors import ProtocolError

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
@witness_policy_option
def verify(
    server: str,
    since_file: Path | None,
    verifier_key: str | None,
    state_file: Path,
    save_file: Path | None,
    witness_policy: Path,
) -> None:
    """Fetch the whole log, recompute the Merkle tree and check every signature and the append-only property.

    Exits 0 when the log verifies, 1 naming the first bad index when it does not, 2 when the server
    or a file cannot be read.
    """
    try:
        state = read_state(state_file)
        since = since_file.read_text() if since_file else None
        policy = load_witness_policy(witness_policy)
        report, new_state = audit_log(
            HttpClient(server), state=state, verifier_key=verifier_key, since=since, policy=policy
        )
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


@audit.command("oprf")
@click.option("--server", required=True, help="Base URL of the escrow service, e.g. https://escrow.example")
@click.option(
    "--node",
    "nodes",
    multiple=True,
    required=True,
    metavar="INDEX=URL",
    help="An OPRF node to check, e.g. 1=https://node1.example (repeat for each node).",
)
@click.option("--key", "verifier_key", help="The log's verifier key (name+hash+key); pins it.")
@click.option(
    "--state",
    "state_file",
    default=DEFAULT_STATE,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the log key and last checkpoint are kept between runs.",
)
@witness_policy_option
def oprf(
    server: str, nodes: tuple[str, ...], verifier_key: str | None, state_file: Path, witness_policy: Path
) -> None:
    """Verify the log, then hold each OPRF node's key and hourly counts against it.

    Exits 0 when every node serves the logged key and evaluated no more than the log says it was sent,
    1 when a node evaluated more (someone else asked it) or serves another key, 2 when the server, a
    node or a file cannot be read.
    """
    try:
        clients = {}
        for item in nodes:
            index, equals, url = item.partition("=")
            if not equals or not index.isascii() or not index.isdigit():
                raise click.UsageError(f"--node {item!r}: expected INDEX=URL, e.g. 1=https://node1.example")
            clients[int(index)] = HttpClient(url)
        state = read_state(state_file)
        policy = load_witness_policy(witness_policy)
        report, new_state = audit_log(
            HttpClient(server), state=state, verifier_key=verifier_key, policy=policy
        )
        result = audit_usage(report.entries, clients)
    except AuditFailure as e:
        click.echo(f"FAILED: {e.detail}", err=True)
        sys.exit(1)
    except (RemoteError, ProtocolError, OSError) as e:
        message = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) else str(e)
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    write_state(state_file, new_state)
    for line in [*report.lines, *result.lines]:
        click.echo(line)
    for line in [*result.key_mismatch, *result.excess]:
        click.echo(f"FAILED: {line}", err=True)
    if not result.ok:
        sys.exit(1)
    click.echo(
        f"OK: {len(clients)} node(s) hold the logged key and evaluated no more than the log accounts for"
    )


@click.group()
def ceremony() -> None:
    """Key ceremonies: verify a transcript (anyone). The administrator's side is `escrow admin ceremony`."""


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
@clean_errors
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
    what = "the OPRF nodes' key" if report.header.purpose == PURPOSE_OPRF else "an escrow key"
    header = report.header
    click.echo(f"ceremony {header.ceremony} ({header.kind}), purpose {header.purpose} ({what}):")
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
