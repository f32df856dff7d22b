"""Search overhead per trial: hwnas end to end beside plain Optuna, for objectives that need no training.

hwnas: ``nas search`` as a user runs it (a fresh process: start-up, the search, trials.csv,
pareto.csv, the plots and report.html), in the default run folder (the study in memory, each
finished trial appended to ``study.journal``), on a table-only problem: mobilenet_v3 at 32x32 (26
genes), objectives the two shipped mobilenet_v3 CPU tables' latency and MACs. ms/trial = wall
time / trials. Then ``nas report`` on the largest run, and the search's peak memory (max RSS).

Plain Optuna, in the same run: 26 categorical parameters, three objectives from a trivial
function, ask/tell in one process, in memory, on a journal file and on SQLite (the bare cost of
Optuna itself: the floor hwnas can approach).

    python experiments/bench_search_overhead.py                      # 1,000 and 10,000 trials
    python experiments/bench_search_overhead.py --trials 300 --no-write   # quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from nas.search import SamplerConfig, make_sampler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section

SECTION = "search_overhead"
SAMPLERS = ("random", "nsga2", "tpe")
CONFIG = """\
name: overhead
space: mobilenet_v3
resolutions: [32]
dataset: digits
objectives: ["latency:cpu_torch_mobilenet_v3", "latency:cpu_onnxruntime_mobilenet_v3", macs]
sampler: {{name: {sampler}, seed: 0}}
n_trials: {trials}
"""


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (its own, not the largest so far)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_maxrss / 1024


def run_hwnas(sampler: str, trials: int, root: Path) -> dict[str, float]:
    """Wall time and peak memory of ``nas search`` (a child process) and of ``nas report``."""
    cfg = root / f"{sampler}_{trials}.yaml"
    cfg.write_text(CONFIG.format(sampler=sampler, trials=trials))
    run_dir = root / f"run_{sampler}_{trials}"
    nas = [sys.executable, "-m", "nas"]
    wall, peak = _timed([*nas, "search", str(cfg), "--run-dir", str(run_dir), "--no-progress"])
    report, report_peak = _timed([*nas, "report", str(run_dir)])
    journal_mb = (run_dir / "study.journal").stat().st_size / 1e6
    shutil.rmtree(run_dir)
    return {"wall_s": wall, "ms_per_trial": wall / trials * 1e3, "report_s": report,
            "peak_rss_mb": peak, "report_rss_mb": report_peak, "journal_mb": journal_mb}


def run_optuna(sampler: str, trials: int, storage: str | None) -> float:
    """ms/trial of plain Optuna ask/tell with 26 categorical parameters."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The sampler hwnas builds for the same config (e.g. TPE multivariate with constant liar):
    # the comparison is of everything around the sampler, not of two sampler settings.
    study = optuna.create_study(directions=["minimize"] * 3, storage=storage,
                                sampler=make_sampler(SamplerConfig(name=sampler, seed=0)))
    t0 = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        genes = [trial.suggest_categorical(f"g{i}", [3, 5, 7]) for i in range(26)]
        study.tell(trial, [sum(genes), -genes[0], genes[1] * genes[2]])
    return (time.perf_counter() - t0) / trials * 1e3


def _storages(root: Path, label: str) -> dict[str, str | None]:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return {"memory": None,
            "journal": JournalStorage(JournalFileBackend(str(root / f"{label}.journal"))),  # type: ignore[dict-item]
            "sqlite": f"sqlite:///{root / label}.db"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    parser.add_argument("--tpe-trials", type=int, default=1000,
                        help="TPE only up to this many trials: its own cost grows with the history "
                             "(~15 ms/trial by 1,000 trials here, and on: hours for 10,000)")
    parser.add_argument("--optuna-storages", nargs="+", default=["memory", "journal", "sqlite"],
                        help="plain-Optuna storages (the journal and SQLite for the first sampler at the "
                             "smallest trial count only)")
    parser.add_argument("--scale-trials", type=int, default=100_000,
                        help="one random-sampler search of this many trials (0: none), for the wall time "
                             "of the search and of `nas report`, and memory per trial against 10,000")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    runs: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sampler in args.samplers:
            for trials in args.trials:
                if sampler == "tpe" and trials > args.tpe_trials:
                    continue
                h = run_hwnas(sampler, trials, root)
                plain = {}
                for name in args.optuna_storages:
                    if name != "memory" and (trials != min(args.trials) or sampler != args.samplers[0]):
                        continue  # an fsync per write: minutes per thousand trials here
                    plain[name] = run_optuna(sampler, trials, _storages(root, f"{sampler}{trials}")[name])
                runs[(sampler, trials)] = h
                rows.append(f"| {sampler} | {trials:,} | **{h['ms_per_trial']:.2f}** | {h['wall_s']:.1f} | "
                            f"{h['report_s']:.1f} | {h['peak_rss_mb']:.0f} | "
                            + " | ".join(f"{plain[n]:.2f}" if n in plain else "—" for n in args.optuna_storages)
                            + " |")
                print(rows[-1], flush=True)
        scale = ""
        if args.scale_trials:
            big = run_hwnas("random", args.scale_trials, root)
            small = runs.get(("random", 10_000)) or run_hwnas("random", 10_000, root)
            per_trial_kb = (big["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 / (args.scale_trials - 10_000)
            scale = (f"\n\nAt scale, random sampler, {args.scale_trials:,} trials: search {big['wall_s']:.0f} s "
                     f"(**{big['ms_per_trial']:.2f} ms/trial** end to end), `nas report` **{big['report_s']:.1f} s** "
                     f"(peak RSS {big['report_rss_mb']:.0f} MB), search peak RSS {big['peak_rss_mb']:.0f} MB, "
                     f"study.journal {big['journal_mb']:.0f} MB. Memory per trial: {per_trial_kb:.1f} KB "
                     f"(peak RSS growth from 10,000 to {args.scale_trials:,} trials per added trial: the study is "
                     f"held in memory for the sampler, ~{big['journal_mb'] * 1e3 / args.scale_trials:.1f} KB "
                     f"per trial as a journal line).")
            print(scale, flush=True)
    body = (
        f"Optuna {optuna.__version__}. hwnas: `nas search` end to end in a fresh process (start-up, "
        "search, trials.csv, pareto.csv, plots, report.html) on a table-only problem (mobilenet_v3 at "
        "32 px, 26 genes; objectives: two shipped CPU tables' latency and MACs), default run folder "
        "(study in memory, each finished trial appended to study.journal); ms/trial = wall / trials. "
        "`nas report` rebuilds every result file from the journal. Plain Optuna: 26 categorical "
        "parameters, three objectives, ask/tell in one process, with the sampler hwnas builds for "
        "the same config (NSGA-II population 50; TPE multivariate, constant liar); its journal file "
        "(an fsync per write) and SQLite for the first sampler at the smallest count only (minutes per "
        f"thousand trials). TPE up to {args.tpe_trials:,} trials only (`--tpe-trials`): its own cost "
        "grows with the history. 1-min load average at start: "
        f"{load:.1f} (above ~0.5 other jobs shared the cores and every figure is inflated).\n\n"
        "| sampler | trials | hwnas ms/trial | hwnas wall (s) | `nas report` (s) | peak RSS (MB) | "
        + " | ".join(f"Optuna {n} ms/trial" for n in args.optuna_storages) + " |\n"
        "|---|---|---|---|---|---|" + "---|" * len(args.optuna_storages) + "\n" + "\n".join(rows) + scale)
    if not args.no_write:
        write_section(SECTION, "Search overhead per trial (hwnas end to end vs plain Optuna)", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
