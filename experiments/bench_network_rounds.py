"""How many timing rounds a whole network needs on this machine: few against many, same minutes.

For each table: ``--n`` validation networks of one resolution are measured in ``--reps`` passes
per rounds setting, the settings alternating (6, 20, 6, 20, ...) so that each sees the same
spells of machine load. Per setting: how well two passes agree (Kendall τ and mean |difference|
%, over every pair of its passes), and how well the table predicts a pass (τ, within ±10%).
Anchors divide out the drift as in ``nas lut validate``.

    python experiments/bench_network_rounds.py --tables cpu_torch_mobilenet_v3 --resolution 32

Each run's rows are added to ``experiments/data/network_rounds/runs.json`` (the machine's
load changes from minute to minute, so every run is kept) and the ``network_rounds`` section of
``experiments/RESULTS.md`` is rewritten from all of them.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section
from scipy.stats import kendalltau

from nas.latency import load_table
from nas.latency._anchor import table_anchors
from nas.latency._networks import STREAM_VALIDATION, measure_items, sample_items, table_settings
from nas.latency._validate import accuracy

FINDINGS = (
    "- At 32 px (host 1), 20 rounds instead of 6 raised pass vs pass τ by 0.02-0.31: the "
    "default became 20.\n"
    "- At 224 px (host 3, mobilenet_v2), 60 rounds instead of 20 raised pass vs pass τ by "
    "0.02-0.05 (0.753 → 0.798 torch, 0.793 → 0.812 onnxruntime) at 2.4-2.9× the time: the "
    "pass-to-pass noise there is mostly not too few samples, and the default stays 20; more "
    "runs (`--passes`, or several runs combined with `--from-csv`) average it out instead.")

RUNS = Path(__file__).resolve().parent / "data" / "network_rounds" / "runs.json"


def pair_agreement(passes: list[np.ndarray]) -> tuple[float, float]:
    """Mean Kendall τ and mean |difference| % over every pair of passes."""
    pairs = list(itertools.combinations(passes, 2))
    tau = float(np.mean([kendalltau(a, b).statistic for a, b in pairs]))
    diff = float(np.mean([np.mean(np.abs(a / b - 1)) * 100 for a, b in pairs]))
    return tau, diff


def table_rows(tid: str, resolution: int, n: int, reps: int, rounds: list[int],
               seed: int) -> list[dict[str, Any]]:
    """One record per rounds setting: agreement between its passes and with the table."""
    table = load_table(tid)
    settings = table_settings(table)
    anchors = table_anchors(table.configs)
    items = [it for it in sample_items(table, n, seed, STREAM_VALIDATION)
             if it.arch.resolution == resolution]
    pred = table.predict_many([it.arch for it in items], classes=items[0].classes,
                              in_channels=items[0].in_channels)
    rng = np.random.default_rng(seed)
    runs: dict[int, list[np.ndarray]] = {r: [] for r in rounds}
    took: dict[int, float] = dict.fromkeys(rounds, 0.0)
    for _ in range(reps):
        for r in rounds:
            order = rng.permutation(len(items))
            t0 = time.perf_counter()
            timed = measure_items([items[i] for i in order], settings,
                                  seed=int(rng.integers(1 << 30)), anchors=anchors,
                                  progress=False, timing={"rounds": r})
            took[r] += time.perf_counter() - t0
            back = np.argsort(order)
            runs[r].append(np.array([timed.entries[i].value(table.statistic) for i in back]))
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    for r in rounds:
        tau, diff = pair_agreement(runs[r])
        vs_table = [accuracy(pred, m) for m in runs[r]]
        out.append({
            "utc": when, "kernel": platform.release(), "table": table.id,
            "resolution": resolution, "networks": len(items), "rounds": r, "passes": reps,
            "pass_tau": tau, "pass_diff_pct": diff,
            "table_tau": float(np.mean([a["kendall_tau"] for a in vs_table])),
            "table_within_10pct": float(np.mean([a["within_10pct"] for a in vs_table])),
            "s_per_network_pass": took[r] / reps / len(items)})
        print(json.dumps(out[-1]), flush=True)
    return out


def render_row(rec: dict[str, Any]) -> str:
    secs = rec.get("s_per_network_pass")
    probe = " (probe)" if rec.get("source") else ""
    kernel = rec["kernel"].rsplit("-", 1)[-1]
    return (f"| {rec['utc']}{probe}, {kernel} | `{rec['table']}` | {rec['resolution']} "
            f"| {rec['networks']} "
            f"| {rec['rounds']} | {rec['passes']} | {rec['pass_tau']:.3f} "
            f"| {rec['pass_diff_pct']:.1f} | {rec['table_tau']:.3f} "
            f"| {rec['table_within_10pct']:.0%} | {'—' if secs is None else f'{secs:.2f}'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", nargs="+", default=[])
    ap.add_argument("--render", action="store_true",
                    help="no measuring: rewrite the section from runs.json")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--n", type=int, default=32, help="networks (of that resolution)")
    ap.add_argument("--reps", type=int, default=2, help="passes per rounds setting")
    ap.add_argument("--rounds", type=int, nargs="+", default=[6, 20])
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    if not args.tables and not args.render:
        ap.error("--tables is required unless --render")
    new = [] if args.render else [rec for tid in args.tables
           for rec in table_rows(tid, args.resolution, args.n, args.reps, args.rounds,
                                 args.seed)]
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    records = [*(json.loads(RUNS.read_text()) if RUNS.is_file() else []), *new]
    RUNS.write_text(json.dumps(records, indent=1) + "\n")
    kernels = sorted({r["kernel"] for r in records})
    body = (
        "`python experiments/bench_network_rounds.py --tables ... --resolution R --n N --reps "
        "P`. The same networks measured in P passes per rounds setting, the settings "
        "alternating so that both see the same minutes of machine load; 40 ms bursts, min "
        "statistic, drift divided out by the anchors. 'pass vs pass' is how well two passes of "
        "the same setting agree (mean over pairs of passes); 'table vs a pass' scores the "
        "shipped table against one pass (mean over passes). Every run is kept (this VM's load "
        f"changes from minute to minute; hosts: Linux {', '.join(kernels)}); rows in run order, "
        "from `experiments/data/network_rounds/runs.json`; '(probe)' marks the run of the "
        "ad-hoc script this one grew from (same networks and measuring calls). Each run "
        "scores the table variant its host picks (v782: host 1, the default tables; "
        "v1300: host 3, `latency_tables/hosts/intel-xeon-family6-model167/`).\n\n"
        "| run | table | res | networks | rounds | passes | pass vs pass: τ "
        "| pass vs pass: diff % | table vs a pass: τ | table vs a pass: within ±10% "
        "| s per network per pass |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(render_row(r) for r in records) + "\n\n" + FINDINGS)
    write_section("network_rounds", "Whole-network timing: how many rounds", body)


if __name__ == "__main__":
    main()
