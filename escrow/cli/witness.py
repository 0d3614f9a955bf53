"""``escrow witness``: what a witness operator runs (docs/operations.md#witnesses).

Needs ``pip install 'escrow[witness]'`` (Flask and gunicorn): never the escrow server's dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from escrow.cli.common import clean_errors


@click.group("witness_commands")
def witness_commands() -> None:
    """Commands of a witness's machine."""


@witness_commands.group("witness")
def witness() -> None:
    """Run a witness: cosign a log's checkpoints only while the log stays append-only."""


_NAME = click.option(
    "--name", help="The witness's key name, e.g. witness.example.org/w1 (ESCROW_WITNESS_NAME)."
)
_KEY_FILE = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The witness's Ed25519 seed, made (mode 0600) if missing (ESCROW_WITNESS_KEY_FILE).",
)


@witness.command("key")
@_NAME
@_KEY_FILE
@clean_errors
def key(name: str | None, key_file: Path | None) -> None:
    """Print the witness's cosigner vkey (for witness policy files), making the key file if missing."""
    import os

    from escrow.crypto.note import CosignerKey
    from escrow.errors import ConfigError
    from escrow.witness.settings import load_or_create_key

    name = name or os.environ.get("ESCROW_WITNESS_NAME")
    key_path = key_file or (
        Path(os.environ["ESCROW_WITNESS_KEY_FILE"]) if os.environ.get("ESCROW_WITNESS_KEY_FILE") else None
    )
    if not name or key_path is None:
        raise ConfigError("give --name and --key-file (or ESCROW_WITNESS_NAME and ESCROW_WITNESS_KEY_FILE)")
    signing_key, created = load_or_create_key(key_path)
    if created:
        click.echo(f"created the witness key {key_path}", err=True)
    click.echo(CosignerKey.from_verify_key(name, signing_key.verify_key).vkey)


@witness.command("serve")
@_NAME
@_KEY_FILE
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the witness keeps its state (ESCROW_WITNESS_DATA_DIR).",
)
@click.option(
    "--log",
    "logs",
    multiple=True,
    help="A log verifier key to witness, <origin>+<hash>+<key>; repeat for more (ESCROW_WITNESS_LOGS).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=1, max=65535), default=7201, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="gunicorn workers (0: the built-in threaded server, for development).",
)
@clean_errors
def serve(
    name: str | None,
    key_file: Path | None,
    data_dir: Path | None,
    logs: tuple[str, ...],
    host: str,
    port: int,
    workers: int,
) -> None:
    """Answer add-checkpoint requests (c2sp.org/tlog-witness) for the configured logs."""
    from escrow.crypto.note import CosignerKey
    from escrow.witness.app import create_witness_app
    from escrow.witness.settings import WitnessSettings, load_or_create_key

    overrides: dict[str, Any] = {"name": name, "key_file": key_file, "data_dir": data_dir, "logs": logs}
    settings = WitnessSettings.from_env(**overrides)
    signing_key, _ = load_or_create_key(settings.key_file)
    app = create_witness_app(settings, signing_key)
    vkey = CosignerKey.from_verify_key(settings.name, signing_key.verify_key).vkey
    origins = ", ".join(sorted({v.name for v in settings.logs}))
    click.echo(f"witness {vkey} for {origins} on http://{host}:{port}", err=True)
    if workers:
        from escrow.cli.node import serve_gunicorn

        serve_gunicorn(app, host, port, workers)
    else:
        from werkzeug.serving import WSGIRequestHandler, run_simple

        class _KeepAlive(WSGIRequestHandler):
            protocol_version = "HTTP/1.1"

        run_simple(host, port, app, threaded=True, request_handler=_KeepAlive)
