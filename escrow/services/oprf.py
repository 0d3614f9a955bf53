"""The OPRF that turns a canonical identity key into a person's keys (DESIGN.md section 10, issue 13).

Services depend only on OprfEvaluator: the threshold node client (t-of-n independent nodes, RFC 9497)
is one implementation, escrow.services.interim_oprf another until it lands. The evaluator's output is
the only thing derive_person_keys() turns into the stored person key and the never-stored pseudonym
secret (escrow.crypto.pseudonym).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from escrow.crypto.pseudonym import OPRF_OUTPUT_BYTES, PersonKeys, person_keys
from escrow.errors import OprfUnavailableError, ValidationError


class OprfEvaluator(Protocol):
    """Evaluates the OPRF on a batch of inputs."""

    def evaluate(self, inputs: Sequence[bytes]) -> list[bytes]:
        """Returns one 64-byte output per input, in order.

        Raises OprfUnavailableError when not enough nodes answer (with retry_after_s when known).
        """


def derive_person_keys(oprf: OprfEvaluator, identity_key: bytes) -> PersonKeys:
    """Returns the person key and pseudonym secret of ``identity_key``, by one OPRF evaluation.

    Raises ValidationError for an empty or non-bytes identity key, OprfUnavailableError if the
    evaluator cannot answer or answers with anything but one 64-byte output.
    """
    if not isinstance(identity_key, bytes) or not identity_key:
        raise ValidationError("identity key must be non-empty bytes")
    outputs = oprf.evaluate([identity_key])
    output = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else None
    if not isinstance(output, bytes) or len(output) != OPRF_OUTPUT_BYTES:
        # A broken evaluator is as useless as an absent one; say nothing about the input.
        raise OprfUnavailableError("the pseudonym service gave a malformed answer; try again later")
    return person_keys(output)
