"""Reading a search run back: :func:`load_run` -> :class:`Run` (trials, one trial, Pareto front).

Everything comes from ``run.json`` and the study storage, so a run can be read while its search is
still going, after a crash, or on another machine that reaches the same storage.

    from nas.search import load_run
    run = load_run("runs/quickstart")
    for t in run.pareto():
        print(t.number, t.arch, t.values["accuracy"], t.values["latency:cpu_torch_mobilenet_v3"])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from nas._errors import NasError
from nas.arch import Arch
from nas.search import _attrs as A
from nas.search._config import SearchConfig
from nas.search._journal import JOURNAL_SCHEME, read_trials
from nas.search._metrics import COST_METRICS, Constraint, Objective
from nas.search._pareto import non_dominated, to_minimization
from nas.search._rundir import read_run_info, storage_url
from nas.search._storage import open_storage

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the run recorded it.

    ``values`` maps every metric recorded on the trial (objectives, constraint metrics, and the
    cost metrics) to its value; ``accuracy`` is absent when the candidate was not trained (it broke
    a hard constraint, or failed). ``state`` is Optuna's: COMPLETE, PRUNED (stopped by successive
    halving), FAIL (see ``fail_reason``), RUNNING, WAITING.
    """

    number: int
    state: str
    arch: str | None
    arch_hash: str | None
    values: dict[str, float]
    feasible: bool | None
    duration_s: float | None
    fail_reason: str | None = None
    cached_from: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)

    def parse_arch(self) -> Arch:
        """The trial's :class:`~nas.arch.Arch`."""
        if self.arch is None:
            raise NasError(f"trial {self.number}: no architecture recorded (state {self.state})")
        return Arch.parse(self.arch)


def _record(t: optuna.trial.FrozenTrial, metrics: Iterable[str]) -> TrialRecord:
    ua = dict(t.user_attrs)
    values = {m: float(ua[m]) for m in metrics if ua.get(m) is not None}
    duration = t.duration.total_seconds() if t.duration is not None else None
    return TrialRecord(
        number=t.number,
        state=t.state.name,
        arch=ua.get(A.ARCH),
        arch_hash=ua.get(A.ARCH_HASH),
        values=values,
        feasible=ua.get(A.FEASIBLE),
        duration_s=duration,
        fail_reason=ua.get(A.FAIL_REASON),
        cached_from=ua.get(A.CACHED_FROM),
        params=dict(t.params),
        user_attrs=ua,
    )


class Run:
    """A search run folder: its ``run.json`` and its study. Build one with :func:`load_run`."""

    def __init__(self, run_dir: str | Path, info: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.info = info
        self.config = SearchConfig.from_dict(info["config"])
        self.storage_url = storage_url(info, self.run_dir)
        self.study_name: str = info["study_name"]

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self.config.objectives

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        return self.config.constraints

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric name a trial of this run may carry, objectives first."""
        names = [*self.config.objective_names, *(c.metric for c in self.constraints),
                 *self.config.cheap_metrics, *COST_METRICS]
        return tuple(dict.fromkeys(names))

    def study(self) -> optuna.Study:
        """The Optuna study (for reading; the search runner owns writing)."""
        try:
            return optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage_url),
                                     sampler=optuna.samplers.RandomSampler())
        except KeyError:
            raise NasError(f"{self.run_dir}: study {self.study_name!r} not found in storage "
                           f"{self.storage_url}") from None

    def _frozen_trials(self) -> list[optuna.trial.FrozenTrial]:
        """The study's trials; a run folder's journal is read straight from its lines (fast)."""
        if self.storage_url.startswith(JOURNAL_SCHEME):
            fast = read_trials(self.storage_url)
            if fast is not None:
                return fast[0]
        return self.study().get_trials(deepcopy=False)

    def trials(self, states: Iterable[str] | None = None) -> list[TrialRecord]:
        """Every trial in number order, or those in ``states`` (e.g. ``["COMPLETE"]``)."""
        wanted = None if states is None else set(states)
        if wanted is not None and not wanted <= set(STATES):
            raise NasError(f"trial states {sorted(wanted - set(STATES))} are not among {', '.join(STATES)}")
        metrics = self.metrics
        out = [_record(t, metrics) for t in self._frozen_trials()]
        return [r for r in out if wanted is None or r.state in wanted]

    def trial(self, number: int) -> TrialRecord:
        """Trial ``number``; a :class:`NasError` naming the valid range if there is none."""
        trials = self.trials()
        for t in trials:
            if t.number == number:
                return t
        raise NasError(f"{self.run_dir}: no trial {number}; the run has trials "
                       f"0..{len(trials) - 1}" if trials else f"{self.run_dir}: the run has no trials")

    def feasible(self, trials: Sequence[TrialRecord] | None = None) -> list[TrialRecord]:
        """COMPLETE trials that satisfy every hard constraint and have every objective value.

        Args:
            trials: a snapshot to filter (so callers that already read the trials see one
                consistent state while other drivers keep writing); read from storage if omitted.
        """
        names = self.config.objective_names
        pool = self.trials(["COMPLETE"]) if trials is None else [t for t in trials if t.state == "COMPLETE"]
        return [t for t in pool if t.feasible is not False and all(n in t.values for n in names)]

    def pareto(self, trials: Sequence[TrialRecord] | None = None) -> list[TrialRecord]:
        """The non-dominated feasible trials, one per architecture (the first trial of each),
        sorted by the first objective (best first). ``trials``: a snapshot, as for :meth:`feasible`."""
        seen: set[str | None] = set()
        unique = []
        for t in self.feasible(trials):
            if t.arch_hash not in seen:
                seen.add(t.arch_hash)
                unique.append(t)
        if not unique:
            return []
        names, dirs = self.config.objective_names, self.config.directions
        losses = to_minimization(np.array([[t.values[n] for n in names] for t in unique]), dirs)
        front = [t for t, keep in zip(unique, non_dominated(losses), strict=True) if keep]
        sign = -1.0 if dirs[0] == "maximize" else 1.0
        return sorted(front, key=lambda t: (sign * t.values[names[0]], t.number))


class SnapshotRun(Run):
    """A run whose :meth:`trials` come from one read of the storage.

    With several drivers on one study, trials change state between two reads of the storage;
    results assembled from several reads (all trials, then the feasible ones) could disagree.
    """

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__(run_dir, read_run_info(run_dir))
        self._snapshot: list[TrialRecord] | None = None

    def trials(self, states: Iterable[str] | None = None) -> list[TrialRecord]:
        if self._snapshot is None:
            self._snapshot = super().trials()
        if states is None:
            return list(self._snapshot)
        wanted = set(states)
        if not wanted <= set(STATES):
            raise NasError(f"trial states {sorted(wanted - set(STATES))} are not among {', '.join(STATES)}")
        return [t for t in self._snapshot if t.state in wanted]


def load_run(run_dir: str | Path) -> Run:
    """Open a run folder written by ``nas search`` (it must hold ``run.json``)."""
    return Run(run_dir, read_run_info(run_dir))
