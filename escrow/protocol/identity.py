"""The identity record sealed at registration and the identity key it names (issue 14).

The server builds the record once (escrow.identity.base.VerifiedIdentity.to_sealed_bytes); the officer's
tool reads it back after a lawful reveal and recomputes the identity key from it, the OPRF input whose
output gives the person key, the seal key and the pseudonyms (escrow.crypto.pseudonym). Both use this
module, so they cannot disagree on what names a person.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from escrow.crypto.transcript import b64u_encode, canonical_json
from escrow.protocol.errors import ProtocolError

_WHAT = "identity record"


def identity_key(kind: str, issuer: str, subject: str) -> bytes:
    """Returns the canonical, provider-scoped key of a person (the OPRF input)."""
    return canonical_json({"kind": kind, "issuer": issuer, "subject": subject})


def parse_record(data: bytes) -> dict[str, Any]:
    """Returns the identity record in `data` (what an envelope held). Raises ProtocolError."""
    try:
        record = json.loads(data)
    except (ValueError, TypeError, RecursionError) as e:
        raise ProtocolError(f"the {_WHAT} is not JSON") from e
    if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
        raise ProtocolError(f"the {_WHAT} is not an object of text values")
    for member in ("provider", "issuer", "subject"):
        if not record.get(member):
            raise ProtocolError(f"the {_WHAT} has no {member}")
    return record


def record_identity_key(record: Mapping[str, Any]) -> bytes:
    """Returns the identity key the record's provider, issuer and subject name."""
    return identity_key(str(record["provider"]), str(record["issuer"]), str(record["subject"]))


SEAL_RECORD = "person-identity"
SEAL_CONTEXT_VERSION = 2


def seal_context(person_key: bytes) -> dict[str, Any]:
    """Returns the context an identity seal is bound to: it names the account by its person key, so a
    seal moved to another account is told apart (the officer's tool checks it after a reveal)."""
    return {"record": SEAL_RECORD, "v": SEAL_CONTEXT_VERSION, "person_key": b64u_encode(person_key)}
