"""A small driver for the dispatcher tests, run as its own process against a test Ray cluster.

    python tests/_ray_driver.py ADDRESS STORAGE STUDY --n-trials N --workers W [--sleep S]
        [--fail-above X] [--resources JSON] [--max-retries K]

It asks trials with one float ``x`` from a random-sampler study, evaluates ``x**2`` on Ray after
sleeping ``S`` seconds (raising ValueError when ``x > X``), and prints the dispatch stats as JSON.
Each trial records the number of RUNNING trials the storage showed when it was asked
(user attr ``running_at_ask``), which is what samplers see as pending.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import optuna

from nas.distributed import Job, TrialResources, open_storage, ray_cluster, run_trials


def slow_square(x: float, sleep_s: float, fail_above: float) -> float:
    """The evaluation run on a worker."""
    time.sleep(sleep_s)
    if x > fail_above:
        raise ValueError(f"x={x:.3f} is above {fail_above}")
    return x * x


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
    asked = 0

    def prepare(st: optuna.Study) -> Job | None:
        nonlocal asked
        if asked >= args.n_trials:
            return None
        asked += 1
        running = len(st.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))
        trial = st.ask()
        trial.set_user_attr("running_at_ask", running)
        trial.set_user_attr("driver_pid", os.getpid())
        x = trial.suggest_float("x", 0.0, 1.0)
        return Job(trial, (x, args.sleep, args.fail_above))

    need = TrialResources(num_cpus=args.num_cpus, resources=json.loads(args.resources),
                          max_retries=args.max_retries)
    import ray.cloudpickle

    # Workers cannot import this test file: ship its functions by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with ray_cluster(None if args.address == "local" else args.address, need, num_cpus=2):
        stats = run_trials(study, prepare, slow_square, workers=args.workers, resources=need)
    print(json.dumps({k: v for k, v in vars(stats).items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
