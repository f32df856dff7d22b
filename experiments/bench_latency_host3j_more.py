"""Set J continued on host 3: the shipped host-3 tables on the same networks, 10 runs.

Set J (``bench_latency_host3j.py``) validated the shipped host-3 tables on 50 fresh networks per
config in 5 runs; ``bench_latency_out_host3j_more/runs.sh`` timed the same networks in 5 more
runs (6-10), the tables unchanged; its ``PLAN.md`` was written before any of them. This script
scores each table and resolution on runs 6-10 combined (a replicate of set J's 5-run figure), on
runs 1-10 combined, and extrapolates the score over k = 1..10 runs combined to the device's mean
(``bench_latency_noise_free.py``'s method).

    python experiments/bench_latency_host3j_more.py [--no-results] [--note TEXT]

Writes the ``latency_tables_host3j_more`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _results import publish, section_args
from bench_latency_host2 import TABLES, fig, runs_alone, runs_of, score_rows, short
from bench_latency_host3j import OUT as SET_J
from bench_latency_host3j import SHIPPED, meets
from bench_latency_noise_free import score_table
from bench_latency_setb import render_per_run

from nas.latency import read_table
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host3j_more"
SUBSETS, SEED = 40, 0


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: runs 1-5, 6-10 and 1-10 combined, and the extrapolation over all runs."""
    table = read_table(SHIPPED / f"{tid}.json")
    first, more = runs_of(tid, SET_J), runs_of(tid, OUT)
    combos = {name: score_runs(table, [r / f"validate_{tid}.csv" for r in runs])
              for name, runs in (("first", first), ("more", more), ("all", first + more))}
    inf = score_table(table, first + more, SEED, SUBSETS)
    rows = {}
    for res, g in combos["all"]["per_resolution"].items():
        rows[res] = {"n": g["model"]["n"], "runs": len(first) + len(more),
                     **{name: c["per_resolution"][res]["model"] for name, c in combos.items()},
                     "flops_all": g["baseline_flops"], "naive_all": g["naive_sum"],
                     "run_vs_run_tau": combos["all"]["between_runs"][res][
                         "median_tau_run_vs_run"],
                     "inf": inf["per_resolution"][res]}
    return {"table": tid, "content_hash": table.content_hash, "per_resolution": rows}


def extrapolated(g: dict[str, Any], what: str, model: str) -> str:
    """``within ±10% / τ`` at k -> infinity (± standard error) of ``what`` (model or flops)."""
    e = g["inf"][what]
    w, t = e["within_10pct"][model]["inf"], e["kendall_tau"][model]["inf"]
    return (f"{min(w, 1.0):.0%} ± {e['se'][f'within_10pct {model}']:.0%} / "
            f"{t:.3f} ± {e['se'][f'kendall_tau {model}']:.3f}")


def check(g: dict[str, Any], model: str) -> str:
    """The line fitted on k <= K/2, read at k = K (within ±10% / τ)."""
    e = g["inf"]["model"]
    return (f"{e['within_10pct'][model]['half_fit_at_last_k']:.0%} / "
            f"{e['kendall_tau'][model]['half_fit_at_last_k']:.3f}")


def render(results: list[dict[str, Any]]) -> str:
    count = {name: sum(meets(g[name]) for r in results for g in r["per_resolution"].values())
             for name in ("first", "more", "all")}
    rows = sum(len(r["per_resolution"]) for r in results)
    lines = [
        "Within ±10% / Kendall τ / MAPE of the shipped host-3 tables on set J's networks (50 per "
        "config, validation seed 2034), the runs combined per network (geometric mean of the "
        "drift-corrected timings, equal weights; `nas lut validate --from-csv`). Runs 1-5: set "
        "J as recorded; runs 6-10: the same networks timed again. Extrapolated: each score "
        "averaged over subsets of k of the 10 runs (up to 40 per k), k = 1..10, a line "
        "score(k) = score_inf − b·x fitted with x = 1/k or 1/√k, score_inf ± a leave-one-run-"
        "out standard error (within ±10% capped at 100%); 'check' is the same line fitted on "
        "k ≤ 5 and read at k = 10, to set beside the 10-run column.", "",
        "| table (host 3, shipped variant) | res | runs, n | runs 1-5 | runs 6-10 | **runs 1-10** "
        "| run vs run τ | **extrapolated, 1/k** | 1/k: check | extrapolated, 1/√k | 1/√k: check | "
        "naive sum: runs 1-10 | FLOPs baseline: runs 1-10; extrapolated, 1/k |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"{fig(g['first'])} | {fig(g['more'])} | **{fig(g['all'])}** | "
        f"{g['run_vs_run_tau']:.3f} | **{extrapolated(g, 'model', '1/k')}** | "
        f"{check(g, '1/k')} | {extrapolated(g, 'model', '1/sqrt(k)')} | "
        f"{check(g, '1/sqrt(k)')} | {short(g['naive_all'])} | "
        f"{short(g['flops_all'])}; {extrapolated(g, 'flops', '1/k')}"))
    lines += ["", f"Rows meeting both targets (≥ 95% within ±10%, τ ≥ 0.9), of {rows}: runs 1-5 "
              f"{count['first']}, runs 6-10 {count['more']}, runs 1-10 {count['all']}."]
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    tids = [t for t in TABLES if runs_of(t, OUT)]
    results = [scores(t) for t in tids]
    runs = runs_alone(tids, SHIPPED, OUT, "host 3")
    publish(args, "latency_tables_host3j_more", "Latency tables "
            "(`experiments/bench_latency_host3j_more.py`): set J continued, the same networks in "
            "10 runs, and the scores extrapolated to the device's mean",
            {"tables": results, "per_run": runs}, render(results),
            render_per_run(runs, "set J (runs 6-10)"))


if __name__ == "__main__":
    main()
