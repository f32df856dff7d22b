"""Tables scored on two held-out sets: a dev set that choices may use, and a fresh test set.

The shipped tables' held-out networks (validation seed 1, set A) have been measured in many runs
and looked at many times, so a change chosen by its score there is no longer tested by it. This
script scores each given table on set A's runs combined (the dev set) and on the runs of a fresh
set (set B: another validation seed, never used to choose), combined the same way (per network,
the geometric mean of the drift-corrected timings; ``nas lut validate --from-csv``). No
measuring.

    E=experiments; S=$E/bench_latency_out_setB; python $E/bench_latency_setb.py \\
        --tables $S/shipped_2026-11-22.json cpu_onnxruntime_mobilenet_v3 \\
                 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2 \\
        --csv-id cpu_onnxruntime_mobilenet_v3 --test $S/run{1..20} \\
        --earlier $S/shipped_2026-11-22.json=8 cpu_onnxruntime_mobilenet_v3=8 \\
                  cpu_torch_mobilenet_v2=5 cpu_onnxruntime_mobilenet_v2=5 \\
        --dev $E/bench_latency_out_{2026-11-30,passes3,rounds20,rounds20_passes2} \\
              $E/bench_latency_out_session{6..16} --title "..." --note "..."

Writes the ``latency_tables_setb`` section of ``experiments/RESULTS.md``. A later fresh set
(set C, seed 2027) is scored the same way into its own section:

    E=experiments; S=$E/bench_latency_out_setC; python $E/bench_latency_setb.py \\
        --tables $E/bench_latency_out_setB/shipped_2026-11-22.json cpu_onnxruntime_mobilenet_v3 \\
                 cpu_torch_mobilenet_v3 cpu_torch_mobilenet_v2 cpu_onnxruntime_mobilenet_v2 \\
        --csv-id cpu_onnxruntime_mobilenet_v3 --test $S/run{1..5} --test-label "set C" \\
        --section latency_tables_setc --per-run --dev ... (as above) --title "..." --note "..."
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _results import use_host1_tables, write_section

from nas.latency import read_table
from nas.latency._registry import find_table
from nas.latency._runs import score_runs

SECTION = "latency_tables_setb"


def score(table_ref: str, dev: list[Path], test: list[Path], csv_id: str | None,
          earlier: int | None = None) -> dict[str, Any]:
    """Combined scores of one table on the dev runs and on the test runs, per resolution.

    Each set is combined twice: with equal weights (``dev``, ``test``) and with each run
    weighted by its precision (``dev_precision``, ``test_precision``;
    :func:`nas.latency._runs.precision_weights`).

    ``csv_id``: where no run has a CSV of this table, read those of the table with this id
    (``validate_ID.csv``): a recalibrated copy scored on the shipped table's runs.
    ``earlier``: also score the test set on the first ``earlier`` of the table's test runs
    (``test_earlier``, equal weights): the figure reported before the set was extended.
    """
    table = read_table(find_table(table_ref))
    out: dict[str, Any] = {"table": table_ref, "content_hash": table.content_hash, "sets": {}}

    def csvs_of(runs: list[Path]) -> list[Path]:
        # A run folder without the table's CSV did not validate it (not every table gets every
        # run of a set); score_runs still refuses a set with none.
        csv = f"validate_{table.id}.csv"
        if csv_id and not any((r / csv).exists() for r in runs):
            csv = f"validate_{csv_id}.csv"
        return [r / csv for r in runs if (r / csv).exists()] or [runs[0] / csv]

    dev_csvs, test_csvs = csvs_of(dev), csvs_of(test)
    sets = [("dev", dev_csvs, "equal"), ("dev_precision", dev_csvs, "precision"),
            ("test", test_csvs, "equal"), ("test_precision", test_csvs, "precision")]
    if earlier:
        sets.append(("test_earlier", test_csvs[:earlier], "equal"))
    for name, csvs, weighting in sets:
        res = score_runs(table, csvs, weighting=weighting)
        out["sets"][name] = {
            r: {"n": g["model"]["n"], "within_10pct": g["model"]["within_10pct"],
                "kendall_tau": g["model"]["kendall_tau"], "mape": g["model"]["mape"],
                "flops": g["baseline_flops"]["within_10pct"],
                "flops_tau": g["baseline_flops"]["kendall_tau"], "runs": len(csvs),
                "bias_pct": g["model"]["bias_pct"], "run_weights": res["run_weights"].get(r),
                "run_vs_run_tau": res.get("between_runs", {}).get(r, {}).get(
                    "median_tau_run_vs_run")}
            for r, g in res["per_resolution"].items()}
    return out


def per_run(table_ref: str, test: list[Path]) -> list[dict[str, Any]]:
    """Each test run of one table alone: its anchor drift and the table's bias per resolution.

    The drift (median over the run's anchor bursts of their time over the anchor's time at the
    build) is read from the run's JSON output beside its folder (``runK_<table>.json`` or
    ``runK.json``); ``None`` where neither is that table's.
    """
    table = read_table(find_table(table_ref))
    rows = []
    for run in test:
        csv = run / f"validate_{table.id}.csv"
        if not csv.exists():
            continue
        drift = None
        for side in (run.parent / f"{run.name}_{table.id}.json", run.parent / f"{run.name}.json"):
            if side.exists():
                info = json.loads(side.read_text())
                if info.get("table") == table.id:
                    drift = info["anchor_drift_p5_p50_p95"][1]
                    break
        res = score_runs(table, [csv])
        rows.append({"table": table_ref, "run": run.name, "drift_p50": drift,
                     "bias_pct": {r: g["model"]["bias_pct"]
                                  for r, g in res["per_resolution"].items()},
                     "within_10pct": {r: g["model"]["within_10pct"]
                                      for r, g in res["per_resolution"].items()}})
    return rows


def render_per_run(rows: list[dict[str, Any]], label: str) -> str:
    """One line per test run: anchor drift, and per resolution the table's bias and score."""
    lines = [f"Each {label} run alone: the anchor's median drift (time now / at build) and, per "
             "resolution, the table's bias (mean of predicted / measured − 1) and within ±10%.", "",
             "| table | run | anchor drift p50 | per resolution: bias %, within ±10% |",
             "|---|---|---|---|"]
    for r in rows:
        drift = "–" if r["drift_p50"] is None else f"{r['drift_p50']:.2f}"
        cells = "; ".join(f"{res} px: {r['bias_pct'][res]:+.1f}%, {r['within_10pct'][res]:.0%}"
                          for res in sorted(r["bias_pct"], key=int))
        lines.append(f"| `{r['table']}` | {r['run']} | {drift} | {cells} |")
    return "\n".join(lines)


