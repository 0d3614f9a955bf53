"""The OPRF that turns a canonical identity key into a person's keys (DESIGN.md section 10, issue 13).

Services depend only on OprfEvaluator; the one implementation is the threshold node client
(escrow.client.oprf: t-of-n independent nodes, RFC 9497 VOPRF), wired in escrow.bootstrap. The
service names the key (the active OPRF key its database and the transparency log record), counts every
element it sends (escrow.services.oprf_keys.record_evaluations, logged per hour), and turns the output
into the stored person key and the never-stored pseudonym secret (escrow.crypto.pseudonym).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.pseudonym import OPRF_OUTPUT_BYTES, PersonKeys, person_keys
from escrow.crypto.ristretto import Element
from escrow.crypto.threshold_oprf import NodeAnswer
from escrow.errors import InvalidStateError, OprfUnavailableError, ValidationError
from escrow.services.oprf_keys import active_oprf_key, record_evaluations
from escrow.services.transparency import LogSigner


class OprfAnswer(Protocol):
    """What one evaluation gives: the outputs in input order, and the nodes that were asked."""

    @property
    def outputs(self) -> list[bytes]: ...

    @property
    def asked(self) -> tuple[int, ...]: ...


class OprfEvaluator(Protocol):
    """Evaluates the OPRF under one key on a batch of inputs."""

    def evaluate(self, key: ThresholdPublicKey, inputs: Sequence[bytes]) -> OprfAnswer:
        """Returns one 64-byte output per input, in order, and the nodes asked.

        Raises OprfUnavailableError when not enough nodes answer (with retry_after_s when known).
        """


class BlindedAnswers(Protocol):
    """t verified node answers to blinded elements, and the nodes asked."""

    @property
    def answers(self) -> tuple[NodeAnswer, ...]: ...

    @property
    def asked(self) -> tuple[int, ...]: ...


class BlindEvaluator(Protocol):
    """Has the nodes evaluate elements someone else blinded (an officer's tool, issue 14)."""

    def evaluate_blinded(self, key: ThresholdPublicKey, blinded: tuple[Element, ...]) -> BlindedAnswers:
        """Returns t verified node answers. Raises OprfUnavailableError."""


def derive_person_keys(
    session: Session, oprf: OprfEvaluator, identity_key: bytes, *, log: LogSigner, now: datetime
) -> PersonKeys:
    """Returns the person key and pseudonym secret of ``identity_key``, by one OPRF evaluation under
    the active OPRF key; the element is counted (and committed) before anything else happens.

    Raises ValidationError for an empty or non-bytes identity key, OprfUnavailableError if no OPRF
    key is active, or the nodes cannot answer, or answer with anything but one 64-byte output.
    """
    if not isinstance(identity_key, bytes) or not identity_key:
        raise ValidationError("identity key must be non-empty bytes")
    try:
        key = active_oprf_key(session)
    except InvalidStateError as e:
        raise OprfUnavailableError(str(e)) from e
    # End the read transaction before the count is written: on SQLite (WAL) a read transaction that
    # later writes fails with "database is locked" when a concurrent request wrote in between.
    session.commit()
    try:
        answer = oprf.evaluate(key, [identity_key])
    except OprfUnavailableError as e:
        # Nodes that answered counted the element although too few did: log them, or their /stats
        # would show more than the log (what the audit reads as someone else asking them).
        if e.asked:
            record_evaluations(session, elements=0, nodes=e.asked, log=log, now=now, sent=1)
        raise
    record_evaluations(session, elements=1, nodes=answer.asked, log=log, now=now)
    outputs = answer.outputs
    output = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else None
    if not isinstance(output, bytes) or len(output) != OPRF_OUTPUT_BYTES:
        # A broken evaluator is as useless as an absent one; say nothing about the input.
        raise OprfUnavailableError("the pseudonym service gave a malformed answer; try again later")
    return person_keys(output)
