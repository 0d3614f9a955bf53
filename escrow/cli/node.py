"""``escrow oprf-node``: what an OPRF node operator runs (docs/operations.md#oprf-nodes).

Needs ``pip install 'escrow[node]'`` (Flask and gunicorn): never the escrow server's dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from escrow.cli.common import clean_errors
from escrow.errors import ConfigError

GUNICORN_THREADS = 4  # per worker: the service asks from several threads at once
GUNICORN_KEEPALIVE_S = 30  # the service's idle connection outlives a quiet moment between requests


@click.group("node_commands")
def node_commands() -> None:
    """Commands of an OPRF node's machine."""


@node_commands.group("oprf-node")
def oprf_node() -> None:
    """Run an OPRF node: one share of the key that derives person keys and pseudonyms."""


@oprf_node.command("serve")
@click.option(
    "--share-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's share file (ESCROW_NODE_SHARE_FILE).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the share file's passphrase (ESCROW_NODE_PASSPHRASE_FILE; or ESCROW_NODE_PASSPHRASE).",
)
@click.option(
    "--service-key", help="The escrow service's request-signing key, base64url (ESCROW_NODE_SERVICE_KEY)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the node keeps its ledger (ESCROW_NODE_DATA_DIR).",
)
@click.option("--key-id", help="Which key's share to serve, if the file holds several (ESCROW_NODE_KEY_ID).")
@click.option(
    "--limit-minute", type=click.IntRange(min=1), help="Elements per minute (ESCROW_NODE_LIMIT_MINUTE)."
)
@click.option("--limit-hour", type=click.IntRange(min=1), help="Elements per hour (ESCROW_NODE_LIMIT_HOUR).")
@click.option("--limit-day", type=click.IntRange(min=1), help="Elements per day (ESCROW_NODE_LIMIT_DAY).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=1, max=65535), default=7101, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="gunicorn workers, each with threads and keep-alive connections (0: the built-in threaded "
    "server, for development: it closes the connection after every request).",
)
@clean_errors
def serve(
    share_file: Path | None,
    passphrase_file: Path | None,
    service_key: str | None,
    data_dir: Path | None,
    key_id: str | None,
    limit_minute: int | None,
    limit_hour: int | None,
    limit_day: int | None,
    host: str,
    port: int,
    workers: int,
) -> None:
    """Open the share file once, then answer the escrow service's signed evaluation requests."""
    from escrow.node.app import create_node_app
    from escrow.node.settings import NodeSettings, load_share

    overrides: dict[str, Any] = {
        "share_file": share_file,
        "service_key": service_key,
        "data_dir": data_dir,
        "key_id": key_id,
        "minute": limit_minute,
        "hour": limit_hour,
        "day": limit_day,
    }
    if passphrase_file is not None:
        try:
            overrides["passphrase"] = passphrase_file.read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read the passphrase file {passphrase_file}: {e.strerror}") from e
    settings = NodeSettings.from_env(**overrides)
    share = load_share(settings)
    app = create_node_app(settings, share)
    click.echo(
        f"oprf node {share.index} of key {share.key.key_id} ({share.key.threshold} of "
        f"{len(share.key.verification_keys)}) on http://{host}:{port}",
        err=True,
    )
    if workers:
        serve_gunicorn(app, host, port, workers)
    else:
        from werkzeug.serving import WSGIRequestHandler, run_simple

        class _KeepAlive(WSGIRequestHandler):
            # HTTP/1.1: the service's connection stays open between evaluations (no handshake each).
            protocol_version = "HTTP/1.1"

        run_simple(host, port, app, threaded=True, request_handler=_KeepAlive)


def serve_gunicorn(app: Any, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Node(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # gthread keeps the escrow service's connections alive (the sync worker closes each one,
            # which costs a TCP handshake per evaluation); the service reuses one per node and thread.
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", GUNICORN_THREADS)
            self.cfg.set("keepalive", GUNICORN_KEEPALIVE_S)

        def load(self) -> Any:
            return app

    _Node().run()
