"""The study's owner: ask -> cheap scores, hard constraints, cache -> (evaluate) -> tell.

The driver does everything that needs the study and the latency tables, and leaves only the
accuracy evaluation -- a plain ``evaluator(arch_text, reporter) -> EvalResult`` -- to whoever runs
it: the local loop (:mod:`nas.search._runner`) or, later, parallel workers. A typical loop::

    cand = driver.ask()               # told already when it broke a constraint or was cached
    if cand.needs_eval:
        result = evaluator(cand.arch.text, driver.reporter(cand))
        driver.tell(cand, result)

Several candidates may be outstanding at once (ask several, tell as results arrive).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.arch import Arch
from nas.evaluators import COMPLETE, FAILED, STOPPED, EvalResult
from nas.search import _attrs as A
from nas.search._halving import StorageRungs
from nas.search._metrics import ACCURACY
from nas.search._problem import Problem

# What an untrained (constraint-breaking) candidate tells the sampler as its accuracy. Samplers
# with constraints rank infeasible trials by violation alone, so the value only has to be valid.
UNTRAINED_ACCURACY = 0.0


@dataclass
class Candidate:
    """One asked trial and what the driver knows about it before any training."""

    trial: optuna.Trial
    arch: Arch
    scores: dict[str, float]
    constraints: list[float]
    cached_from: FrozenTrial | None = None
    started: float = field(default_factory=time.perf_counter)
    told: bool = False
    frozen: FrozenTrial | None = None  # the trial as told

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints)

    @property
    def needs_eval(self) -> bool:
        return not self.told

    @property
    def number(self) -> int:
        return self.trial.number


class SearchDriver:
    """Asks and tells one study for one checked problem."""

    def __init__(self, problem: Problem, study: optuna.Study, storage_url: str, *,
                 tag: str | None = None) -> None:
        """``tag``: this driver's id when others may share the study (:func:`driver_tag`); every
        trial it asks carries it as user attr ``driver``, so a resume recovers only its own.

        Without a tag the driver is the study's only writer: it keeps the arch cache and the
        counts up to date as it tells, instead of reading every trial back (which grows with the
        study); with one, it reads the trials other drivers told before each ask.
        """
        self.problem, self.study, self.storage_url, self.tag = problem, study, storage_url, tag
        self._cache: dict[str, int] = {}  # arch hash -> id of the first finished trial of that arch
        self._seen: set[int] = set()
        self.counted = 0  # finished trials that count against n_trials
        self.feasible = 0  # of them: COMPLETE, feasible and scored
        self.best: float | None = None  # best first objective among those
        self.sync()

    # -- what the study holds --------------------------------------------------------------------
    def sync(self) -> None:
        """Take in finished trials this driver has not seen (all of them at start; on a shared
        study, those other drivers told since)."""
        for t in self.study.get_trials(deepcopy=False, states=_FINISHED):
            if t.number not in self._seen:
                self._note(t)

    def _note(self, t: FrozenTrial) -> None:
        self._seen.add(t.number)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            h = t.user_attrs.get(A.ARCH_HASH)
            if h is not None and h not in self._cache:
                self._cache[h] = t._trial_id  # not the trial: told trials are copies, and many
        if t.user_attrs.get(A.FAIL_REASON) != A.INTERRUPTED:
            self.counted += 1
        cfg = self.problem.config
        if (t.state == TrialState.COMPLETE and t.user_attrs.get(A.FEASIBLE) is not False
                and (ACCURACY not in cfg.objective_names or ACCURACY in t.user_attrs) and t.values):
            self.feasible += 1
            first, best = t.values[0], self.best
            if best is None or (first > best if cfg.directions[0] == "maximize" else first < best):
                self.best = first

    def summary(self) -> dict[str, Any]:
        """Counts for the progress bar: feasible scored trials and the best first objective."""
        out: dict[str, Any] = {"feasible": self.feasible}
        if self.best is not None:
            out[f"best_{self.problem.config.objective_names[0]}"] = self.best
        return out

    # -- ask -------------------------------------------------------------------------------------
    def ask(self) -> Candidate:
        """Ask a trial; score it cheaply; tell it at once if it is infeasible or cached."""
        return self.ask_many(1)[0]

    def ask_many(self, n: int) -> list[Candidate]:
        """Ask ``n`` trials before telling any, score the new archs among them in one batch, and
        tell each as :meth:`ask` would, in trial order (so a repeat within the batch is told as a
        copy of the first). Only as many as the sampler proposes alike one at a time and in a
        batch (:func:`nas.search.batch_room`) should be asked at once."""
        t0 = time.perf_counter()
        asked = []
        for _ in range(n):
            trial = self.study.ask()
            if self.tag is not None:
                trial.set_user_attr(A.DRIVER, self.tag)
            arch = self.problem.space.suggest(trial)
            trial.set_user_attr(A.ARCH, arch.text)
            trial.set_user_attr(A.ARCH_HASH, arch.hash)
            asked.append((trial, arch))
        if self.tag is not None:
            self.sync()
        new = {arch.hash: arch for _, arch in asked if arch.hash not in self._cache}
        scored = dict(zip(new, self.problem.cheap_scores_many(list(new.values())), strict=True))
        share_ms = (time.perf_counter() - t0) * 1e3 / n  # each trial's share of the batch
        return [self._answer(trial, arch, scored, share_ms, t0) for trial, arch in asked]

    def _answer(self, trial: optuna.Trial, arch: Arch, scored: dict[str, dict[str, float]], cheap_ms: float,
                t0: float) -> Candidate:
        hit_id = self._cache.get(arch.hash)  # also a trial told earlier in the same batch
        hit = None if hit_id is None else self.study._storage.get_trial(hit_id)
        if hit is not None:
            cand = Candidate(trial, arch, {}, list(hit.constraints.values()), hit, t0)
            self._tell_cached(cand, hit)
            return cand
        scores = scored[arch.hash]  # not in the cache when the batch began: scored in it
        cand = Candidate(trial, arch, scores, self.problem.constraint_values(scores), None, t0)
        for name, value in scores.items():
            trial.set_user_attr(name, value)
        _set_constraints(trial, cand.constraints)
        trial.set_user_attr(A.FEASIBLE, cand.feasible)
        trial.set_user_attr(A.CHEAP_MS, cheap_ms)
        if not cand.feasible or not self.problem.config.needs_accuracy:
            trial.set_user_attr(A.TRAINED, False)
            self._tell(cand, TrialState.COMPLETE, self._values(cand, UNTRAINED_ACCURACY))
        return cand

    def reporter(self, cand: Candidate) -> StorageRungs | None:
        """The successive-halving reporter for ``cand`` (None when the evaluator has no rungs)."""
        halving = getattr(self.problem.config.evaluator, "halving", None)
        if halving is None:
            return None
        return StorageRungs(halving, storage_url=self.storage_url, study_name=self.study.study_name,
                            trial_id=cand.trial._trial_id, storage=self.study._storage)

    # -- tell ------------------------------------------------------------------------------------
    def tell(self, cand: Candidate, result: EvalResult) -> FrozenTrial:
        """Record an evaluation: COMPLETE, PRUNED (stopped by halving) or FAIL with its reason."""
        trial = cand.trial
        trial.set_user_attr(A.TRAINED, True)
        for key, value in result.attrs.items():
            trial.set_user_attr(key, value)
        if result.status == FAILED or result.accuracy is None:
            return self.fail(cand, result.reason or "evaluator returned no score")
        trial.set_user_attr(ACCURACY, float(result.accuracy))
        if result.status == STOPPED:
            return self._tell(cand, TrialState.PRUNED, None)
        if result.status != COMPLETE:
            raise ValueError(f"unknown evaluation status {result.status!r}")
        return self._tell(cand, TrialState.COMPLETE, self._values(cand, float(result.accuracy)))

    def fail(self, cand: Candidate, reason: str) -> FrozenTrial:
        """Record ``cand`` as FAIL with ``reason`` (the search goes on)."""
        cand.trial.set_user_attr(A.FAIL_REASON, reason)
        return self._tell(cand, TrialState.FAIL, None)

    def interrupt(self, cand: Candidate) -> None:
        """Record ``cand`` as interrupted and queue its params, so a resume re-runs it."""
        self.fail(cand, A.INTERRUPTED)
        self._requeue(cand.number, cand.trial.params)

    def _requeue(self, number: int, params: dict[str, Any]) -> None:
        self.study.enqueue_trial(dict(params), user_attrs={A.REQUEUED_FROM: number}, skip_if_exists=False)

    def _values(self, cand: Candidate, accuracy: float) -> list[float]:
        return [accuracy if o.metric == ACCURACY else cand.scores[o.metric]
                for o in self.problem.config.objectives]

    def _tell_cached(self, cand: Candidate, hit: FrozenTrial) -> None:
        skip = {A.ARCH, A.ARCH_HASH, A.CACHED_FROM, A.FAIL_REASON}
        for key, value in hit.user_attrs.items():
            if key not in skip:
                cand.trial.set_user_attr(key, value)
        cand.trial.set_user_attr(A.CACHED_FROM, hit.number)
        if hit.constraints:
            _set_constraints(cand.trial, list(hit.constraints.values()))
        cand.scores = {k: float(v) for k, v in hit.user_attrs.items()
                       if k in self.problem.config.cheap_metrics}
        self._tell(cand, hit.state, list(hit.values) if hit.state == TrialState.COMPLETE else None)

    def _tell(self, cand: Candidate, state: TrialState, values: list[float] | None) -> FrozenTrial:
        cand.told = True
        cand.frozen = self.study.tell(cand.trial, values, state=state)
        self._note(cand.frozen)
        return cand.frozen

    # -- bookkeeping -----------------------------------------------------------------------------
    def counted_trials(self) -> int:
        """Finished trials that count against ``n_trials`` (interrupted ones are re-run)."""
        if self.tag is not None:
            self.sync()
        return self.counted

    def recover_interrupted(self) -> list[int]:
        """Queue again the trials a killed or interrupted run of this driver left undone.

        RUNNING trials it left in a storage that keeps them (a database) are recorded FAIL
        ``interrupted`` first; interrupted trials whose re-run was queued but not kept (a run
        folder's journal keeps finished trials only) are queued again. Trials tagged by another
        driver are that driver's business (it may be running them now); untagged ones are taken as
        this driver's (a study nobody else works on).
        """
        storage = self.study._storage
        mine = [t for t in self.study.get_trials(deepcopy=False)
                if t.user_attrs.get(A.DRIVER, self.tag) == self.tag]
        recovered = []
        for t in mine:
            if t.state == TrialState.RUNNING:
                storage.set_trial_user_attr(t._trial_id, A.FAIL_REASON, A.INTERRUPTED)
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                self._note(storage.get_trial(t._trial_id))
                if t.params:
                    self._requeue(t.number, t.params)
                recovered.append(t.number)
        queued = {t.user_attrs.get(A.REQUEUED_FROM) for t in self.study.get_trials(deepcopy=False)}
        for t in mine:
            if (t.state == TrialState.FAIL and t.user_attrs.get(A.FAIL_REASON) == A.INTERRUPTED
                    and t.number not in queued and t.number not in recovered and t.params):
                self._requeue(t.number, t.params)
                recovered.append(t.number)
        return sorted(recovered)


def _set_constraints(trial: optuna.Trial, values: list[float]) -> None:
    """Store ``values`` (config order, <= 0 feasible) where Optuna's samplers put what a
    ``constraints_func`` returns: the trial's ``constraints`` system attr, as a list. Optuna's
    samplers and ``FrozenTrial.constraints`` read it, and so does optuna-dashboard, which does not
    read the per-name keys of ``Trial.set_constraint``. The names are the config's constraints."""
    trial.storage.set_trial_system_attr(trial._trial_id, A.CONSTRAINTS, [float(v) for v in values])


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
