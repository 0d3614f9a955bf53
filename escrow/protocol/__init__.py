"""Pure, typed, versioned wire formats for everything that crosses machines.

No Flask, no SQLAlchemy, no environment: the service and the tools on key-holders' and legal officers'
own machines parse and build these messages with the same code, and an unknown version is refused with
an error that names it (escrow.protocol.errors.UnsupportedVersionError).

- ``disclosure``  the disclosure request body the officers and key-holders sign (by its digest)
- ``scope``       the registry of scope kinds: what a disclosure request may open
- ``errors``      ProtocolError > UnsupportedVersionError, UnknownScopeKindError, ...
"""
