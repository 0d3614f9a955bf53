"""``python -m escrow``: the same front door as the ``escrow`` command (escrow.cli.main)."""

from escrow.cli.main import cli

if __name__ == "__main__":
    cli()
