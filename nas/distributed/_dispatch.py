"""The Ray dispatch loop: the driver asks Optuna, Ray workers evaluate, the driver tells.

The driver owns the study. For every free slot it calls ``prepare(study)``, which asks a trial
(cheap scores, constraint checks and the cache run on the driver, so candidates that need no
training never reach Ray) and returns a :class:`Job` to evaluate remotely, or ``None`` when the
budget is spent. Up to ``workers`` jobs run at once as Ray tasks; each result is told back as soon
as it arrives. Asking once per free slot keeps every dispatched trial RUNNING in the storage, which
is what Optuna's samplers look at for pending trials (TPE's constant liar, NSGA-II's generation
bookkeeping), so parallel workers do not all get the same candidate; a candidate whose key is
already being evaluated waits for that result instead of running twice.

Faults: a task whose worker process or node died is submitted again, at most
``resources.max_retries`` times, then its trial is recorded FAILED with the reason. An exception
raised by the evaluation itself is never retried: the trial is recorded FAILED with
``error: Type: message`` in user attr ``fail_reason`` (as the local runner does) and the remote
traceback is logged.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import Trial, TrialState

from nas.distributed._resources import TrialResources

log = logging.getLogger("nas.distributed")

# Trial user attr: where the evaluation ran ({node_id, host, pid, eval_s, attempts}; only attempts
# when it never finished). ``attempts`` counts submissions (1 + retries after lost workers).
WORKER_ATTR = "ray_worker"


@dataclass
class Job:
    """One trial to evaluate on a worker: ``evaluate(*args)``.

    Attributes:
        trial: The trial asked from the study (RUNNING until told).
        args: Picklable arguments of the evaluation function, e.g. ``(config, arch)``.
        key: Optional identity of the candidate (canonical arch); a job whose key is already in
            flight shares that evaluation's result instead of running again.
    """

    trial: Trial
    args: Sequence[Any]
    key: str | None = None


@dataclass
class DispatchStats:
    """What a dispatch loop did; times in seconds."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    retries: int = 0
    shared: int = 0
    wall_s: float = 0.0
    eval_s: float = 0.0
    max_in_flight: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class _Task:
    jobs: list[Job]
    args: Sequence[Any]
    key: str | None
    attempts: int = 1
    errors: list[str] = field(default_factory=list)


Tell = Callable[[optuna.Study, Trial, Any], None]
Fail = Callable[[optuna.Study, Trial, str], None]


def tell_values(study: optuna.Study, trial: Trial, value: Any) -> None:
    """Default ``tell``: the evaluation returned the objective value(s)."""
    study.tell(trial, value)


def tell_failed(study: optuna.Study, trial: Trial, reason: str) -> None:
    """Default ``fail``: record the reason in user attr ``fail_reason`` and tell FAIL."""
    trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=TrialState.FAIL)


def _retryable_errors() -> tuple[type[BaseException], ...]:
    """Ray errors meaning the worker process, its node or the result's owner went away."""
    import ray.exceptions as rex

    return (rex.WorkerCrashedError, rex.NodeDiedError, rex.RayActorError, rex.LocalRayletDiedError,
            rex.ObjectLostError, rex.OutOfMemoryError)


def evaluate_on_worker(evaluate: Callable[..., Any], args: Sequence[Any]) -> tuple[Any, dict[str, Any]]:
    """Body of the Ray task: run the evaluation and say where and how long it ran."""
    import ray

    start = time.perf_counter()
    value = evaluate(*args)
    where = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
             "pid": os.getpid(), "eval_s": time.perf_counter() - start}
    return value, where


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of the evaluation's own exception (Ray wraps it in RayTaskError)."""
    import ray.exceptions as rex

    cause = exc.cause if isinstance(exc, rex.RayTaskError) and exc.cause is not None else exc
    message = " ".join(str(cause).split())[:2000]
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__


