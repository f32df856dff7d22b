"""Hypervolume reached by nsga2 and tpe against random, at equal budget, over several seeds.

Problem (table latency + zero-cost): mobilenet_v3 at 32x32 on digits, objectives NASWOT score
(maximize; at initialization, batch 32) and predicted latency from the shipped
``cpu_torch_mobilenet_v3`` table (minimize), hard constraint ``params <= 4M``. Every sampler and
seed runs the same number of trials through the real runner (SQLite study, cheap-first
constraints, arch cache). Proxy scores are deterministic per arch, so an arch scored in one run is
not recomputed in another (same numbers, less time).

Hypervolume is computed over the feasible trials, both objectives normalized between the best and
worst feasible values seen in any run of the benchmark, reference point 1.1 (so the numbers of
all samplers are comparable; the maximum is 1.21).

    python experiments/bench_search_samplers.py                          # final: 5 seeds x 100 trials
    python experiments/bench_search_samplers.py --seeds 2 --trials 30    # quick check
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section

from nas.evaluators import EvalResult, RungReporter, ZeroCostConfig
from nas.search import (
    SamplerConfig,
    SearchConfig,
    evaluate,
    hypervolume,
    load_run,
    run_search,
    to_minimization,
)

SECTION = "search_samplers"
LAT = "latency:cpu_torch_mobilenet_v3"


def problem(sampler: str, seed: int, trials: int) -> SearchConfig:
    pop = max(4, trials // 5)
    return SearchConfig(
        name=f"{sampler}_{seed}", space="mobilenet_v3", resolutions=(32,), dataset="digits",
        objectives=("accuracy", LAT), constraints=("params <= 4M",),
        sampler=SamplerConfig(sampler, seed=seed,
                              population_size=pop if sampler.startswith("nsga") else None,
                              n_startup_trials=pop if sampler == "tpe" else None),
        n_trials=trials,
        evaluator=ZeroCostConfig(proxies=("naswot",), batch_size=32, seed=0, threads=1))


class Memo:
    """The zero-cost evaluation, remembered per arch across runs (it is deterministic)."""

    def __init__(self, config: SearchConfig) -> None:
        self.config, self.scores, self.computed = config, {}, 0  # type: ignore[var-annotated]

    def __call__(self, arch: str, reporter: RungReporter | None = None) -> EvalResult:
        if arch not in self.scores:
            self.scores[arch] = evaluate(self.config, arch)
            self.computed += 1
        return self.scores[arch]


def curves(run_dirs: dict[tuple[str, int], Path], trials: int) -> dict[tuple[str, int], np.ndarray]:
    """Hypervolume after each trial, per run, in the benchmark-wide normalization."""
    points: dict[tuple[str, int], list[tuple[int, list[float]]]] = {}
    for key, d in run_dirs.items():
        run = load_run(d)
        points[key] = [(t.number, [t.values["accuracy"], t.values[LAT]]) for t in run.feasible()]
    every = np.array([p for pts in points.values() for _, p in pts])
    losses = to_minimization(every, ["maximize", "minimize"])
    ideal, nadir = losses.min(axis=0), losses.max(axis=0)
    out = {}
    for key, pts in points.items():
        hv = np.zeros(trials)
        for k in range(trials):
            sofar = [p for n, p in pts if n <= k]
            if sofar:
                hv[k] = hypervolume(to_minimization(np.array(sofar), ["maximize", "minimize"]),
                                    ideal, nadir)
        out[key] = hv
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--samplers", nargs="+", default=["random", "nsga2", "tpe"])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    memo = Memo(problem("random", 0, args.trials))
    run_dirs: dict[tuple[str, int], Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for sampler in args.samplers:
                d = Path(tmp) / f"{sampler}_{seed}"
                run_search(problem(sampler, seed, args.trials), d, evaluator=memo, progress=False,
                           report=False)
                run_dirs[(sampler, seed)] = d
                print(f"{sampler} seed {seed} done ({time.perf_counter() - t0:.0f} s, "
                      f"{memo.computed} archs scored)", flush=True)
        hv = curves(run_dirs, args.trials)
    wall = time.perf_counter() - t0
    checkpoints = sorted({max(1, args.trials // 4), args.trials // 2, args.trials})
    base = np.mean([hv[("random", s)][-1] for s in range(args.seeds)]) if "random" in args.samplers else None
    rows = []
    for sampler in args.samplers:
        finals = np.array([hv[(sampler, s)][-1] for s in range(args.seeds)])
        at = [np.mean([hv[(sampler, s)][c - 1] for s in range(args.seeds)]) for c in checkpoints]
        ratio = f"{finals.mean() / base:.3f}" if base else "-"
        wins = (sum(hv[(sampler, s)][-1] > hv[("random", s)][-1] for s in range(args.seeds))
                if "random" in args.samplers else 0)
        rows.append(f"| {sampler} | " + " | ".join(f"{v:.4f}" for v in at)
                    + f" | {finals.std(ddof=1) if args.seeds > 1 else 0:.4f} | {ratio} | "
                    f"{wins}/{args.seeds} |")
        print(rows[-1], flush=True)
    cmd = "python experiments/bench_search_samplers.py" + (
        f" --seeds {args.seeds}" if args.seeds != 5 else "") + (
        f" --trials {args.trials}" if args.trials != 100 else "")
    body = (
        f"`{cmd}`; Optuna {optuna.__version__}; wall {wall / 60:.1f} min ({memo.computed} distinct "
        f"archs scored). Problem: mobilenet_v3 at 32x32 on digits, objectives NASWOT score "
        f"(max) and `{LAT}` (min), constraint `params <= 4M`; {args.trials} trials per run, seeds "
        f"0..{args.seeds - 1}; NSGA-II population and TPE start-up trials = budget/5. Hypervolume "
        "of the feasible trials, both objectives normalized by the best and worst feasible values "
        "seen in any run, reference point 1.1 (max 1.21). Mean over seeds after 25%, 50% and 100% "
        "of the budget; std and win count at the end. 1-min load average at start: "
        f"{load:.1f}.\n\n"
        "| sampler | " + " | ".join(f"HV after {c}" for c in checkpoints)
        + " | std (final) | final / random | beats random (seeds) |\n"
        "|---|" + "---|" * (len(checkpoints) + 3) + "\n" + "\n".join(rows))
    if not args.no_write:
        write_section(SECTION, "Samplers: hypervolume against random at equal budget", body)
    print(body)


if __name__ == "__main__":
    main()
