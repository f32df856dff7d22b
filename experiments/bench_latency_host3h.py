"""Set H on host 3: the shipped host-3 tables on a third set of 50 fresh networks per config.

``bench_latency_out_host3h/runs.sh`` validated the host-3 variants in
``latency_tables/hosts/intel-xeon-family6-model167/`` (the set F build, unchanged) on 50 new
networks per config (seed 2032), 5 runs each; its ``PLAN.md`` was written before any run. This
script scores, per table and resolution, on each set's runs combined per network (equal
weights): set H with the naive sum, the FLOPs baseline and the run vs run τ, beside sets F
(seed 2030) and G (seed 2031), and the mean over the three sets.

    python experiments/bench_latency_host3h.py [--no-results] [--note TEXT]

Writes the ``latency_tables_host3h`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _results import publish, section_args
from bench_latency_host2 import TABLES, fig, runs_alone, runs_of, score_rows, set_intro, short
from bench_latency_setb import render_per_run

from nas.latency import read_table
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
# The host-3 variants as shipped until set I: the set F build, byte-identical.
TABLE_DIR = HERE / "bench_latency_out_host3" / "tables"
SETS = {"F": HERE / "bench_latency_out_host3", "G": HERE / "bench_latency_out_host3g",
        "H": HERE / "bench_latency_out_host3h"}


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: set H in full, and the table's model scores on every set."""
    table = read_table(TABLE_DIR / f"{tid}.json")
    by_set = {name: score_runs(table, [r / f"validate_{tid}.csv" for r in runs_of(tid, folder)])
              for name, folder in SETS.items() if runs_of(tid, folder)}
    h = by_set["H"]
    rows = {}
    for res, g in h["per_resolution"].items():
        models = {name: s["per_resolution"][res]["model"] for name, s in by_set.items()}
        rows[res] = {"n": g["model"]["n"], "runs": len(h["runs"]), "model": g["model"],
                     "flops": g["baseline_flops"], "naive": g["naive_sum"],
                     "run_vs_run_tau": h.get("between_runs", {}).get(res, {}).get(
                         "median_tau_run_vs_run"),  # None with one run
                     "sets": models,
                     "mean_tau": float(np.mean([m["kendall_tau"] for m in models.values()])),
                     "min_within": min(m["within_10pct"] for m in models.values())}
    return {"table": tid, "content_hash": table.content_hash, "per_resolution": rows}


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        set_intro("H", 2032) + ", beside sets F (seed 2030) and G (seed "
        "2031) for the same tables, and τ averaged over the three sets. Run vs run: the median "
        "τ between two runs of set H.", "",
        "| table (host 3, shipped variant) | res | runs, n | **set H** | naive sum (H) | FLOPs "
        "baseline (H) | run vs run τ (H) | set F | set G | mean τ, F G H | lowest within ±10% |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['model'])}** | {fig(g['naive'])} | {short(g['flops'])} | "
        f"{'–' if g['run_vs_run_tau'] is None else format(g['run_vs_run_tau'], '.3f')} | "
        f"{short(g['sets']['F'])} | {short(g['sets']['G'])} | {g['mean_tau']:.3f} | "
        f"{g['min_within']:.0%}"))
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    tables = [t for t in TABLES if runs_of(t, SETS["H"])]
    results = [scores(t) for t in tables]
    runs = runs_alone(tables, TABLE_DIR, SETS["H"], "host 3")
    publish(args, "latency_tables_host3h", "Latency tables (`experiments/bench_latency_host3h.py`): "
            "set H, a third fresh test of the shipped host-3 tables",
            {"tables": results, "per_run": runs}, render(results), render_per_run(runs, "set H"))


if __name__ == "__main__":
    main()
