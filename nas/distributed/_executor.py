"""``RayExecutor``: the search loop's evaluations as Ray tasks, up to ``workers`` at once.

The driver owns the study (asks, tells, cheap scores, constraints and the cache all stay there);
only evaluations leave it, each a Ray task ``evaluator(arch_text, reporter)`` with the configured
resources. Each result is handed back as soon as it arrives.

Faults: a task whose worker process or node died is submitted again, at most
``resources.max_retries`` times, then its trial is recorded FAILED with the reason. An exception
raised by the evaluation itself is never retried: the trial is recorded FAILED with
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


# -- on the worker ------------------------------------------------------------------------------

# Evaluators by content, per worker process: a reused worker keeps its loaded dataset (an
# evaluator drops its data when pickled). Bounded: a few distinct evaluators at most.
_EVALUATORS: OrderedDict[str, Any] = OrderedDict()
_MAX_EVALUATORS = 4


def evaluate_on_worker(evaluator: Any, arch: str, reporter: Any) -> tuple[Any, dict[str, Any]]:
    """The Ray task body: the worker's cached copy of ``evaluator`` on ``arch``, and where it ran."""
    import ray
    import ray.cloudpickle

    start = time.perf_counter()
    key = hashlib.sha256(ray.cloudpickle.dumps(evaluator)).hexdigest()  # classes pickled by value too
    cached = _EVALUATORS.get(key)
    if cached is None:
        _EVALUATORS[key] = cached = evaluator
        while len(_EVALUATORS) > _MAX_EVALUATORS:
            _EVALUATORS.popitem(last=False)
    value = cached(arch, reporter)
    where = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
             "pid": os.getpid(), "eval_s": time.perf_counter() - start}
    return value, where


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
    eval_s: float = 0.0
    max_in_flight: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class _Task:
    key: int
    args: tuple[Any, ...]
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
                 resources: TrialResources | None = None, num_cpus: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise NasError(f"--workers must be >= 1, got {workers}")
        self.address = parse_address(address)  # a wrong address fails before a run folder is touched
        if self.address not in (LOCAL, "auto"):
            check_reachable(self.address)
        self.workers, self.num_cpus = workers, num_cpus
        self.resources = resources or TrialResources()
        self.slots = workers or 1
        self.stats = DispatchStats()
        self._in_flight: dict[Any, _Task] = {}
        self._refs: dict[int, Any] = {}  # id(evaluator) -> its object ref, shipped once
        self._remote: Any = None

    @contextlib.contextmanager
    def started(self, problem: Problem | None, storage_url: str) -> Iterator[None]:
        """Start or join Ray and check it can run the trials (and, for a search ``problem``, that
        its workers can reach the storage; ``None`` for a plain study checks nothing more)."""
        import ray

        with ray_cluster(self.address, self.resources, num_cpus=self.num_cpus) as info:
            if problem is not None:
                _check_storage_reach(problem, storage_url, info.hosts)
            self.slots = self.workers or info.capacity
            if self.slots > info.capacity:
                log.warning("--workers %d: the cluster fits %d trial(s) at once; the rest wait",
                            self.slots, info.capacity)
            log.info(f"ray: {len(info.nodes)} node(s) ({info.address}), {self.slots} worker(s), per trial "
                     f"{self.resources.to_dict()}")
            self._remote = ray.remote(evaluate_on_worker)
            start = time.perf_counter()
            try:
                yield
            finally:
                self.cancel()
                self._refs.clear()
                s = self.stats
                log.info(f"ray: {s.submitted} evaluation(s) dispatched, {s.completed} told, {s.failed} failed, "
                         f"{s.retries} retried after lost workers, {time.perf_counter() - start:.1f}s")

    def submit(self, key: int, evaluator: Evaluator, arch: str, reporter: RungReporter | None) -> None:
        import ray

        ref = self._refs.get(id(evaluator))
        if ref is None:  # ship the evaluator once, not with every task
            ref = self._refs[id(evaluator)] = ray.put(evaluator)
        self.stats.submitted += 1
        self._start(_Task(key, (ref, arch, reporter)))

    def _start(self, task: _Task) -> None:
        if self._remote is None:
            raise RuntimeError("RayExecutor.submit outside RayExecutor.started()")
        ref = self._remote.options(name=f"nas-trial-{task.key}", **self.resources.ray_options()).remote(*task.args)
        self._in_flight[ref] = task
        self.stats.max_in_flight = max(self.stats.max_in_flight, len(self._in_flight))

    def wait(self) -> list[Outcome]:
        import ray

        ready, _ = ray.wait(list(self._in_flight), num_returns=1)
        return [o for ref in ready if (o := self._finish(ref)) is not None]

    def _finish(self, ref: Any) -> Outcome | None:
        import ray

        task = self._in_flight.pop(ref)
        try:
            value, where = ray.get(ref)
        except _retryable_errors() as exc:
            reason = exception_text(exc)
            task.errors.append(reason)
            if task.attempts <= self.resources.max_retries:
                log.warning("trial %d: worker lost (%s); retry %d of %d", task.key, reason, task.attempts,
                            self.resources.max_retries)
                task.attempts += 1
                self.stats.retries += 1
                # A lost node may have been the only one with the resources: fail now, not hang.
                describe_cluster(self.resources, "the cluster", started_here=False)
                self._start(task)
                return None
            log.error("trial %d: worker lost %d time(s), giving up: %s", task.key, task.attempts, reason)
            return self._failed(task, f"worker lost {task.attempts} time(s): " + " | ".join(task.errors))
        except ray.exceptions.RayError as exc:
            # The evaluation raised (RayTaskError) or Ray could not run/return it: not retried.
            reason = f"error: {exception_text(exc)}"
            log.error("trial %d failed: %s\n%s", task.key, reason, exc)
            return self._failed(task, reason)
        self.stats.completed += 1
        self.stats.eval_s += float(where.get("eval_s", 0.0))
        return Outcome(task.key, result=value, attrs={WORKER_ATTR: {**where, "attempts": task.attempts}})

    def _failed(self, task: _Task, reason: str) -> Outcome:
        self.stats.failed += 1
        self.stats.failures.append(f"trial {task.key}: {reason}")
        return Outcome(task.key, error=reason, attrs={WORKER_ATTR: {"attempts": task.attempts}})

    def cancel(self) -> None:
        import ray

        for ref in self._in_flight:
            ray.cancel(ref, force=True)
        self._in_flight.clear()


def _check_storage_reach(problem: Problem, url: str, hosts: tuple[str, ...]) -> None:
    """Successive halving writes and reads rung values in the storage from the workers: a SQLite
    file on the driver's disk is out of reach of workers on other machines."""
    config = problem.config
    halving = getattr(config.evaluator, "halving", None)
    if halving is not None and config.needs_accuracy and url.startswith("sqlite:") and len(hosts) > 1:
        raise NasError(f"storage: the cluster spans {len(hosts)} machines ({', '.join(hosts)}) and "
                       "evaluator.halving makes workers read the study, which they cannot in a SQLite file; "
                       "set storage: to a database server URL (postgresql://...) or drop evaluator.halving")
