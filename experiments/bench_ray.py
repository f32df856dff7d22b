"""Ray dispatch: speed-up of 2 workers over 1 on a CPU-bound evaluator, and dispatch overhead per trial.

Both are measured through :class:`nas.distributed.RayExecutor` (ask, Ray task, tell into an
in-memory study, as a run folder's search does; the driver loop is the tests' ``run_plain``) on
(a) a local Ray instance started by the driver and (b) a two-node cluster started on this machine
with ``ray start`` (1 CPU per node), the driver joining it.

* Speed-up: ``N`` trials, each a fixed number of SGD steps of a small MLP in one thread
  (``torch.set_num_threads(1)``), run with 1 worker then 2; speed-up = wall(1) / wall(2).
  Workers are warmed up first (torch imported in two worker processes) so neither run pays it.
* Overhead: ``M`` trials of a trivial evaluator, with 1 and 2 workers; overhead per trial =
  (wall - sum of evaluation times) / M. Such evaluations go to Ray in batches. The same study work
  (ask, suggest, attribute, tell) is also timed without Ray.

Run (about 3 minutes on 2 quiet cores):
    python experiments/bench_ray.py
Reduced check (under a minute of work plus the Ray starts):
    python experiments/bench_ray.py --trials 4 --steps 150 --overhead-trials 40 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the loopback cluster helper the tests use


def cpu_steps(steps: int, seed: int) -> float:
    """A CPU-bound evaluation: ``steps`` SGD steps of a 256-512-10 MLP on one thread."""
    import torch

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 256, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    loss = torch.zeros(())
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return float(loss)


def trivial(x: float) -> float:
    return x * x


class Evaluation:
    """``fn(*args(arch))`` as the executor's ``evaluator(arch, reporter)``; ``arch`` carries the
    trial's argument as text."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, arch: str, _reporter: Any) -> float:
        return float(self.fn(*json.loads(arch)))


def _study(storage: str | None) -> Any:
    """A study in memory, or in SQLite opened as a search run opens it (WAL, synchronous=NORMAL)."""
    import optuna

    from nas.search import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=open_storage(storage) if storage else None,
                               sampler=optuna.samplers.RandomSampler(seed=0))


def _run(study: Any, n: int, evaluate: Any, make_args: Any, workers: int, address: str | None) -> dict[str, float]:
    from _ray_driver import run_plain

    from nas.distributed import RayExecutor

    executor = RayExecutor(address, workers=workers)
    start = time.perf_counter()
    with executor.started(None, ""):
        run_plain(study, executor, Evaluation(evaluate), n, lambda trial: json.dumps(make_args(trial)))
    wall = time.perf_counter() - start
    if executor.stats.completed != n:
        raise RuntimeError(f"benchmark trials failed: {executor.stats.failures}")
    return {"wall_s": wall, "eval_s": executor.stats.eval_s, "max_batch": executor.stats.max_batch}


