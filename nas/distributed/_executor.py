"""``RayExecutor``: the search loop's evaluations as Ray tasks, up to ``workers`` at once.

The driver owns the study (asks, tells, cheap scores, constraints and the cache all stay there);
only evaluations leave it, each a Ray task ``evaluator(arch_text, reporter)`` with the configured
resources. Each result is handed back as soon as it arrives.

Cheap evaluations (a supernet or predictor score, a zero-cost proxy) are sent in batches, so that
a Ray task's own cost (milliseconds) does not dominate: each task carries as many evaluations as
take about ``TASK_TARGET_S`` by the running mean of their time (at most ``MAX_BATCH``), and the
loop keeps ``workers`` x batch candidates outstanding. Evaluations of half a second or more go
one per task, as before.

Faults: a task whose worker process or node died is submitted again, at most
``resources.max_retries`` times, then its trials are recorded FAILED with the reason. An exception
raised by an evaluation itself is never retried: its trial is recorded FAILED with
``error: Type: message`` and the remote traceback is logged; the search goes on.
Where each evaluation ran is recorded as trial user attr ``ray_worker`` ({node_id, host, pid,
eval_s, attempts}; only attempts when it never finished).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import time
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nas._errors import NasError
from nas.distributed._cluster import LOCAL, check_reachable, describe_cluster, parse_address, ray_cluster
from nas.distributed._resources import TrialResources
from nas.evaluators import RungReporter
from nas.search import Evaluator, Executor, Outcome, Problem

log = logging.getLogger("nas.distributed")
WORKER_ATTR = "ray_worker"
TASK_TARGET_S = 0.2  # batch cheap evaluations up to about this much work per Ray task
MAX_BATCH = 64


# -- on the worker ------------------------------------------------------------------------------

# Evaluators by content, per worker process: a reused worker keeps its loaded dataset (an
# evaluator drops its data when pickled). Bounded: a few distinct evaluators at most.
_EVALUATORS: OrderedDict[str, Any] = OrderedDict()
_MAX_EVALUATORS = 4


def evaluate_on_worker(evaluator: Any, items: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    """The Ray task body: the worker's cached copy of ``evaluator`` on each ``(arch, reporter)``.

    Returns, per item, ``("ok", value, where)`` or ``("error", "Type: message", traceback)``:
    one failing evaluation does not take the others of its batch with it.
    """
    import ray
    import ray.cloudpickle

    key = hashlib.sha256(ray.cloudpickle.dumps(evaluator)).hexdigest()  # classes pickled by value too
    cached = _EVALUATORS.get(key)
    if cached is None:
        _EVALUATORS[key] = cached = evaluator
        while len(_EVALUATORS) > _MAX_EVALUATORS:
            _EVALUATORS.popitem(last=False)
    here = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}
    out: list[tuple[Any, ...]] = []
    for arch, reporter in items:
        start = time.perf_counter()
        try:
            value = cached(arch, reporter)
        except Exception as exc:
            out.append(("error", exception_text(exc), traceback.format_exc()))
            continue
        out.append(("ok", value, {**here, "eval_s": time.perf_counter() - start}))
    return out


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of the evaluation's own exception (Ray wraps it in RayTaskError)."""
    import ray.exceptions as rex

    cause = exc.cause if isinstance(exc, rex.RayTaskError) and exc.cause is not None else exc
    message = " ".join(str(cause).split())[:2000]
    return f"{type(cause).__name__}: {message}" if message else type(cause).__name__


def _retryable_errors() -> tuple[type[BaseException], ...]:
    """Ray errors meaning the worker process, its node or the result's owner went away."""
    import ray.exceptions as rex

    return (rex.WorkerCrashedError, rex.NodeDiedError, rex.RayActorError, rex.LocalRayletDiedError,
            rex.ObjectLostError, rex.OutOfMemoryError)


# -- on the driver ------------------------------------------------------------------------------