def run_trials(study: optuna.Study, prepare: Callable[[optuna.Study], Job | None], evaluate: Callable[..., Any], *,
               workers: int, resources: TrialResources | None = None, tell: Tell = tell_values,
               fail: Fail = tell_failed, on_told: Callable[[Trial], None] | None = None) -> DispatchStats:
    """Run trials of ``study`` on Ray until ``prepare`` returns ``None`` and nothing is in flight.

    Ray must be initialised (see :func:`nas.distributed.ray_cluster`).

    Args:
        study: The study; the driver is the only one that asks and tells it.
        prepare: Asks the next trial and returns the job to evaluate, or ``None`` to stop asking.
            It may tell some trials itself first (constraint violators, cached archs).
        evaluate: Picklable function run on a worker as ``evaluate(*job.args)``; what it returns is
            passed to ``tell``.
        workers: Most trials in flight at once.
        resources: Ray resources of each task and the retry bound (default 1 CPU, 2 retries).
        tell: Records a result (default: ``study.tell(trial, value)``).
        fail: Records a failure with its reason (default: user attr ``fail_reason`` and FAIL).
        on_told: Called after each trial was told or failed (progress display).

    Returns:
        Counts and times. On an exception from ``prepare``/``tell`` or an interrupt, tasks in
        flight are cancelled and their trials stay RUNNING (a resumed search re-runs them).
    """
    import ray

    from nas.distributed._cluster import describe_cluster

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    resources = resources or TrialResources()
    remote = ray.remote(evaluate_on_worker)
    evaluate_ref = ray.put(evaluate)  # ship the function once, not with every task
    retryable = _retryable_errors()
    in_flight: dict[Any, _Task] = {}
    by_key: dict[str, _Task] = {}
    stats = DispatchStats()
    start = time.perf_counter()

    def submit(task: _Task) -> None:
        name = f"nas-trial-{task.jobs[0].trial.number}"
        ref = remote.options(name=name, **resources.ray_options()).remote(evaluate_ref, task.args)
        in_flight[ref] = task
        stats.max_in_flight = max(stats.max_in_flight, len(in_flight))

    def record_failure(task: _Task, reason: str) -> None:
        for job in task.jobs:
            job.trial.set_user_attr(WORKER_ATTR, {"attempts": task.attempts})
            fail(study, job.trial, reason)
            stats.failed += 1
            stats.failures.append(f"trial {job.trial.number}: {reason}")
            if on_told:
                on_told(job.trial)

    def finish(ref: Any) -> None:
        task = in_flight.pop(ref)
        try:
            value, where = ray.get(ref)
        except retryable as exc:
            reason = exception_text(exc)
            task.errors.append(reason)
            trials = ", ".join(str(j.trial.number) for j in task.jobs)
            if task.attempts <= resources.max_retries:
                log.warning("trial %s: worker lost (%s); retry %d of %d", trials, reason, task.attempts,
                            resources.max_retries)
                task.attempts += 1
                stats.retries += 1
                # A lost node may have been the only one with the resources: fail now, not hang.
                describe_cluster(resources, "the cluster", started_here=False)
                submit(task)
                return
            log.error("trial %s: worker lost %d time(s), giving up: %s", trials, task.attempts, reason)
            _drop_key(task)
            record_failure(task, f"worker lost {task.attempts} time(s): " + " | ".join(task.errors))
            return
        except ray.exceptions.RayError as exc:
            # The evaluation raised (RayTaskError) or Ray could not run/return it: not retried.
            reason = f"error: {exception_text(exc)}"
            log.error("trial %s failed: %s\n%s", task.jobs[0].trial.number, reason, exc)
            _drop_key(task)
            record_failure(task, reason)
            return
        _drop_key(task)
        stats.eval_s += float(where.get("eval_s", 0.0))
        worker = {**where, "attempts": task.attempts}
        for job in task.jobs:
            job.trial.set_user_attr(WORKER_ATTR, worker)  # one attr: one storage write per trial
            tell(study, job.trial, value)
            stats.completed += 1
            if on_told:
                on_told(job.trial)

    def _drop_key(task: _Task) -> None:
        if task.key is not None and by_key.get(task.key) is task:
            del by_key[task.key]

    exhausted = False
    try:
        while True:
            # Slots count trials, not tasks, so shared candidates cannot make this loop ask forever.
            while not exhausted and sum(len(t.jobs) for t in in_flight.values()) < workers:
                job = prepare(study)
                if job is None:
                    exhausted = True
                    break
                if job.key is not None and job.key in by_key:
                    by_key[job.key].jobs.append(job)  # same candidate already running: share its result
                    stats.shared += 1
                    continue
                task = _Task(jobs=[job], args=tuple(job.args), key=job.key)
                if job.key is not None:
                    by_key[job.key] = task
                stats.submitted += 1
                submit(task)
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                finish(ref)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        stats.wall_s = time.perf_counter() - start
    return stats
