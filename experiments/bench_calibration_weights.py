"""The calibration's squared-weights term (``mb2:weights``), with and without, on every held-out set.

Each table is scored twice: with its calibration as stored (fitted before the term existed) and
refitted with the term on the same calibration networks (``nas lut calibrate --refit``; no
measuring). Scores:

- 5-fold cross-validation on the table's calibration networks, per resolution, averaged over 3
  fold assignments (what a choice may use);
- the held-out sets, each set's runs combined per network (equal weights, as ``nas lut validate
  --from-csv``): sets B and C for the shipped tables (first host), sets D and E for the tables
  built on the second host (``bench_latency_out_host2/tables``). Set E is the test planned in
  ``bench_latency_out_host2e/PLAN.md``; the term was conceived on set D's residuals.

    python experiments/bench_calibration_weights.py [--no-results]

Writes the ``calibration_weights_sq`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from _results import section_args, use_host1_tables, write_section

from nas.latency import LatencyTable, load_table, read_table
from nas.latency._calibration import FEATURES, LEGACY_FEATURES, NEUTRAL, cross_validate
from nas.latency._networks import calibration_items, calibration_matrix, refit_calibration
from nas.latency._runs import score_runs
from nas.latency._validate import accuracy

HERE = Path(__file__).resolve().parent
TABLES = ("cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")
SETS = {"host 1": {"B": "bench_latency_out_setB", "C": "bench_latency_out_setC"},
        "host 2": {"D": "bench_latency_out_host2", "E": "bench_latency_out_host2e"}}
FOLD_SEEDS = (0, 1, 2)


def with_term(table: LatencyTable) -> LatencyTable:
    """A copy of ``table`` with its calibration refitted on its own networks (term included)."""
    copy = read_table(table.path)  # type: ignore[arg-type]
    copy.set_calibration(refit_calibration(copy))
    return copy


def cv(table: LatencyTable) -> dict[str, dict[str, list[float]]]:
    """Per resolution: cross-validated within ±10% and τ without and with the term."""
    x, y, res = calibration_matrix(table, *calibration_items(table))
    keep = [FEATURES.index(f) for f in LEGACY_FEATURES]
    out: dict[str, dict[str, list[float]]] = {}
    for r in sorted(set(res.tolist())):
        m = res == r
        row = {}
        for name, cols in (("without", keep), ("with", list(range(len(FEATURES))))):
            scores = [accuracy(cross_validate(x[m][:, cols], y[m], np.random.default_rng(s),
                                              neutral=NEUTRAL[cols]), y[m]) for s in FOLD_SEEDS]
            row[name] = [float(np.mean([s["within_10pct"] for s in scores])),
                         float(np.mean([s["kendall_tau"] for s in scores]))]
        out[str(r)] = row
    return out


def held_out(table: LatencyTable, refit: LatencyTable, folder: Path) -> dict[str, Any]:
    csvs = sorted(folder.glob(f"run*/validate_{table.id}.csv"),
                  key=lambda p: int(p.parent.name.removeprefix("run")))
    if not csvs:
        return {}
    out: dict[str, Any] = {"runs": len(csvs)}
    for name, t in (("without", table), ("with", refit)):
        s = score_runs(t, csvs)["per_resolution"]
        out[name] = {r: [g["model"]["within_10pct"], g["model"]["kendall_tau"]]
                     for r, g in s.items()}
    return out


def collect() -> list[dict[str, Any]]:
    rows = []
    for host, sets in SETS.items():
        for tid in TABLES:
            table = (load_table(tid) if host == "host 1" else
                     read_table(HERE / "bench_latency_out_host2" / "tables" / f"{tid}.json"))
            refit = with_term(table)
            rows.append({"host": host, "table": tid, "hash_without": table.content_hash,
                         "hash_with": refit.content_hash, "cv": cv(table),
                         "sets": {k: held_out(table, refit, HERE / f) for k, f in sets.items()}})
    return rows


def _pair(a: list[float], b: list[float]) -> str:
    return f"{a[0]:.0%} / {a[1]:.3f} → {b[0]:.0%} / {b[1]:.3f}"


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["Within ±10% / Kendall τ without → with the term. CV: 5-fold cross-validation on "
             "the table's 80 calibration networks per resolution (mean of 3 fold "
             "assignments). Sets: held-out networks, the set's runs combined per network (equal "
             "weights); (n) = runs.", "",
             "| host | table | res | CV | held-out sets |", "|---|---|---|---|---|"]
    for r in rows:
        for res in sorted(r["cv"], key=int):
            cvp = _pair(r["cv"][res]["without"], r["cv"][res]["with"])
            sets = "; ".join(f"{k} ({s['runs']}): {_pair(s['without'][res], s['with'][res])}"
                             for k, s in r["sets"].items() if s and res in s["without"])
            lines.append(f"| {r['host']} | `{r['table']}` | {res} | {cvp} | {sets} |")
    return "\n".join(lines)


def main() -> None:
    use_host1_tables()
    args = section_args(__doc__)
    rows = collect()
    print(json.dumps(rows, indent=1))
    if not args.no_results:
        write_section("calibration_weights_sq", "Calibration: the squared-weights term "
                      "(`experiments/bench_calibration_weights.py`)",
                      render(rows) + (f"\n\n{args.note}" if args.note else ""))


if __name__ == "__main__":
    main()
