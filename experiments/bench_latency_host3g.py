"""Set G on host 3: the set F tables on 50 more fresh networks, and one calibration feature tried.

``bench_latency_out_host3g/runs.sh`` validated the four tables built on host 3 for set F
(``bench_latency_out_host3/tables/``, unchanged; they ship as that host's variants in
``latency_tables/hosts/``) on 50 new networks per config (seed 2031), 5 runs each; its
``PLAN.md`` was written before any run. This script scores, per table and resolution, on the
runs combined per network (equal weights), against set F's figures for the same tables:

- the tables as they are, with the naive sum, the FLOPs baseline and the run vs run τ;
- the network-MACs feature (the plan's test): each table's calibration refitted on its own
  calibration networks with one more column, the network's MACs in millions, pulled towards 0
  by the same ridge; one fit per resolution as ``nas lut calibrate`` does. Scored on set F and
  set G, and in 5-fold cross-validation on the calibration networks (the figure that suggested
  it). The plan's rule decides whether it is adopted.

    python experiments/bench_latency_host3g.py [--no-results]

Writes the ``latency_tables_host3g`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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
from bench_latency_setb import render_per_run

from nas.blocks import arch_to_blocks
from nas.latency import LatencyTable, read_table
from nas.latency._calibration import NEUTRAL, cross_validate, fit_coefficients
from nas.latency._networks import NetItem, calibration_items, calibration_matrix, feature_matrix
from nas.latency._runs import align_runs, combine_runs, measured_column, score_runs
from nas.latency._validate import accuracy

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host3g"
SET_F = HERE / "bench_latency_out_host3"
TABLE_DIR = SET_F / "tables"
# The plan's rule for adopting the feature: mean τ change over the rows, worst row change, and
# the lowest within ±10% any row may reach.
MIN_MEAN_GAIN, MAX_ROW_LOSS, MIN_WITHIN = 0.005, 0.010, 0.95


def network_macs(table: LatencyTable, item: NetItem) -> float:
    """The network's MACs in millions (the sum of its blocks')."""
    blocks = arch_to_blocks(item.arch, table.space(item.arch.space), classes=item.classes,
                            in_channels=item.in_channels)
    return sum(b.macs for b in blocks) / 1e6


def with_macs(table: LatencyTable, items: list[NetItem], x: np.ndarray | None = None
              ) -> np.ndarray:
    """The calibration features of ``items`` (``x`` where already built) with the MACs column
    appended."""
    x = feature_matrix(table, items) if x is None else x
    return np.column_stack([x, [network_macs(table, it) for it in items]])


def combined(table: LatencyTable, folder: Path) -> tuple[list[NetItem], np.ndarray]:
    """The networks of ``folder``'s runs of ``table`` and their combined timings."""
    runs = align_runs(table, [r / f"validate_{table.id}.csv" for r in runs_of(table.id, folder)])
    values, _ = combine_runs(runs.items, runs.times, measured_column(table))
    return runs.items, values[measured_column(table)]


def macs_variant(table: LatencyTable) -> dict[str, Any]:
    """Per resolution: the MACs feature's coefficients fitted on the calibration networks, its
    and the standard calibration's CV, and its scores on sets F and G."""
    items, entries = calibration_items(table)
    x, y, res = calibration_matrix(table, items, entries)
    xm = with_macs(table, items, x)
    neutral = np.concatenate([NEUTRAL, [0.0]])
    tests = {name: combined(table, folder) for name, folder in (("F", SET_F), ("G", OUT))}
    out: dict[str, Any] = {}
    for r in sorted(set(res.tolist())):
        m = res == r
        coef = fit_coefficients(xm[m], y[m], neutral=neutral)
        row: dict[str, Any] = {
            "cv": accuracy(cross_validate(x[m], y[m], np.random.default_rng(0)), y[m]),
            "cv_macs": accuracy(cross_validate(xm[m], y[m], np.random.default_rng(0),
                                               neutral=neutral), y[m]),
            "coef_ms_per_gmac": float(coef[-1] * 1e3)}
        for name, (t_items, t_y) in tests.items():
            sel = [i for i, it in enumerate(t_items) if it.arch.resolution == r]
            tx = with_macs(table, [t_items[i] for i in sel])
            row[f"set_{name}_macs"] = accuracy(tx @ coef, t_y[sel])
        out[str(r)] = row
    return out


def scores(tid: str) -> dict[str, Any]:
    table = read_table(TABLE_DIR / f"{tid}.json")
    g = score_runs(table, [r / f"validate_{tid}.csv" for r in runs_of(tid, OUT)])
    f = score_runs(table, [r / f"validate_{tid}.csv" for r in runs_of(tid, SET_F)])
    macs = macs_variant(table)
    rows = {}
    for res, s in g["per_resolution"].items():
        rows[res] = {"n": s["model"]["n"], "runs": len(g["runs"]), "model": s["model"],
                     "flops": s["baseline_flops"], "naive": s["naive_sum"],
                     "run_vs_run_tau": g.get("between_runs", {}).get(res, {}).get(
                         "median_tau_run_vs_run"),  # None with one run
                     "set_F": f["per_resolution"][res]["model"], **macs[res]}
    return {"table": tid, "content_hash": table.content_hash, "per_resolution": rows}


def decision(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan's rule applied to set G: τ change per row, its mean, and the verdict."""
    return plan_rule([(g["model"], g["set_G_macs"]) for r in results
                      for g in r["per_resolution"].values()], min_mean_gain=MIN_MEAN_GAIN,
                     max_row_loss=MAX_ROW_LOSS, min_within=MIN_WITHIN)


def _tau(t: float | None) -> str:
    return "–" if t is None else f"{t:.3f}"


def render(results: list[dict[str, Any]], verdict: dict[str, Any]) -> str:
    lines = [
        set_intro("G", 2031) + ", beside set F (seed 2030) for the same "
        "tables. 'MACs feature': the calibration refitted with the network's MACs as one more "
        "feature, on the same calibration networks; 'CV' is 5-fold cross-validation on those "
        "80 networks per resolution (standard → with MACs). Run vs run: the median τ between two "
        "runs of set G.", "",
        "| table (host 3) | res | runs, n | **set G** | set F | naive sum (G) | FLOPs baseline "
        "(G) | run vs run τ (G) | MACs feature: set G | MACs feature: set F | CV τ: standard → "
        "MACs |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['model'])}** | {fig(g['set_F'])} | {fig(g['naive'])} | "
        f"{short(g['flops'])} | {_tau(g['run_vs_run_tau'])} | {short(g['set_G_macs'])} | "
        f"{short(g['set_F_macs'])} | {g['cv']['kendall_tau']:.3f} → "
        f"{g['cv_macs']['kendall_tau']:.3f}"))
    lines += ["", rule_sentence(verdict, "for the MACs feature, on set G",
                                ("adopted", "not adopted"))]
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    tables = [t for t in TABLES if runs_of(t, OUT)]
    results = [scores(t) for t in tables]
    verdict = decision(results)
    runs = runs_alone(tables, TABLE_DIR, OUT, "host 3")
    publish(args, "latency_tables_host3g", "Latency tables (`experiments/bench_latency_host3g.py`): "
            "set G, a second fresh test of the host-3 tables, and the network-MACs calibration "
            "feature", {"tables": results, "decision": verdict, "per_run": runs},
            render(results, verdict), render_per_run(runs, "set G"))


if __name__ == "__main__":
    main()
