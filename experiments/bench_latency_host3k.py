"""Set K on host 3: validation runs as calibration networks, decided on set J, tested on set K.

``bench_latency_out_host3k/PLAN.md`` (written before either was scored): the candidates are the
host-3 variants shipped since set I with the networks of sets F-I added to their calibration
(``nas lut calibrate --add-runs``, ``calibrate.sh``). Set I's rule on set J (all 10 runs of
sets J and J continued, combined per network) decides whether they ship; set K (50 fresh
networks per config, seed 2035, ``runs.sh``) is the fresh test of the tables the rule ships,
with the other tables scored on the same timings beside them.

    python experiments/bench_latency_host3k.py [--no-results] [--note TEXT]

Writes the ``latency_tables_host3k`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _results import publish, section_args
from bench_latency_host2 import (
    TABLES,
    fig,
    plan_rule,
    rule_sentence,
    runs_alone,
    runs_of,
    score_rows,
    set_intro,
    short,
)
from bench_latency_host3j import meets
from bench_latency_setb import render_per_run

from nas.latency import read_table
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host3k"
CANDIDATES = OUT / "tables"  # shipped as the host-3 variants since set J decided
PREVIOUS = HERE / "bench_latency_out_host3i" / "tables"  # the variants shipped before
SET_J = (HERE / "bench_latency_out_host3j", HERE / "bench_latency_out_host3j_more")


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: candidate and previous table on set J (10 runs) and on set K."""
    cand, prev = read_table(CANDIDATES / f"{tid}.json"), read_table(PREVIOUS / f"{tid}.json")
    on_j = [r / f"validate_{tid}.csv" for d in SET_J for r in runs_of(tid, d)]
    on_k = [r / f"validate_{tid}.csv" for r in runs_of(tid, OUT)]
    j_cand, j_prev = score_runs(cand, on_j), score_runs(prev, on_j)
    k_cand = score_runs(cand, on_k) if on_k else None
    k_prev = score_runs(prev, on_k) if on_k else None
    k_first5 = score_runs(cand, on_k[:5]) if len(on_k) > 5 else None  # the plan's first runs
    rows = {}
    for res, g in j_cand["per_resolution"].items():
        row: dict[str, Any] = {"n": g["model"]["n"], "runs": len(on_k), "j_runs": len(on_j),
                               "j_candidate": g["model"],
                               "j_previous": j_prev["per_resolution"][res]["model"]}
        if k_cand is not None and k_prev is not None:
            k = k_cand["per_resolution"][res]
            row.update(n=k["model"]["n"], k_candidate=k["model"],
                       k_previous=k_prev["per_resolution"][res]["model"],
                       naive=k["naive_sum"], flops=k["baseline_flops"],
                       run_vs_run_tau=k_cand.get("between_runs", {}).get(res, {}).get(
                           "median_tau_run_vs_run"))  # None with one run
            if k_first5 is not None:
                row["k_candidate_runs_1_5"] = k_first5["per_resolution"][res]["model"]
        rows[res] = row
    return {"table": tid, "content_hash": cand.content_hash,
            "previous_hash": prev.content_hash, "per_resolution": rows}


def tally(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan's rule on set J, and the rows meeting both targets on sets J and K."""
    groups = [g for r in results for g in r["per_resolution"].values()]
    out: dict[str, Any] = {
        "rule_on_j": plan_rule([(g["j_previous"], g["j_candidate"]) for g in groups],
                               min_mean_gain=0.0, max_row_loss=0.010, min_within=0.95),
        "rows": len(groups)}
    for name in ("j_candidate", "j_previous", "k_candidate", "k_previous",
                 "k_candidate_runs_1_5"):
        if all(name in g for g in groups):
            out[name] = sum(meets(g[name]) for g in groups)
    return out


def render(results: list[dict[str, Any]], count: dict[str, Any]) -> str:
    has_k = "k_candidate" in count
    lines = [
        "Set J decides (50 networks per config, seed 2034, all 10 runs combined per network): "
        "'candidate' is the host-3 variant with sets F–I added to its calibration, "
        "'previous' the variant shipped from set I until then. Within ±10% / τ.", "",
        "| table (candidate) | res | set K runs, n | candidate (J) | previous (J) |",
        "|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: f"{short(g['j_candidate'])} | {short(g['j_previous'])}")
    lines += ["", rule_sentence(count["rule_on_j"], "on set J, against the previous tables,",
                                ("the candidates ship", "the previous tables stay"))]
    if has_k:
        lines += [
            "", set_intro("K", 2035) + ". 'Shipped': the candidates, shipped since set J "
            "decided; 'previous': the tables they replaced, on the same timings. Run vs run: "
            "the median τ between two runs of set K.", "",
            "| table (host 3, shipped variant) | res | runs, n | **shipped (set K)** | "
            "shipped, runs 1–5 | previous (K) | naive sum (K) | FLOPs baseline (K) | "
            "run vs run τ (K) |",
            "|---|---|---|---|---|---|---|---|---|"]
        lines += score_rows(results, lambda g: (
            f"**{fig(g['k_candidate'])}** | "
            f"{short(g['k_candidate_runs_1_5']) if 'k_candidate_runs_1_5' in g else '–'} | "
            f"{fig(g['k_previous'])} | {fig(g['naive'])} | {short(g['flops'])} | "
            f"{'–' if g['run_vs_run_tau'] is None else format(g['run_vs_run_tau'], '.3f')}"))
        lines += ["", f"Rows meeting both targets (≥ 95% within ±10%, τ ≥ 0.9), of "
                  f"{count['rows']}: set K shipped {count['k_candidate']}"
                  + (f" (runs 1–5 alone {count['k_candidate_runs_1_5']})"
                     if "k_candidate_runs_1_5" in count else "")
                  + f", previous "
                  f"{count['k_previous']}; set J shipped {count['j_candidate']}, previous "
                  f"{count['j_previous']}."]
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    results = [scores(t) for t in TABLES]
    count = tally(results)
    tids = [t for t in TABLES if runs_of(t, OUT)]
    runs = runs_alone(tids, CANDIDATES, OUT, "host 3")
    publish(args, "latency_tables_host3k", "Latency tables (`experiments/bench_latency_host3k.py`): "
            "validation runs of sets F–I as calibration networks, decided on set J, tested on "
            "set K", {"tables": results, "tally": count, "per_run": runs},
            render(results, count), *([render_per_run(runs, "set K")] if runs else []))


if __name__ == "__main__":
    main()
