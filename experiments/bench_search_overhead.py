"""Orchestration overhead per trial of a local search: sampler + storage + cheap scoring.

The evaluator is trivial (a pseudo-accuracy from the arch's hash, microseconds), so every
millisecond measured is the search's own: Optuna ask (the sampler, then one storage transaction
per suggested gene), cheap scores (MACs, params, memory, table latency), user attributes and
constraints, cache lookup, tell. The study is the default SQLite file in a run folder (WAL,
synchronous=NORMAL). Problem: mobilenet_v3 at 32x32 (26 genes), objectives accuracy + table
latency + MACs, one latency constraint, like the quickstart.

    python experiments/bench_search_overhead.py                 # final: 300 trials per sampler
    python experiments/bench_search_overhead.py --trials 60     # quick check
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section

from nas.evaluators import COMPLETE, EvalResult, ZeroCostConfig
from nas.search import (
    SamplerConfig,
    SearchConfig,
    SearchDriver,
    check_config,
    open_study,
)

SECTION = "search_overhead"
LAT = "latency:cpu_torch_mobilenet_v3"


def trivial(arch: str) -> EvalResult:
    return EvalResult(COMPLETE, int(hashlib.sha256(arch.encode()).hexdigest()[:8], 16) / 2**32, {})


def measure(sampler: str, trials: int, root: Path) -> dict[str, np.ndarray]:
    cfg = SearchConfig(
        name=f"overhead_{sampler}", space="mobilenet_v3", resolutions=(32,),
        objectives=("accuracy", LAT, "macs"), constraints=(f"{LAT} <= 12",),
        sampler=SamplerConfig(sampler, seed=0,
                              population_size=20 if sampler.startswith("nsga") else None),
        n_trials=trials, evaluator=ZeroCostConfig())
    problem = check_config(cfg)
    study, url, _ = open_study(problem, root / sampler, resume=False)
    driver = SearchDriver(problem, study, url)
    ask, tell, total = [], [], []
    for _ in range(trials):
        t0 = time.perf_counter()
        cand = driver.ask()
        t1 = time.perf_counter()
        if cand.needs_eval:
            result = trivial(cand.arch.text)
            t2 = time.perf_counter()
            driver.tell(cand, result)
        else:
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        driver.counted_trials(driver.study.get_trials(deepcopy=False))  # the budget check
        t4 = time.perf_counter()
        ask.append(t1 - t0)
        tell.append(t3 - t2)
        total.append(t4 - t0 - (t2 - t1))
    return {"ask": np.array(ask) * 1e3, "tell": np.array(tell) * 1e3, "total": np.array(total) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--samplers", nargs="+", default=["random", "nsga2", "tpe"])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in args.samplers:
            t0 = time.perf_counter()
            m = measure(sampler, args.trials, Path(tmp))
            wall = time.perf_counter() - t0
            n = len(m["total"])
            last = m["total"][n - n // 5:]
            rows.append(f"| {sampler} | {np.mean(m['total']):.1f} | {np.median(m['total']):.1f} | "
                        f"{np.percentile(m['total'], 90):.1f} | {np.mean(m['ask']):.1f} | "
                        f"{np.mean(m['tell']):.1f} | {np.mean(last):.1f} | {wall:.1f} |")
            print(rows[-1], flush=True)
    cmd = "python experiments/bench_search_overhead.py" + (
        f" --trials {args.trials}" if args.trials != 300 else "") + (
        f" --samplers {' '.join(args.samplers)}" if args.samplers != ["random", "nsga2", "tpe"] else "")
    body = (
        f"`{cmd}`; Optuna {optuna.__version__}. {args.trials} trials per sampler with a trivial "
        "evaluator (hash of the arch, microseconds), so the figures are the search's own cost per "
        "trial: ask (sampler + one storage transaction per gene, 26 genes), cheap scores (MACs, "
        "params, memory, table latency), attributes and constraints, cache lookup, tell, budget "
        "check. Default SQLite study in the run folder (WAL, synchronous=NORMAL); mobilenet_v3 at "
        "32x32, objectives accuracy + CPU table latency + MACs, one latency constraint. 1-min load "
        f"average at start: {load:.1f} (above ~0.5 other jobs shared the cores).\n\n"
        "| sampler | mean ms/trial | median | p90 | ask (ms) | tell (ms) | mean over last 20% "
        "of trials | wall (s) |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    if not args.no_write:
        write_section(SECTION, "Search orchestration overhead per trial", body)
    print(body)


if __name__ == "__main__":
    main()
