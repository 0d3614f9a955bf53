"""``escrow court sign``: a court's detached signature over its order document, made on the court's own
machine (issue 16 item 4). Needs neither the server nor its database; the logic is
escrow.client.disclosure.courts.sign_order, which the demo uses too."""

from __future__ import annotations

from pathlib import Path

import click

from escrow.cli.common import clean_errors
from escrow.client.disclosure.courts import sign_order
from escrow.keystore import read_secret_file


@click.group()
def court() -> None:
    """A court's signature on its orders (run on the court's own machine)."""


@court.command("sign")
@click.argument("order", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The court's Ed25519 seed file (32 bytes, mode 0600), e.g. keys/dev-court.seed.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the signature (default: ORDER.sig).",
)
@clean_errors
def court_sign(order: Path, key_file: Path, out: Path | None) -> None:
    """Sign ORDER (the PDF as filed) with the court's key; writes the base64url signature that the
    drafting form's `court_signature` takes."""
    signature = sign_order(order.read_bytes(), read_secret_file(key_file))
    target = out or order.with_name(order.name + ".sig")
    if target.exists():
        raise click.ClickException(f"{target} exists; refusing to overwrite it")
    target.write_text(signature + "\n")
    click.echo(signature)
    click.echo(f"signature written to {target}", err=True)
