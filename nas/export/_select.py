"""Choosing trials of a search run: one trial, the feasible Pareto front, or the best by a score.

Works on :class:`RunView`, a plain view of a run (its objectives, constraints and trials with
every recorded value) built from the search package's :class:`nas.search.Run`.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nas._errors import NasError

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
}
_WHERE_RE = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.:\-]*)\s*(?P<op><=|>=|==|<|>)\s*"
                       r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?P<suffix>[kKMG]?)\s*$")
# The same bound suffixes as search constraints: 300M = 300e6.
_SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


@dataclass(frozen=True)
class TrialView:
    """One trial: number, Optuna state, canonical arch, every recorded value, feasibility."""

    number: int
    state: str
    arch: str | None
    values: Mapping[str, float | None]
    feasible: bool
    fail_reason: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE"

    @property
    def exportable(self) -> bool:
        """Completed, or stopped early by successive halving (a real, partly trained arch)."""
        return self.state in ("COMPLETE", "PRUNED") and bool(self.arch)


@dataclass(frozen=True)
class RunView:
    """What export needs from a run folder."""

    run_dir: str
    objectives: Mapping[str, str]  # name -> "maximize" | "minimize"
    constraints: tuple[str, ...]
    trials: tuple[TrialView, ...]
    pareto: tuple[int, ...]  # trial numbers of the feasible Pareto front
    meta: Mapping[str, Any] = field(default_factory=dict)

    def value_names(self) -> list[str]:
        names = set(self.objectives)
        for t in self.trials:
            names.update(t.values)
        return sorted(names)


@dataclass(frozen=True)
class Where:
    """A filter ``NAME OP NUMBER`` on a trial's recorded values (``latency:cpu<=12``)."""

    name: str
    op: str
    value: float
    text: str

    def __call__(self, trial: TrialView) -> bool:
        v = trial.values.get(self.name)
        return v is not None and not math.isnan(v) and _OPS[self.op](float(v), self.value)


def parse_where(text: str, known: Sequence[str]) -> Where:
    """Parse ``--where`` (``macs<=300M``); the name must be one the run recorded."""
    m = _WHERE_RE.match(text)
    if m is None:
        raise NasError(f"--where {text!r}: expected NAME OP NUMBER with OP one of "
                       f"{', '.join(_OPS)}, e.g. 'latency:cpu_torch_mobilenet_v3<=12'")
    if m["name"] not in known:
        raise NasError(f"--where {text!r}: the run has no value {m['name']!r}; "
                       f"known: {', '.join(known)}")
    return Where(m["name"], m["op"], float(m["value"]) * _SUFFIX[m["suffix"]], text)


def _describe(run: RunView) -> str:
    done = [t for t in run.trials if t.complete]
    return (f"run {run.run_dir} has {len(run.trials)} trials, {len(done)} complete, "
            f"{sum(t.feasible for t in done)} feasible")


def select_trial(run: RunView, number: int) -> TrialView:
    """The trial numbered ``number``; it must have completed (or been stopped by halving)."""
    for t in run.trials:
        if t.number == number:
            if not t.exportable:
                why = f" ({t.fail_reason})" if t.fail_reason else ""
                raise NasError(f"--trial {number}: trial is {t.state}{why}; only completed (or "
                               "halving-stopped) trials can be exported")
            return t
    numbers = [t.number for t in run.trials]
    span = f"{min(numbers)}..{max(numbers)}" if numbers else "none"
    raise NasError(f"--trial {number}: no such trial in run {run.run_dir} (trials: {span})")


def select_pareto(run: RunView, where: Sequence[Where] = ()) -> list[TrialView]:
    """The feasible Pareto front, filtered by ``where``, in trial order."""
    by_number = {t.number: t for t in run.trials}
    front = [by_number[n] for n in sorted(run.pareto) if n in by_number]
    if not front:
        raise NasError(f"--pareto: the feasible Pareto front is empty ({_describe(run)})")
    chosen = [t for t in front if all(w(t) for w in where)]
    if not chosen:
        raise NasError(f"--pareto --where {' '.join(repr(w.text) for w in where)}: none of the "
                       f"{len(front)} Pareto trials satisfies it")
    return chosen


def objective_direction(run: RunView, name: str) -> str:
    if name in run.objectives:
        return run.objectives[name]
    return "maximize" if name == "accuracy" else "minimize"


def select_best(run: RunView, objective: str, where: Sequence[Where] = ()) -> TrialView:
    """The feasible completed trial with the best ``objective`` among those satisfying ``where``.

    Ties go to the lower trial number. ``objective`` may be any value the run recorded; its
    direction is the run's for objectives, otherwise maximize for ``accuracy`` and minimize else.
    """
    known = run.value_names()
    if objective not in known:
        raise NasError(f"--best {objective!r}: the run has no such objective or value; "
                       f"known: {', '.join(known)}")
    sign = -1.0 if objective_direction(run, objective) == "maximize" else 1.0
    candidates = [t for t in run.trials if t.complete and t.feasible and t.arch
                  and t.values.get(objective) is not None
                  and not math.isnan(float(t.values[objective]))]  # type: ignore[arg-type]
    if not candidates:
        raise NasError(f"--best {objective}: no feasible completed trial has a value for it "
                       f"({_describe(run)})")
    chosen = [t for t in candidates if all(w(t) for w in where)]
    if not chosen:
        raise NasError(f"--where {' '.join(repr(w.text) for w in where)}: none of the "
                       f"{len(candidates)} feasible trials satisfies it")
    return min(chosen, key=lambda t: (sign * float(t.values[objective]), t.number))  # type: ignore[arg-type]
