"""escrow: pseudonymous identity escrow. Verified once, pseudonymous everywhere, unmasked only by
court order and a quorum of key-holders.

Map of the package (imports only point down: web|api|cli -> services -> models, db, crypto):

- ``app``          create_app(settings=None): the only place that wires Flask (re-exported here,
                   so ``flask --app escrow run`` works)
- ``config``       Settings, a frozen dataclass filled from ESCROW_* environment variables
- ``errors``       EscrowError and the domain errors every layer may raise
- ``keystore``     secret files under the keys directory (0600) and the Keyring built from them
- ``db``           declarative Base, engine and session factory, Alembic upgrade, reachability
- ``models``       SQLAlchemy models (escrow_keys so far)
- ``migrations/``  Alembic environment and versions, shipped inside the package
- ``services/``    use cases (health, instance setup); never import Flask
- ``crypto/``      pure cryptography: group, proofs, VSS/DKG, sealing, holder files
- ``api/``         JSON blueprints (/healthz) and problems.py, the error -> HTTP table
- ``web/``         HTML blueprints (landing page) and the per-request session helper
- ``cli/``         the ``escrow`` command: init, run, db upgrade
- ``templates/``, ``static/``  Jinja templates and CSS for web/
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from escrow.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import escrow.crypto` stays free of Flask and SQLAlchemy (crypto is pure).
    if name == "create_app":
        from escrow.app import create_app

        return create_app
    raise AttributeError(f"module 'escrow' has no attribute {name!r}")
