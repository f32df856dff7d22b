"""What an accuracy evaluation returns, and the hook through which it reports rung accuracies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

COMPLETE = "complete"
STOPPED = "stopped"
FAILED = "failed"


class RungReporter(Protocol):
    """Called by the train evaluator after each epoch with the held-out accuracy.

    Returns True when the trial should stop now (successive halving). Implementations keep their
    state in the study storage so decisions survive restarts and are shared by parallel workers.
    """

    def __call__(self, epoch: int, accuracy: float) -> bool: ...


@dataclass(frozen=True)
class EvalResult:
    """The outcome of one accuracy evaluation (picklable, so it can come back from a worker).

    Attributes:
        status: ``complete``, ``stopped`` (successive halving stopped it; ``accuracy`` is the last
            measured value) or ``failed`` (``reason`` says why: diverged, out of memory, ...).
        accuracy: the score (``None`` when failed).
        attrs: details recorded as trial user attributes (epochs, per-epoch accuracy, timings,
            proxy scores).
        reason: why it failed.
    """

    status: str
    accuracy: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


class EvalFailed(Exception):
    """An evaluation that cannot give a score for a reason tied to the candidate (recorded, and
    the search goes on): a diverging loss, running out of memory, a degenerate proxy."""
