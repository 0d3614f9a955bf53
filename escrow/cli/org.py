"""``escrow org ...``: an officers' organisation's key and the certificates it signs for its officers'
keys (issue 16), run on the organisation's own machine: it needs neither the server nor its database.

The organisation's public key goes on the roster the key-holders sign; each officer makes their key on
their own machine (`escrow officer init`), the organisation certifies it here, and the officer records
the certificate with the service (the key page, or POST /api/v1/officers/certificate).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from escrow.cli.common import clean_errors
from escrow.client.disclosure.officers import certify_officer
from escrow.crypto.ceremony_messages import fingerprint
from escrow.crypto.disclosure import public_key
from escrow.crypto.transcript import b64u_encode
from escrow.keystore import read_secret_file, write_secret_file

DEFAULT_DAYS = 365


@click.group()
def org() -> None:
    """An officers' organisation: its certifying key and its officers' certificates."""


@org.command("keygen")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Key file.")
@clean_errors
def org_keygen(out: Path) -> None:
    """Make the organisation's Ed25519 key (mode 0600); prints the public key for the roster."""
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a key file")
    seed = os.urandom(32)
    write_secret_file(out, seed)
    key = public_key(seed)
    click.echo(f"public key (for the roster): {b64u_encode(key)}")
    click.echo(f"fingerprint: {fingerprint(key)}")


@org.command("certify")
@click.option(
    "--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--organisation", required=True, help="The organisation's name, as on the roster.")
@click.option("--username", required=True, help="The officer's staff username.")
@click.option("--officer-key", required=True, help="The public key `escrow officer init` printed.")
@click.option("--days", default=DEFAULT_DAYS, show_default=True, type=click.IntRange(1, 3650))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@clean_errors
def org_certify(
    key_file: Path, organisation: str, username: str, officer_key: str, days: int, out: Path
) -> None:
    """Certify an officer's key with the organisation's key; writes the certificate to record."""
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite it")
    now = datetime.now(UTC).replace(microsecond=0)
    record = certify_officer(
        read_secret_file(key_file),
        username=username,
        organisation=organisation,
        officer_key_b64=officer_key.strip(),
        not_before=now,
        not_after=now + timedelta(days=days),
    )
    out.write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"certificate for {username} ({organisation}) written to {out}; valid for {days} day(s)")
