"""Wire formats for everything that crosses machines, typed and versioned, the same on every machine.

Pure: no Flask, no SQLAlchemy, no environment, no files. The service, the key-holders' and legal
officers' tools, auditors and platforms parse and build these messages with the same code, and an
unknown version is refused with an error that names it (escrow.protocol.errors.UnsupportedVersionError).

- ``ceremony``        key-holder enrolment and the key ceremony's signed messages and transcript checks
- ``credentials``     credential (JWT) verification against a JWKS: the platform SDK and the issuer
- ``disclosure``      the disclosure request body the officers and key-holders sign (by its digest)
- ``scope``           the registry of scope kinds: what a disclosure request may open
- ``signed_request``  the Escrow-Holder authorization that signs a key-holder's HTTP request
- ``transparency``    log entries and inclusion, range and consistency proofs as the log API serves them
- ``errors``          ProtocolError > UnsupportedVersionError (scope errors live in ``scope``)
"""
