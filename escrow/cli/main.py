"""The ``escrow`` command, one front door for every machine.

Commands are grouped by the machine that runs them:

- a key-holder's machine: ``escrow keyholder ...`` (escrow.cli.holder)
- a legal officer's machine: ``escrow officer ...`` (escrow.cli.officer)
- anyone (auditors, the public): ``escrow audit verify``, ``escrow ceremony verify`` (escrow.cli.auditor)
- a court's machine: ``escrow court sign`` (escrow.cli.court)
- an officers' organisation's machine: ``escrow org keygen``, ``escrow org certify`` (escrow.cli.org)
- the server: ``init``, ``run``, ``serve``, ``db``, ``staff``, ``keys``, ``admin``, ``disclosures``,
  ``log``, ``webhooks``, ``dev-code``, ``demo`` (escrow.cli.server; needs ``pip install 'escrow[server]'``)
- an OPRF node operator's machine: ``escrow oprf-node ...`` (escrow.cli.node; needs
  ``pip install 'escrow[node]'``, never the server's dependencies)
- a witness operator's machine: ``escrow witness ...`` (escrow.cli.witness; needs
  ``pip install 'escrow[witness]'``)

The light install (``pip install escrow``) has the first three; the server's and the node's commands
are loaded only when they are asked for, so a key-holder's tool never imports Flask or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from escrow.cli.auditor import audit, ceremony
from escrow.cli.court import court
from escrow.cli.holder import keyholder
from escrow.cli.officer import officer
from escrow.cli.org import org

SERVER_MODULE = "escrow.cli.server"
SERVER_COMMANDS = (
    "init",
    "run",
    "serve",
    "db",
    "staff",
    "keys",
    "admin",
    "disclosures",
    "log",
    "webhooks",
    "dev-code",
    "demo",
)
SERVER_EXTRA_HINT = "pip install 'escrow[server]'"
NODE_MODULE = "escrow.cli.node"
NODE_COMMANDS = ("oprf-node",)
NODE_EXTRA_HINT = "pip install 'escrow[node]'"
WITNESS_MODULE = "escrow.cli.witness"
WITNESS_EXTRA_HINT = "pip install 'escrow[witness]'"
# command -> (module holding it in a click group named `group`, what to install when it is missing)
_LAZY: dict[str, tuple[str, str, str, str]] = {
    **{
        name: (SERVER_MODULE, "server_commands", SERVER_EXTRA_HINT, "runs on the escrow server")
        for name in SERVER_COMMANDS
    },
    **{
        name: (NODE_MODULE, "node_commands", NODE_EXTRA_HINT, "runs on an OPRF node")
        for name in NODE_COMMANDS
    },
    "witness": (WITNESS_MODULE, "witness_commands", WITNESS_EXTRA_HINT, "runs on a witness"),
}


class _EscrowGroup(click.Group):
    """The root group: client commands are always here; server commands load on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _LAZY:
            return command
        module_name, group, hint, where = _LAZY[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            # Only a missing third-party module means "the light install"; a missing escrow module, or
            # any other ImportError, is a bug and must show as one.
            if e.name is None or e.name.split(".")[0] == "escrow":
                raise
            return _needs_install(cmd_name, e, hint, where)
        found = getattr(module, group).get_command(ctx, cmd_name)
        return found if isinstance(found, click.Command) else None


def _needs_install(name: str, error: ModuleNotFoundError, hint: str, where: str) -> click.Command:
    missing = error.name or "a dependency"

    @click.command(name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def unavailable(**_: Any) -> None:
        raise click.ClickException(
            f"`escrow {name}` {where} and needs its install ({missing} is missing): {hint}"
        )

    unavailable.help = f"({where.removeprefix('runs on ')}; needs {hint})"
    unavailable.short_help = unavailable.help
    return unavailable


@click.group(cls=_EscrowGroup)
def cli() -> None:
    """escrow: pseudonymous identity escrow service."""


cli.add_command(keyholder)
cli.add_command(officer)
cli.add_command(audit)
cli.add_command(ceremony)
cli.add_command(court)
cli.add_command(org)
