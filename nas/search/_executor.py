"""Where accuracy evaluations run: the strategy the one search loop (:mod:`nas.search._loop`) takes.

An executor takes evaluations (``evaluator(arch_text, reporter)``) and hands back their outcomes;
the loop asks, tells, counts the budget and shows progress, whatever runs the evaluations.
:class:`InProcessExecutor` (the default) runs one at a time in this process;
``nas.distributed.RayExecutor`` runs up to ``slots`` at once as Ray tasks.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas.evaluators import EvalResult, RungReporter

if TYPE_CHECKING:
    from nas.search._problem import Problem

Evaluator = Callable[[str, "RungReporter | None"], EvalResult]


@dataclass
class Outcome:
    """What became of one submitted evaluation.

    Attributes:
        key: The key it was submitted with (the trial number).
        result: The evaluation's result, or None when it did not return one.
        error: Why it has no result (the trial is recorded FAIL with this reason).
        attrs: Trial user attrs to record with it (e.g. where it ran).
        stop: An exception to raise once the trial is recorded: the evaluation hit a bug, not a
            property of the candidate, so the search stops instead of failing every trial alike.
    """

    key: int
    result: EvalResult | None = None
    error: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    stop: BaseException | None = None


class Executor(abc.ABC):
    """Runs evaluations for the search loop; ``slots`` of them may be outstanding at once.
    ``in_process``: the evaluations run in the driver's process (they can use its study)."""

    slots: int = 1
    in_process: bool = False

    @contextlib.contextmanager
    def started(self, problem: Problem, storage_url: str) -> Iterator[None]:
        """Hold what the evaluations need (a cluster, workers) while the loop runs."""
        yield

    @abc.abstractmethod
    def submit(self, key: int, evaluator: Evaluator, arch: str, reporter: RungReporter | None) -> None:
        """Start ``evaluator(arch, reporter)``; its :class:`Outcome` will carry ``key``."""

    @abc.abstractmethod
    def wait(self) -> list[Outcome]:
        """Outcomes of submitted evaluations; blocks until at least one is done (may return none
        when the only one done was resubmitted)."""

    def cancel(self) -> None:  # noqa: B027 - nothing outstanding to cancel by default
        """Abandon outstanding evaluations (the loop records their trials as interrupted)."""


class InProcessExecutor(Executor):
    """Evaluations run one at a time, in this process, when the loop waits for them."""

    slots = 1
    in_process = True

    def __init__(self) -> None:
        self._queue: list[tuple[int, Evaluator, str, RungReporter | None]] = []

    def submit(self, key: int, evaluator: Evaluator, arch: str, reporter: RungReporter | None) -> None:
        self._queue.append((key, evaluator, arch, reporter))

    def wait(self) -> list[Outcome]:
        key, evaluator, arch, reporter = self._queue.pop(0)
        try:
            return [Outcome(key, result=evaluator(arch, reporter))]
        except Exception as exc:
            return [Outcome(key, error=f"error: {type(exc).__name__}: {exc}", stop=exc)]

    def cancel(self) -> None:
        self._queue.clear()
