"""The shipped tables against validation runs from several sessions, combined per network.

Every ``bench_latency.py`` run validates the same held-out networks (same tables, ``--n``,
``--seed``), each at a different time. On a shared VM the minutes a run falls in shape its
timings, so one run scores the table against that session's noise as much as against the device.
This script scores each table on each run alone and on all runs combined (per network, the
geometric mean of the drift-corrected timings: ``nas lut validate --from-csv``), and reports how
far the runs agree with each other (median Kendall τ between two runs, and between the combined
first and second halves of the runs). No measuring. Runs taken for an earlier build of a table
(another content hash) are rescaled to the current table's anchor speed (``rebased``; see
``nas.latency._runs.rebase_run``), so a rebuilt table is scored on its predecessor's runs too.

    python experiments/bench_latency_sessions.py --runs experiments/bench_latency_out_rounds20 ...

Writes the combined CSVs and scatter plots to ``experiments/bench_latency_out_sessions/`` and
the ``latency_tables_sessions`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from _results import use_host1_tables, write_section

from nas.latency import load_table
from nas.latency._runs import score_runs

ROOT = Path(__file__).resolve().parent
TABLES = ("cpu_torch_mobilenet_v3", "cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")
SECTION = "latency_tables_sessions"


def run_label(run_dir: Path, table: str) -> str:
    """``kernel, UTC, rounds x passes`` of one run of one table, from its summary.json."""
    rows = json.loads((run_dir / "summary.json").read_text())
    row = next(r for r in rows if r["table"] == table)
    val = row["validation"]
    run = row.get("run") or {}
    kernel = str(run.get("kernel", "?")).split("-")[-1]
    return (f"{run_dir.name}: {kernel}, {str(run.get('utc', '?'))[:10]}, "
            f"{val.get('rounds') or 6} rounds x {val.get('passes') or 1}")


def score_table(table_id: str, runs: list[Path], out_dir: Path) -> dict[str, Any]:
    table = load_table(table_id)
    csvs = [r / f"validate_{table_id}.csv" for r in runs]
    single = [score_runs(table, [c]) for c in csvs]
    first_k = [score_runs(table, csvs[:k]) for k in range(2, len(csvs))]
    combined = score_runs(table, csvs, out_dir=out_dir)
    rows = {}
    for res, group in combined["per_resolution"].items():
        singles = [s["per_resolution"][res]["model"] for s in single]
        rows[res] = {
            "single_within": [s["within_10pct"] for s in singles],
            "single_tau": [s["kendall_tau"] for s in singles],
            "first_k": [s["per_resolution"][res]["model"]
                        for s in (single[0], *first_k, combined)],
            "combined": group["model"], "flops": group["baseline_flops"],
            "between": combined["between_runs"][res]}
    rebased = {Path(p).parent.name: sorted(round(f, 3) for f in factors.values())
               for p, factors in combined["rebased"].items()}
    return {"table": table_id, "content_hash": table.content_hash,
            "runs": [run_label(r, table_id) for r in runs], "rebased": rebased,
            "not_in_every_run": combined["not_in_every_run"], "per_resolution": rows}


def render(results: list[dict[str, Any]], out_rel: str) -> str:
    lines = [
        "Each table scored on every validation run of its 50 held-out networks per resolution "
        "(each run alone: the range over runs) and on all runs combined per network "
        "(geometric mean of the drift-corrected timings; `nas lut validate --from-csv`). "
        "\"Run vs run\" is the median Kendall τ between two runs, \"half vs half\" the τ "
        "between the combined first and second halves of the runs: how far this device "
        "agrees with itself.", "",
        "| table | res | runs | one run: within ±10% | one run: τ | **combined: within ±10% / τ "
        "/ MAPE** | FLOPs baseline, combined | run vs run τ | half vs half τ |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for res, g in r["per_resolution"].items():
            c, f, b = g["combined"], g["flops"], g["between"]
            lines.append(
                f"| {r['table']} | {res} | {b['runs']} | {min(g['single_within']):.0%}–"
                f"{max(g['single_within']):.0%} | {min(g['single_tau']):.3f}–"
                f"{max(g['single_tau']):.3f} | **{c['within_10pct']:.0%} / "
                f"{c['kendall_tau']:.3f} / {c['mape']:.1f}%** | {f['within_10pct']:.0%} / "
                f"{f['kendall_tau']:.3f} | {b['median_tau_run_vs_run']:.3f} | "
                f"{b['tau_half_vs_half']:.3f} |")
    lines += ["", "The first k runs combined, k = 1, 2, ...: within ±10% / τ", "",
              "| table | res | " + " | ".join(f"k={k + 1}" for k in range(
                  len(results[0]["runs"]))) + " |",
              "|---|---|" + "---|" * len(results[0]["runs"])]
    for r in results:
        for res, g in r["per_resolution"].items():
            lines.append(f"| {r['table']} | {res} | " + " | ".join(
                f"{m['within_10pct']:.0%} / {m['kendall_tau']:.3f}" for m in g["first_k"]) + " |")
    lines += ["", "Runs in that order (folder: host kernel, date, timing):", ""]
    for label in results[0]["runs"]:
        lines.append(f"- {label.split(':')[0]}: {label.split(': ', 1)[1]}")
    for r in results:
        if r["rebased"]:
            factors = sorted({f for fs in r["rebased"].values() for f in fs})
            lines.append(f"- `{r['table']}` ({r['content_hash']}): {len(r['rebased'])} runs were "
                         "taken for an earlier build of it and are rescaled to its anchor speed "
                         f"(factors {', '.join(map(str, factors))}): "
                         f"{', '.join(sorted(r['rebased']))}")
    dropped = {r["table"]: r["not_in_every_run"] for r in results if r["not_in_every_run"]}
    lines += ["", f"Networks not in every run (left out): {dropped or 'none'}.",
              "Each run's own figures are in its folder's `summary.json`; the combined CSVs "
              f"and scatter plots are in `{out_rel}/`."]
    return "\n".join(lines)


def main() -> None:
    use_host1_tables()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="bench_latency.py output folders")
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--out", default=str(ROOT / "bench_latency_out_sessions"))
    ap.add_argument("--title", default="", help="appended to the section's heading")
    ap.add_argument("--section", default=SECTION)
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    runs = [Path(r) for r in args.runs]
    out = Path(args.out)
    results = [score_table(t, runs, out) for t in args.tables]
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    if not args.no_results:
        write_section(args.section, "Latency tables (`experiments/bench_latency_sessions.py`): "
                      "validation runs from several sessions, combined" + args.title,
                      render(results, os.path.relpath(out, ROOT.parent)))


if __name__ == "__main__":
    main()
