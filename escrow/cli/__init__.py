"""The ``escrow`` command line (console script declared in pyproject.toml)."""
