"""Set L on host 3: a fresh test of the shipped host-3 tables.

``bench_latency_out_host3l/PLAN.md`` (written before any run of set L): the host-3 variants
shipped since set J decided are validated on 50 fresh networks per config (seed 2036,
``runs.sh``), all complete rounds combined per network. Candidates with the networks of sets J
and K added to their calibration (``calibrate.sh``) are scored on the same timings for
information only; they decide nothing here and are not shipped.

    python experiments/bench_latency_host3l.py [--no-results] [--note TEXT]

Writes the ``latency_tables_host3l`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _results import publish, section_args
from bench_latency_host2 import TABLES, fig, runs_alone, runs_of, score_rows, set_intro, short
from bench_latency_host3j import meets
from bench_latency_setb import render_per_run

from nas.latency import read_table
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host3l"
SHIPPED = HERE.parent / "latency_tables" / "hosts" / "intel-xeon-family6-model167"
CANDIDATES = OUT / "tables"  # information only (PLAN.md)


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: the shipped table on all runs of set L and on runs 1-5, the candidate,
    the baselines and the run vs run τ."""
    shipped, cand = read_table(SHIPPED / f"{tid}.json"), read_table(CANDIDATES / f"{tid}.json")
    on_l = [r / f"validate_{tid}.csv" for r in runs_of(tid, OUT)]
    s_all, c_all = score_runs(shipped, on_l), score_runs(cand, on_l)
    s_first5 = score_runs(shipped, on_l[:5]) if len(on_l) > 5 else None
    rows = {}
    for res, g in s_all["per_resolution"].items():
        row: dict[str, Any] = {
            "n": g["model"]["n"], "runs": len(on_l), "shipped": g["model"],
            "candidate": c_all["per_resolution"][res]["model"],
            "naive": g["naive_sum"], "flops": g["baseline_flops"],
            "run_vs_run_tau": s_all.get("between_runs", {}).get(res, {}).get(
                "median_tau_run_vs_run")}  # None with one run
        if s_first5 is not None:
            row["shipped_runs_1_5"] = s_first5["per_resolution"][res]["model"]
        rows[res] = row
    return {"table": tid, "content_hash": shipped.content_hash,
            "candidate_hash": cand.content_hash, "per_resolution": rows}


def tally(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows meeting both targets, per column, and the candidates' τ change (information)."""
    groups = [g for r in results for g in r["per_resolution"].values()]
    out: dict[str, Any] = {"rows": len(groups)}
    for name in ("shipped", "shipped_runs_1_5", "candidate"):
        if all(name in g for g in groups):
            out[name] = sum(meets(g[name]) for g in groups)
    change = [g["candidate"]["kendall_tau"] - g["shipped"]["kendall_tau"] for g in groups]
    out["candidate_tau_change"] = {"mean": sum(change) / len(change), "worst": min(change),
                                   "best": max(change)}
    return out


def render(results: list[dict[str, Any]], count: dict[str, Any]) -> str:
    c = count["candidate_tau_change"]
    lines = [
        set_intro("L", 2036) + ". 'Shipped': the host-3 variants shipped since set J decided "
        "(unchanged, tested as the plan says); 'candidate' (information only, not shipped): "
        "the same with the networks of sets J and K added to the calibration. Run vs run: the "
        "median τ between two runs of set L.", "",
        "| table (host 3, shipped variant) | res | runs, n | **shipped (set L)** | "
        "shipped, runs 1–5 | naive sum | FLOPs baseline | run vs run τ | candidate (info) |",
        "|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['shipped'])}** | "
        f"{short(g['shipped_runs_1_5']) if 'shipped_runs_1_5' in g else '–'} | "
        f"{fig(g['naive'])} | {short(g['flops'])} | "
        f"{'–' if g['run_vs_run_tau'] is None else format(g['run_vs_run_tau'], '.3f')} | "
        f"{short(g['candidate'])}"))
    lines += ["", f"Rows meeting both targets (≥ 95% within ±10%, τ ≥ 0.9), of {count['rows']}: "
              f"shipped {count['shipped']}"
              + (f" (runs 1–5 alone {count['shipped_runs_1_5']})"
                 if "shipped_runs_1_5" in count else "")
              + f"; candidates {count['candidate']} (τ change against the shipped tables: mean "
              f"{c['mean']:+.4f}, worst {c['worst']:+.3f}, best {c['best']:+.3f})."]
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    tids = [t for t in TABLES if runs_of(t, OUT)]
    results = [scores(t) for t in tids]
    count = tally(results)
    runs = runs_alone(tids, SHIPPED, OUT, "host 3")
    publish(args, "latency_tables_host3l", "Latency tables (`experiments/bench_latency_host3l.py`): "
            "set L, a fresh test of the shipped host-3 tables",
            {"tables": results, "tally": count, "per_run": runs},
            render(results, count), *([render_per_run(runs, "set L")] if runs else []))


if __name__ == "__main__":
    main()
