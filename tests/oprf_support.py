"""OPRF evaluators for the cases the in-process one never shows: nodes that do not answer, or answer
wrongly (issue 13). They stand in for independent outside services, as the development identity
provider stands in for a real one; every other test uses the app's own evaluator."""

from __future__ import annotations

from collections.abc import Sequence

from escrow.errors import OprfUnavailableError


class UnreachableNodes:
    """Fewer than t nodes answer: every evaluation fails, with the nodes' Retry-After when given."""

    def __init__(self, *, retry_after_s: int | None = None) -> None:
        self.retry_after_s = retry_after_s
        self.calls = 0

    def evaluate(self, inputs: Sequence[bytes]) -> list[bytes]:
        self.calls += 1
        raise OprfUnavailableError(
            "the pseudonym service is unavailable; try again later", retry_after_s=self.retry_after_s
        )


class MalformedAnswers:
    """A broken evaluator: answers with the given list, whatever the inputs."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def evaluate(self, inputs: Sequence[bytes]) -> list[bytes]:
        return self.answer  # type: ignore[return-value]
