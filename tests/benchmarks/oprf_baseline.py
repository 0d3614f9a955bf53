"""What the benchmarks compare the threshold OPRF against (not used by the service).

`HmacBaselineOprf` is the cost of the OLD, first-version derivation that issue 13 removed: the server
held a key and computed person_key = HMAC-SHA256(K_person, identity key) and the pseudonym secret with
a second HMAC key in-process. It is recreated here only as a baseline, shaped as an OprfEvaluator
(escrow.services.oprf) so that the same service code runs with it: one HMAC-SHA512 per input, 64
bytes out, no network. It gives none of the threshold OPRF's guarantees (whoever holds the key can
test guessed identities); never wire it into the service.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from escrow.client.oprf import OprfResult
from escrow.crypto.dkg import ThresholdPublicKey


class HmacBaselineOprf:
    """The old scheme's cost: HMAC-SHA512 under one server-held key (a baseline, not an OPRF)."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def evaluate(self, key: ThresholdPublicKey, inputs: Sequence[bytes]) -> OprfResult:
        del key  # the old scheme had no OPRF key: one server-held HMAC key
        return OprfResult([hmac.new(self._key, x, hashlib.sha512).digest() for x in inputs], ())
