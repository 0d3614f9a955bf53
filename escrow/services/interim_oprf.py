"""INTERIM OPRF evaluator: HMAC-SHA512 keyed with the server-held ``keys/person-key`` file.

This is NOT the threshold OPRF of DESIGN.md section 10 and does not give issue 13's guarantee: whoever
holds ``keys/person-key`` can still evaluate it and so test guessed identities. It exists only so that
the derivation refactor (person key and pseudonym secret from one evaluation, the secret never stored)
can land and be tested on its own; it WILL BE REPLACED by the threshold node client (RFC 9497 VOPRF
evaluated by t-of-n independent nodes) before issue 13 is merged. Its outputs have the OPRF's shape:
64 bytes per input, one batch call.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from escrow.errors import ValidationError

INTERIM_OUTPUT_BYTES = 64  # SHA-512, as RFC 9497 ristretto255-SHA512 outputs
MIN_KEY_BYTES = 32
_DOMAIN = b"escrow/v2/interim-oprf\x00"


class InterimOprf:
    """An OprfEvaluator computed in-process from one key (interim; see the module docstring)."""

    __slots__ = ("_key",)

    def __init__(self, *, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise ValidationError(f"the interim OPRF key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "InterimOprf(<key hidden>)"

    def evaluate(self, inputs: Sequence[bytes]) -> list[bytes]:
        """Returns HMAC-SHA512(key, domain || input) for each input, in order.

        Raises ValidationError if an input is not non-empty bytes. Never unavailable.
        """
        if isinstance(inputs, bytes | str) or not all(isinstance(x, bytes) and x for x in inputs):
            raise ValidationError("OPRF inputs must be non-empty bytes")
        return [hmac.new(self._key, _DOMAIN + x, hashlib.sha512).digest() for x in inputs]