def _cell(s: dict[str, Any], mape: bool = True) -> str:
    text = f"{s['within_10pct']:.0%} / {s['kendall_tau']:.3f}"
    return f"**{text} / {s['mape']:.1f}%**" if mape else text


def render(results: list[dict[str, Any]], note: str, label: str = "set B") -> str:
    lines = [
        "Within ±10% / Kendall τ / MAPE of each table on each set's runs combined per network "
        "(FLOPs baseline: within ±10% / τ; run vs run: the median τ between two runs of the "
        "set, how far the device agrees with itself). 'Equal': the runs' geometric mean; "
        "'precision': each run weighted by the inverse of its noise variance, estimated from "
        "how far it strays from the other runs, without the table (`nas lut validate "
        "--from-csv ... --weigh-runs precision`).", "",
        "| table | res | dev (set A): runs, n | **dev, equal: within ±10% / τ / MAPE** | "
        f"dev, precision | dev FLOPs | test ({label}): runs, n | "
        "**test, equal: within ±10% / τ / MAPE** | test, precision | test FLOPs | "
        "test run vs run τ | test, before the set was extended: runs, within ±10% / τ |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        sets = r["sets"]
        for res in sorted(sets["dev"], key=int):
            a, ap, b, bp = (sets[k][res] for k in ("dev", "dev_precision", "test",
                                                   "test_precision"))
            e = sets.get("test_earlier", {}).get(res)
            before = "–" if e is None else f"{e['runs']}, {_cell(e, False)}"
            rvr = b["run_vs_run_tau"]
            lines.append(
                f"| `{r['table']}` ({r['content_hash']}) | {res} | {a['runs']}, {a['n']} | "
                f"{_cell(a)} | {_cell(ap, False)} | {a['flops']:.0%} / {a['flops_tau']:.3f} | "
                f"{b['runs']}, {b['n']} | {_cell(b)} | {_cell(bp, False)} | "
                f"{b['flops']:.0%} / {b['flops_tau']:.3f} | "
                f"{'–' if rvr is None else f'{rvr:.3f}'} | {before} |")
    return "\n".join(lines + ([f"\n{note}"] if note else []))


def main() -> None:
    use_host1_tables()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tables", nargs="+", required=True, help="table ids or JSON files")
    ap.add_argument("--dev", nargs="+", required=True, help="run folders of set A")
    ap.add_argument("--test", nargs="+", required=True, help="run folders of the test set")
    ap.add_argument("--test-label", default="set B", help="the test set's name in the section")
    ap.add_argument("--section", default=SECTION, help="the RESULTS.md section to write")
    ap.add_argument("--per-run", action="store_true",
                    help="also list each test run alone: its anchor drift and the table's bias")
    ap.add_argument("--csv-id", help="for a table no run has a CSV of, the id of the table "
                    "whose CSVs to read (a recalibrated copy of it)")
    ap.add_argument("--earlier", nargs="*", default=[], metavar="TABLE=N",
                    help="also score TABLE on its first N test runs (the figure reported before "
                    "its test set was extended)")
    ap.add_argument("--title", default="", help="appended to the section's heading")
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    earlier = {}
    for spec in args.earlier:
        name, sep, count = spec.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            ap.error(f"--earlier {spec!r}: expected TABLE=N with N a positive integer")
        earlier[name] = int(count)
    unknown = sorted(set(earlier) - set(args.tables))
    if unknown:
        ap.error(f"--earlier names {', '.join(unknown)}, which --tables does not list")
    dev, test = [Path(p) for p in args.dev], [Path(p) for p in args.test]
    results = [score(t, dev, test, args.csv_id, earlier.get(t)) for t in args.tables]
    runs = [row for t in args.tables for row in per_run(t, test)] if args.per_run else []
    print(json.dumps({"tables": results, "per_run": runs} if args.per_run else results, indent=1))
    if not args.no_results:
        body = render(results, "" if runs else args.note, args.test_label)
        if runs:
            body += "\n\n" + render_per_run(runs, args.test_label) + (
                f"\n\n{args.note}" if args.note else "")
        write_section(args.section, "Latency tables (`experiments/bench_latency_setb.py`): a "
                      "dev set and a fresh test set of held-out networks" + args.title, body)


if __name__ == "__main__":
    main()
