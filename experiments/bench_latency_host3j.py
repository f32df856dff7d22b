"""Set J on host 3: the shipped host-3 tables on 50 fresh networks per config.

The host-3 variants in ``latency_tables/hosts/intel-xeon-family6-model167/`` shipped from set I
to set K (150 more 32 px calibration networks each and key scales; byte-identical copies in
``bench_latency_out_host3i/tables/``); set I's rule chose them, so set I is not an unbiased score
of them. ``bench_latency_out_host3j/runs.sh`` validated them, unchanged,
on 50 new networks per config (seed 2034), 5 runs each; its ``PLAN.md`` was written before any
run. This script scores, per table and resolution, on the runs combined per network (equal
weights): set J with the naive sum, the FLOPs baseline and the run vs run τ; the tables shipped
before set I (the set F build) on the same timings; and the shipped table's τ on set I.

    python experiments/bench_latency_host3j.py [--no-results] [--note TEXT]

Writes the ``latency_tables_host3j`` section of ``experiments/RESULTS.md``. No measuring.
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
OUT = HERE / "bench_latency_out_host3j"
# The host-3 variants shipped from set I to set K (byte-identical to the set I candidates);
# the ones shipped since have sets F-I in their calibration and cannot score them.
SHIPPED = HERE / "bench_latency_out_host3i" / "tables"
# The host-3 variants shipped before set I: the set F build, byte-identical.
BEFORE = HERE / "bench_latency_out_host3" / "tables"
SET_I = HERE / "bench_latency_out_host3i"


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: set J for the shipped table and its predecessor, and set I's τ."""
    shipped, before = read_table(SHIPPED / f"{tid}.json"), read_table(BEFORE / f"{tid}.json")
    csvs = [r / f"validate_{tid}.csv" for r in runs_of(tid, OUT)]
    on_j, before_j = score_runs(shipped, csvs), score_runs(before, csvs)
    on_i = score_runs(shipped, [r / f"validate_{tid}.csv" for r in runs_of(tid, SET_I)])
    rows = {}
    for res, g in on_j["per_resolution"].items():
        rows[res] = {"n": g["model"]["n"], "runs": len(csvs), "model": g["model"],
                     "before": before_j["per_resolution"][res]["model"],
                     "naive": g["naive_sum"], "flops": g["baseline_flops"],
                     "run_vs_run_tau": on_j.get("between_runs", {}).get(res, {}).get(
                         "median_tau_run_vs_run"),  # None with one run
                     "set_i": on_i["per_resolution"][res]["model"]}
    return {"table": tid, "content_hash": shipped.content_hash,
            "before_hash": before.content_hash, "per_resolution": rows}


def meets(m: dict[str, Any]) -> bool:
    """Both of the issue's targets: >= 95% within ±10% and τ >= 0.9."""
    return m["within_10pct"] >= 0.95 and m["kendall_tau"] >= 0.9


def tally(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows meeting both targets (>= 95% within ±10%, τ >= 0.9), per table and set, and the τ
    change from the tables shipped before set I to the shipped ones, on set J."""
    out: dict[str, Any] = {"rows": 0, "shipped_j": 0, "before_j": 0, "shipped_i": 0}
    change = []
    for r in results:
        for g in r["per_resolution"].values():
            out["rows"] += 1
            change.append(g["model"]["kendall_tau"] - g["before"]["kendall_tau"])
            for name, m in (("shipped_j", g["model"]), ("before_j", g["before"]),
                            ("shipped_i", g["set_i"])):
                out[name] += meets(m)
    if change:
        out["tau_change"] = {"mean": float(np.mean(change)), "min": min(change),
                             "max": max(change)}
    return out


def render(results: list[dict[str, Any]], count: dict[str, Any]) -> str:
    lines = [
        set_intro("J", 2034) + ". 'Shipped': the host-3 variants as shipped since set I; "
        "'before set I': the host-3 variants shipped until then (the set F build), on the same "
        "timings; 'set I': the shipped table on set I, whose rule chose it. Run vs run: the "
        "median τ between two runs of set J.", "",
        "| table (host 3, shipped variant) | res | runs, n | **shipped (set J)** | before set I "
        "(set J) | naive sum (J) | FLOPs baseline (J) | run vs run τ (J) | shipped (set I) |",
        "|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['model'])}** | {fig(g['before'])} | {fig(g['naive'])} | "
        f"{short(g['flops'])} | "
        f"{'–' if g['run_vs_run_tau'] is None else format(g['run_vs_run_tau'], '.3f')} | "
        f"{short(g['set_i'])}"))
    lines += ["", f"Rows meeting both targets (≥ 95% within ±10%, τ ≥ 0.9), of {count['rows']}: "
              f"shipped on set J {count['shipped_j']}, before set I on set J "
              f"{count['before_j']}, shipped on set I {count['shipped_i']}. τ change on set J, "
              f"before set I → shipped, over the {count['rows']} rows: mean "
              f"{count['tau_change']['mean']:+.4f}, from {count['tau_change']['min']:+.3f} to "
              f"{count['tau_change']['max']:+.3f}."]
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    tids = [t for t in TABLES if runs_of(t, OUT)]
    results = [scores(t) for t in tids]
    count = tally(results)
    runs = runs_alone(tids, SHIPPED, OUT, "host 3")
    publish(args, "latency_tables_host3j", "Latency tables (`experiments/bench_latency_host3j.py`): "
            "set J, a fresh test of the host-3 tables shipped since set I",
            {"tables": results, "tally": count, "per_run": runs}, render(results, count),
            render_per_run(runs, "set J"))


if __name__ == "__main__":
    main()