def measure(address: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """All figures on one Ray instance (local when ``address`` is None)."""
    import ray

    from nas.distributed import ray_cluster

    out: dict[str, Any] = {}
    join = address  # an executor uses the Ray instance already started here as it is
    with ray_cluster(address, num_cpus=2) as info:
        out["nodes"] = len(info.nodes)
        # Warm-up: two workers import torch and run a few steps, so timed runs pay no start-up.
        warm = ray.remote(cpu_steps).options(num_cpus=1)
        ray.get([warm.remote(5, i) for i in range(2)])

        def step_args(trial: Any) -> tuple[int, int]:
            return (args.steps, trial.number)

        for workers in (1, 2):
            study = _study(None)
            out[f"speed_w{workers}"] = _run(study, args.trials, cpu_steps, step_args, workers, join)
        out["speedup"] = out["speed_w1"]["wall_s"] / out["speed_w2"]["wall_s"]

        def x_args(trial: Any) -> tuple[float]:
            return (trial.suggest_float("x", 0, 1),)

        for workers in (1, 2):  # cheap evaluations go in batches (RayExecutor sizes them)
            run = _run(_study(None), args.overhead_trials, trivial, x_args, workers, join)
            out[f"overhead_w{workers}_ms"] = (run["wall_s"] - run["eval_s"]) / args.overhead_trials * 1000
            out[f"batch_w{workers}"] = run["max_batch"]
        out["storage_only_ms"] = storage_only(None, args.overhead_trials)
    return out


def storage_only(storage: str | None, n: int) -> float:
    """ms per trial of the same study work without Ray: ask, suggest, one user attr, tell."""
    study = _study(storage)
    start = time.perf_counter()
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        trial.set_user_attr("ray_worker", {"attempts": 1})
        study.tell(trial, trivial(x))
    return (time.perf_counter() - start) / n * 1000


def _child(args: argparse.Namespace) -> int:
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    print(json.dumps(measure(args.address, args)), flush=True)
    return 0


def _in_child(args: argparse.Namespace, address: str | None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Each Ray instance gets a fresh driver process (Ray's auth settings are per process)."""
    cmd = [sys.executable, __file__, "--child", "--trials", str(args.trials), "--steps", str(args.steps),
           "--overhead-trials", str(args.overhead_trials)]
    if address:
        cmd += ["--address", address]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env or dict(os.environ), timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"benchmark driver failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=16, help="CPU-bound trials per speed-up run")
    ap.add_argument("--steps", type=int, default=600, help="SGD steps per CPU-bound trial (~1 s on this CPU)")
    ap.add_argument("--overhead-trials", type=int, default=2000, help="trivial trials per overhead run")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--address", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(args)

    from _cluster import LoopbackCluster

    load_before = os.getloadavg()[0]
    results = {"local instance (2 CPUs)": _in_child(args, None)}
    cluster = LoopbackCluster.start([{"num_cpus": 1}, {"num_cpus": 1}])
    try:
        results["two-node loopback cluster (1 CPU each)"] = _in_child(args, cluster.address, cluster.env)
    finally:
        cluster.stop()
    load = (load_before, os.getloadavg()[0])
    print(json.dumps(results, indent=2), f"\n1-min load average before/after: {load[0]:.1f}/{load[1]:.1f}")
    if not args.no_write:
        write(results, args, load)
    return 0


def write(results: dict[str, dict[str, Any]], args: argparse.Namespace, load: tuple[float, float]) -> None:
    import optuna
    import ray
    from _results import write_section

    rows = ["| Ray instance | 1 worker (s) | 2 workers (s) | speed-up (target ≥ 1.7) | eval s/trial | "
            "overhead/trial, trivial evaluations, 1 worker (ms; target ≤ 5) | the same, 2 workers (ms) | "
            "largest batch | the study work alone, no Ray (ms) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        per_eval = statistics.mean([r["speed_w1"]["eval_s"] / args.trials, r["speed_w2"]["eval_s"] / args.trials])
        rows.append(f"| {name} | {r['speed_w1']['wall_s']:.1f} | {r['speed_w2']['wall_s']:.1f} | "
                    f"{r['speedup']:.2f}x | {per_eval:.2f} | {r['overhead_w1_ms']:.2f} | "
                    f"{r['overhead_w2_ms']:.2f} | {r['batch_w1']} | {r['storage_only_ms']:.2f} |")
    body = (f"`python experiments/bench_ray.py --trials {args.trials} --steps {args.steps} "
            f"--overhead-trials {args.overhead_trials}`; Ray {ray.__version__}, Optuna {optuna.__version__}. "
            f"Speed-up: {args.trials} trials of {args.steps} single-thread SGD steps, random sampler, in-memory "
            "study (as a run folder's), workers warmed up. Overhead: trivial evaluator, (wall − evaluation time) "
            "per trial; it includes ask, task submission and result, and tell. Cheap evaluations go in batches "
            "(about 0.2 s of work per task, up to 64), slow ones one per task. The study work alone (ask, "
            "suggest, attr, tell) is timed without Ray. Times exclude starting Ray. "
            "1-min load average before/after: "
            f"{load[0]:.1f}/{load[1]:.1f} (above ~0.5 other jobs shared the cores and the figures are not "
            "clean).\n\n" + "\n".join(rows))
    write_section("ray", "Distributed search on Ray: speed-up and dispatch overhead", body)


if __name__ == "__main__":
    sys.exit(main())