@dataclass
class DispatchStats:
    """What an executor did; times in seconds."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0
    retries: int = 0
    tasks: int = 0
    eval_s: float = 0.0
    max_in_flight: int = 0
    max_batch: int = 1
    failures: list[str] = field(default_factory=list)


@dataclass
class _Task:
    items: list[tuple[int, str, Any]]  # (key, arch, reporter)
    attempts: int = 1
    errors: list[str] = field(default_factory=list)


class RayExecutor(Executor):
    """Evaluations as Ray tasks on a local instance or a cluster.

    Args:
        address: ``None`` (start a local Ray instance), ``"auto"`` or ``HOST:PORT``.
        workers: Evaluations at once (default: as many as the cluster fits with ``resources``).
        resources: Per-trial Ray resources and retry bound (default 1 CPU, 2 retries).
        num_cpus: CPUs of a local instance (default: all).
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None,
                 resources: TrialResources | None = None, num_cpus: int | None = None,
                 batch: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise NasError(f"--workers must be >= 1, got {workers}")
        if batch is not None and not 1 <= batch <= MAX_BATCH:
            raise NasError(f"batch must be in 1..{MAX_BATCH}, got {batch}")
        self.address = parse_address(address)  # a wrong address fails before a run folder is touched
        if self.address not in (LOCAL, "auto"):
            check_reachable(self.address)
        self.workers, self.num_cpus, self.fixed_batch = workers, num_cpus, batch
        self.resources = resources or TrialResources()
        self.stats = DispatchStats()
        self._n = workers or 1  # tasks at once
        self._batch = batch or 1
        self._mean_eval_s: float | None = None
        self._queue: list[tuple[int, str, Any]] = []
        self._in_flight: dict[Any, _Task] = {}
        self._evaluator: Any = None  # the evaluator's object ref, shipped once
        self._evaluator_of: int | None = None
        self._remote: Any = None

    @property
    def slots(self) -> int:  # type: ignore[override]
        return self._n * self._batch

    @contextlib.contextmanager
    def started(self, problem: Problem | None, storage_url: str) -> Iterator[None]:
        """Start or join Ray and check it can run the trials (and, for a search ``problem``, that
        its workers can reach the storage; ``None`` for a plain study checks nothing more)."""
        import ray

        with ray_cluster(self.address, self.resources, num_cpus=self.num_cpus) as info:
            if problem is not None:
                _check_storage_reach(problem, storage_url, info.hosts)
            self._n = self.workers or info.capacity
            if self._n > info.capacity:
                log.warning("--workers %d: the cluster fits %d trial(s) at once; the rest wait",
                            self._n, info.capacity)
            log.info(f"ray: {len(info.nodes)} node(s) ({info.address}), {self._n} worker(s), per trial "
                     f"{self.resources.to_dict()}")
            self._remote = ray.remote(evaluate_on_worker)
            start = time.perf_counter()
            try:
                yield
            finally:
                self.cancel()
                self._evaluator = self._evaluator_of = None
                s = self.stats
                log.info(f"ray: {s.submitted} evaluation(s) in {s.tasks} task(s) (batches up to {s.max_batch}), "
                         f"{s.completed} told, {s.failed} failed, {s.retries} retried after lost workers, "
                         f"{time.perf_counter() - start:.1f}s")

    def submit(self, key: int, evaluator: Evaluator, arch: str, reporter: RungReporter | None) -> None:
        import ray

        if self._remote is None:
            raise RuntimeError("RayExecutor.submit outside RayExecutor.started()")
        if self._evaluator_of != id(evaluator):  # ship the evaluator once, not with every task
            self._evaluator, self._evaluator_of = ray.put(evaluator), id(evaluator)
        self.stats.submitted += 1
        self._queue.append((key, arch, reporter))

    def _dispatch(self) -> None:
        """Queued evaluations to free workers, up to a batch per task."""
        while self._queue and len(self._in_flight) < self._n:
            items, self._queue = self._queue[:self._batch], self._queue[self._batch:]
            self._start(_Task(items))

    def _start(self, task: _Task) -> None:
        args = [(arch, reporter) for _, arch, reporter in task.items]
        ref = self._remote.options(name=f"nas-trial-{task.items[0][0]}", **self.resources.ray_options()
                                   ).remote(self._evaluator, args)
        self._in_flight[ref] = task
        self.stats.tasks += 1
        self.stats.max_batch = max(self.stats.max_batch, len(task.items))
        self.stats.max_in_flight = max(self.stats.max_in_flight, len(self._in_flight))

    def wait(self) -> list[Outcome]:
        import ray

        self._dispatch()
        ready, _ = ray.wait(list(self._in_flight), num_returns=1)
        return [o for ref in ready for o in self._finish(ref)]

    def _finish(self, ref: Any) -> list[Outcome]:
        import ray

        task = self._in_flight.pop(ref)
        keys = ", ".join(str(k) for k, _, _ in task.items)
        try:
            results = ray.get(ref)
        except _retryable_errors() as exc:
            reason = exception_text(exc)
            task.errors.append(reason)
            if task.attempts <= self.resources.max_retries:
                log.warning("trial %s: worker lost (%s); retry %d of %d", keys, reason, task.attempts,
                            self.resources.max_retries)
                task.attempts += 1
                self.stats.retries += 1
                # A lost node may have been the only one with the resources: fail now, not hang.
                describe_cluster(self.resources, "the cluster", started_here=False)
                self._start(task)
                return []
            log.error("trial %s: worker lost %d time(s), giving up: %s", keys, task.attempts, reason)
            return [self._failed(k, task, f"worker lost {task.attempts} time(s): " + " | ".join(task.errors))
                    for k, _, _ in task.items]
        except ray.exceptions.RayError as exc:  # Ray could not run the task or return its result
            reason = f"error: {exception_text(exc)}"
            log.error("trial %s failed: %s\n%s", keys, reason, exc)
            return [self._failed(k, task, reason) for k, _, _ in task.items]
        outcomes = []
        for (key, _, _), (status, value, detail) in zip(task.items, results, strict=True):
            if status == "error":
                log.error("trial %d failed: error: %s\n%s", key, value, detail)
                outcomes.append(self._failed(key, task, f"error: {value}"))
                continue
            self.stats.completed += 1
            self.stats.eval_s += float(detail["eval_s"])
            self._adapt(float(detail["eval_s"]))
            outcomes.append(Outcome(key, result=value, attrs={WORKER_ATTR: {**detail, "attempts": task.attempts}}))
        return outcomes

    def _adapt(self, eval_s: float) -> None:
        """Batch size from the running mean evaluation time (unless fixed)."""
        mean = eval_s if self._mean_eval_s is None else 0.8 * self._mean_eval_s + 0.2 * eval_s
        self._mean_eval_s = mean
        if self.fixed_batch is None:
            self._batch = max(1, min(MAX_BATCH, int(TASK_TARGET_S / max(mean, 1e-6))))

    def _failed(self, key: int, task: _Task, reason: str) -> Outcome:
        self.stats.failed += 1
        self.stats.failures.append(f"trial {key}: {reason}")
        return Outcome(key, error=reason, attrs={WORKER_ATTR: {"attempts": task.attempts}})

    def cancel(self) -> None:
        import ray

        for ref in self._in_flight:
            ray.cancel(ref, force=True)
        self._in_flight.clear()
        self._queue.clear()


def _check_storage_reach(problem: Problem, url: str, hosts: tuple[str, ...]) -> None:
    """Successive halving writes and reads rung values in the storage from the workers: a SQLite
    file on the driver's disk is out of reach of workers on other machines."""
    config = problem.config
    halving = getattr(config.evaluator, "halving", None)
    if halving is not None and config.needs_accuracy and url.startswith("sqlite:") and len(hosts) > 1:
        raise NasError(f"storage: the cluster spans {len(hosts)} machines ({', '.join(hosts)}) and "
                       "evaluator.halving makes workers read the study, which they cannot in a SQLite file; "
                       "set storage: to a database server URL (postgresql://...) or drop evaluator.halving")
