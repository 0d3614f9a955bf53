"""escrow: pseudonymous identity escrow. Verified once, pseudonymous everywhere, unmasked only by
court order and a quorum of key-holders.

Map of the package (docs/architecture.md has the tour; tests/test_layers.py enforces the rule):

Everywhere (the light install, ``pip install escrow``):
- ``crypto/``      pure cryptography: group, proofs, VSS/DKG, sealing, holder and officer files, tokens
- ``protocol/``    pure, typed, versioned wire formats: ceremony messages, disclosure bodies, the signed
                   request, credential verification, log proofs
- ``client/``      what runs on other machines: key-holder and officer tools, auditor, platform SDK
- ``cli/``         the ``escrow`` command; holder, officer and auditor commands are light,
                   ``cli/server.py`` needs the server install
- ``errors``       EscrowError and the domain errors every layer may raise
- ``keystore``     secret files under the keys directory (0600) and the Keyring built from them

The service (``pip install 'escrow[server]'``):
- ``bootstrap``    the composition root: settings, engine, keyring, log signer, providers, clock
- ``app``          create_app(settings=None): the only place that wires Flask (re-exported here,
                   so ``flask --app escrow run`` works)
- ``httpkit``      what api/ and web/ share per request: components, session, clock, principals
- ``logconfig``    JSON-lines logs (python-json-logger) for ``escrow run`` and ``escrow serve``
- ``gunicorn_conf`` gunicorn's configuration (workers, timeouts, redacted JSON access log), ``escrow serve``
- ``api/``         JSON blueprints and problems.py, the error -> HTTP table
- ``web/``         HTML blueprints
- ``services/``    use cases; never import Flask; ``services/disclosure/`` is the disclosure feature
- ``identity/``    identity providers behind one protocol, and their registry
- ``config``       Settings, a frozen dataclass filled from ESCROW_* environment variables
- ``db``, ``models``, ``migrations/``  SQLAlchemy engine and models, Alembic versions
- ``templates/``, ``static/``  Jinja templates, CSS and scripts for web/
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
