"""The four CPU tables built, calibrated and tested on a third host (set F); no measuring here.

On 2026-12-05 this project's VM came up on an Intel Xeon (AVX-512, AMX; family 6 model 167 as the
hypervisor reports it), after two AMD EPYC designs (the shipped tables' host and host 2).
``bench_latency_out_host3/runs.sh`` built and calibrated the four tables there the way
``build_cpu_tables.sh`` does and validated each in 5 runs on fresh networks (seed 2030); its
``PLAN.md`` was written before any of it ran. This script scores, per table and resolution, on
the runs combined per network (equal weights):

- the host-3 tables (their calibration has the squared-weights term ``mb2:weights``), with the
  naive sum, the FLOPs baseline and the run vs run τ;
- the same tables with that term fitted out (its column zeroed, same calibration networks);
- the shipped tables and the host-2 tables on the same CSVs, each rescaled to its own anchor
  speed (``measured_with`` the host-3 table, as ``nas lut validate --from-csv`` divides them);

and lists each run alone and the build and calibration times.

    python experiments/bench_latency_host3.py [--no-results]

Writes the ``latency_tables_host3`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _results import publish, section_args, use_host1_tables
from bench_latency_host2 import (
    TABLES,
    build_times,
    fig,
    render_builds,
    runs_alone,
    runs_of,
    score_rows,
    set_intro,
)
from bench_latency_setb import render_per_run

from nas.latency import LatencyTable, load_table, read_table
from nas.latency._calibration import FEATURES, fit_calibration
from nas.latency._networks import calibration_items, calibration_matrix
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host3"
HOST2_TABLES = HERE / "bench_latency_out_host2e" / "tables"


def without_term(table: LatencyTable) -> LatencyTable:
    """A copy of ``table`` whose calibration is refitted with ``mb2:weights`` zeroed (the ridge
    then holds its coefficient at 0): the calibration as fitted before the term existed."""
    if table.calibration is None:
        raise SystemExit(f"{table.where} has no calibration: run runs.sh to the end first")
    x, y, resolutions = calibration_matrix(table, *calibration_items(table))
    x[:, FEATURES.index("mb2:weights")] = 0.0
    cal = fit_calibration(x, y, resolutions.tolist(), table.calibration.samples,
                          table.calibration.meta)
    copy = read_table(table.path)  # type: ignore[arg-type]
    copy.set_calibration(cal)
    return copy


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: the host-3 table, and the others on the same runs."""
    own_table = read_table(OUT / "tables" / f"{tid}.json")
    csvs = [r / f"validate_{tid}.csv" for r in runs_of(tid, OUT)]
    own = score_runs(own_table, csvs)
    others = {"no_term": score_runs(without_term(own_table), csvs),
              "shipped": score_runs(load_table(tid), csvs, measured_with=own_table),
              "host2": score_runs(read_table(HOST2_TABLES / f"{tid}.json"), csvs,
                                  measured_with=own_table)}
    rows = {}
    for res, g in own["per_resolution"].items():
        rows[res] = {"n": g["model"]["n"], "runs": len(csvs), "model": g["model"],
                     "flops": g["baseline_flops"], "naive": g["naive_sum"],
                     "run_vs_run_tau": own["between_runs"][res]["median_tau_run_vs_run"],
                     **{k: s["per_resolution"][res]["model"] for k, s in others.items()}}
    return {"table": tid, "content_hash": own_table.content_hash, "per_resolution": rows}


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        set_intro("F", 2030) + ". 'No term': the same table with the "
        "squared-weights calibration term fitted out (same networks). 'Host 1' (the shipped "
        "tables in `latency_tables/`) and 'host 2' (`bench_latency_out_host2e/tables/`) score "
        "tables built on the two AMD hosts on the same timings, each rescaled to its own anchor "
        "speed. Run vs run: the median τ between two runs (how far the device agrees with "
        "itself).", "",
        "| table (built here) | res | runs, n | **within ±10% / τ / MAPE** | no term | naive sum "
        "of blocks | FLOPs baseline | run vs run τ | host-1 table, same timings | host-2 table, "
        "same timings |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['model'])}** | {fig(g['no_term'])} | {fig(g['naive'])} | "
        f"{g['flops']['within_10pct']:.0%} / {g['flops']['kendall_tau']:.3f} | "
        f"{g['run_vs_run_tau']:.3f} | {fig(g['shipped'], True)} | {fig(g['host2'], True)}"))
    return "\n".join(lines)


def main() -> None:
    use_host1_tables()
    args = section_args(__doc__)
    tables = [t for t in TABLES if runs_of(t, OUT)]
    results = [scores(t) for t in tables]
    builds = {t: build_times(t, OUT) for t in tables}
    runs = runs_alone(tables, OUT / "tables", OUT, "built here")
    publish(args, "latency_tables_host3", "Latency tables (`experiments/bench_latency_host3.py`): "
            "the four CPU tables built, calibrated and tested on a third host (Intel)",
            {"tables": results, "builds": builds, "per_run": runs},
            render(results), render_builds(builds), render_per_run(runs, "set F"))


if __name__ == "__main__":
    main()
