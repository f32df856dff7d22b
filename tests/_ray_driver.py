"""A small driver for the executor tests, run as its own process against a test Ray cluster.

    python tests/_ray_driver.py ADDRESS STORAGE STUDY --n-trials N --workers W [--sleep S]
        [--fail-above X] [--resources JSON] [--max-retries K]

It asks trials (:func:`run_plain`) with one float ``x`` from a random-sampler study and evaluates ``x**2`` through
:class:`nas.distributed.RayExecutor` after sleeping ``S`` seconds (raising ValueError when
``x > X``), and prints the executor's stats as JSON. Each trial records the number of RUNNING
trials the storage showed when it was asked (user attr ``running_at_ask``), which is what
samplers see as pending.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import optuna

from nas.distributed import RayExecutor, TrialResources
from nas.search import open_storage


class SlowSquare:
    """The evaluation run on a worker: the arch text is the float ``x``."""

    def __init__(self, sleep_s: float, fail_above: float) -> None:
        self.sleep_s, self.fail_above = sleep_s, fail_above

    def __call__(self, arch: str, _reporter: Any) -> float:
        x = float(arch)
        time.sleep(self.sleep_s)
        if x > self.fail_above:
            raise ValueError(f"x={x:.3f} is above {self.fail_above}")
        return x * x


def arch_of(trial: optuna.Trial) -> str:
    """Suggests ``x`` and records what samplers saw as pending when the trial was asked."""
    trial.set_user_attr("driver_pid", os.getpid())
    return repr(trial.suggest_float("x", 0.0, 1.0))


def run_plain(study: optuna.Study, executor: Any, evaluate: Any, n_trials: int,
              arch_of: Callable[[optuna.Trial], str]) -> None:
    """Ask ``n_trials`` trials of a plain study and evaluate them through ``executor`` (started):
    ``evaluate(arch_of(trial), None)`` is the trial's value; an error fails the trial."""
    asked, pending = 0, {}
    while True:
        while asked < n_trials and len(pending) < executor.slots:
            asked += 1
            running = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
            trial = study.ask()
            trial.set_user_attr("running_at_ask", running)
            pending[trial.number] = trial
            executor.submit(trial.number, evaluate, arch_of(trial), None)
        if not pending:
            return
        for outcome in executor.wait():
            trial = pending.pop(outcome.key)
            for key, value in outcome.attrs.items():
                trial.set_user_attr(key, value)
            if outcome.error is not None:
                trial.set_user_attr("fail_reason", outcome.error)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, outcome.result)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("storage")
    ap.add_argument("study")
    ap.add_argument("--n-trials", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sleep", type=float, default=0.0)
    ap.add_argument("--fail-above", type=float, default=2.0)
    ap.add_argument("--resources", default="{}")
    ap.add_argument("--num-cpus", type=float, default=1.0)
    ap.add_argument("--max-retries", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=open_storage(args.storage), study_name=args.study, load_if_exists=True,
                                sampler=optuna.samplers.RandomSampler(seed=args.seed))
    need = TrialResources(num_cpus=args.num_cpus, resources=json.loads(args.resources),
                          max_retries=args.max_retries)
    executor = RayExecutor(None if args.address == "local" else args.address, workers=args.workers,
                           resources=need, num_cpus=2)
    evaluate = SlowSquare(args.sleep, args.fail_above)
    import ray.cloudpickle

    # Workers cannot import this test file: ship its classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with executor.started(None, args.storage):
        run_plain(study, executor, evaluate, args.n_trials, arch_of)
    print(json.dumps(asdict(executor.stats)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
