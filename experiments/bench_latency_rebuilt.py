"""A table rebuilt on this host against the build it would replace: which to ship, and why.

A build's blocks are timed once, in the minutes the build ran; if the machine's speed drifted
then, the anchor network's time varies between the build's chunks (``anchor_spread_pct``, and
``nas lut build`` warns above 20%). This script puts the two builds of each table side by side
on evidence that does not involve the validation networks, and then on the validation runs:

- each build's anchor spread per config;
- 5-fold cross-validation of the calibration model on whole networks measured end-to-end (the
  calibration networks), with either build's blocks as the features: on the rebuilt table's
  calibration networks (measured on this host) and on the old table's (measured at its build);
- both tables scored on the recorded validation runs, combined (``score_runs``; runs taken for
  the old table are rescaled to the new table's anchor speed).

    python experiments/bench_latency_rebuilt.py --old OLD_DIR --new NEW_DIR --runs RUN_DIR ...

Writes the ``latency_tables_rebuilt`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section

from nas.latency import LatencyTable, read_table
from nas.latency._calibration import cross_validate
from nas.latency._networks import calibration_items, feature_matrix
from nas.latency._runs import score_runs
from nas.latency._validate import accuracy

ROOT = Path(__file__).resolve().parent
SECTION = "latency_tables_rebuilt"
FOLDS = 5


def cv_scores(blocks: LatencyTable, samples: LatencyTable, seed: int = 0
              ) -> dict[str, tuple[float, float]]:
    """Per resolution, within ±10% and Kendall τ of the calibration model in 5-fold CV, with
    ``blocks``' entries as features, on the networks ``samples``' calibration measured."""
    items, entries = calibration_items(samples)
    y = np.array([e.value(samples.statistic) for e in entries])
    res = np.array([it.arch.resolution for it in items])
    x = feature_matrix(blocks, items)
    out = {}
    for r in sorted(set(res.tolist())):
        xr, yr = x[res == r], y[res == r]
        acc = accuracy(cross_validate(xr, yr, np.random.default_rng(seed), folds=FOLDS), yr)
        out[str(r)] = (acc["within_10pct"], acc["kendall_tau"])
    return out


def spreads(table: LatencyTable) -> dict[str, float]:
    return {str(c["resolution"]): float(c.get("anchor", {}).get("spread_pct", float("nan")))
            for c in table.configs}


def compare(table_id: str, old_dir: Path, new_dir: Path, runs: list[Path],
            confirm: list[Path]) -> dict[str, Any]:
    old = read_table(old_dir / f"{table_id}.json")
    new = read_table(new_dir / f"{table_id}.json")
    scored = {(name, which): score_runs(t, [r / f"validate_{table_id}.csv" for r in rs])[
        "per_resolution"] for name, t in (("old", old), ("new", new))
        for which, rs in (("runs", runs), ("confirm", confirm)) if rs}
    out: dict[str, Any] = {"table": table_id, "old_hash": old.content_hash,
                           "new_hash": new.content_hash, "runs": len(runs), "per_resolution": {}}
    cv = {(b, s): cv_scores(bt, st) for b, bt in (("old", old), ("new", new))
          for s, st in (("old", old), ("new", new))}
    for res in scored[("new", "runs")]:
        out["per_resolution"][res] = {
            "spread_pct": {"old": spreads(old)[res], "new": spreads(new)[res]},
            "rounds": {"old": old.measurement.get("rounds"), "new": new.measurement.get("rounds")},
            "cv_here": {b: cv[(b, "new")][res] for b in ("old", "new")},
            "cv_at_old_build": {b: cv[(b, "old")][res] for b in ("old", "new")},
            **{which: {name: scored[(name, which)][res]["model"] for name in ("old", "new")}
               for which in ("runs", "confirm") if ("new", which) in scored}}
    return out


def render(results: list[dict[str, Any]], runs: list[Path], confirm: list[Path]) -> str:
    lines = [
        "Each table as shipped before (old) and rebuilt on the 2026-11-30 host (new: blocks "
        "timed in 14 rounds, 80 calibration networks per config timed in 20 rounds). "
        "\"Anchor spread\" is how far the anchor network's time varied between the build's "
        "chunks (the machine's speed drift during the build; `nas lut build` warns above 20%). "
        "\"CV\" is 5-fold cross-validation of the calibration on whole networks measured "
        "end-to-end, with that build's blocks as the features: on the new table's calibration "
        "networks (measured here) and on the old table's (measured at its build). Neither uses "
        "a validation network. \"Runs\" scores each table on the recorded validation runs "
        f"combined ({len(runs)} runs of the same 50 held-out networks per resolution; runs taken "
        "for the old table rescaled to the new one's anchor speed). \"Later runs\" were "
        f"taken after the choice ({len(confirm)} run{'s' * (len(confirm) != 1)}, validating the "
        "tables then shipped).", "",
        "| table | res | anchor spread % old → new | CV here, old blocks → new: within ±10% / τ "
        "| CV at old build, old → new | **runs: old → new, within ±10% / τ** | later runs: "
        "old → new |",
        "|---|---|---|---|---|---|---|"]
    for r in results:
        for res, g in r["per_resolution"].items():
            s, ch, co = g["spread_pct"], g["cv_here"], g["cv_at_old_build"]
            lines.append(
                f"| {r['table']} | {res} | {s['old']:.0f} → {s['new']:.0f} | "
                f"{ch['old'][0]:.0%} / {ch['old'][1]:.3f} → {ch['new'][0]:.0%} / "
                f"{ch['new'][1]:.3f} | {co['old'][0]:.0%} / {co['old'][1]:.3f} → "
                f"{co['new'][0]:.0%} / {co['new'][1]:.3f} | {_pair(g.get('runs'))} | "
                f"{_pair(g.get('confirm'))} |")
    lines += ["", "Runs: " + ", ".join(r.name for r in runs) + ".",
              "Later runs: " + (", ".join(r.name for r in confirm) or "none") + "."]
    return "\n".join(lines)


def _pair(scores: dict[str, dict[str, float]] | None) -> str:
    if not scores:
        return "—"
    o, n = scores["old"], scores["new"]
    return (f"{o['within_10pct']:.0%} / {o['kendall_tau']:.3f} → {n['within_10pct']:.0%} / "
            f"{n['kendall_tau']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--old", required=True, help="folder of the tables as they were")
    ap.add_argument("--new", required=True, help="folder of the rebuilt tables")
    ap.add_argument("--runs", nargs="+", required=True, help="bench_latency.py output folders")
    ap.add_argument("--confirm-runs", nargs="*", default=[],
                    help="runs taken after the choice (reported apart)")
    ap.add_argument("--tables", nargs="+", help="table ids (default: every table in --new)")
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    ap.add_argument("--section", default=SECTION, help="RESULTS.md section to write")
    ap.add_argument("--title", default="rebuilt on the 2026-11-30 host, against the 2026-11-22 "
                    "builds", help="the section heading, after the script's name")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    new_dir, old_dir = Path(args.new), Path(args.old)
    ids = args.tables or sorted(p.stem for p in new_dir.glob("*.json"))
    runs = [Path(r) for r in args.runs]
    confirm = [Path(r) for r in args.confirm_runs]
    results = [compare(t, old_dir, new_dir, runs, confirm) for t in ids]
    print(json.dumps(results, indent=1))
    if not args.no_results:
        body = render(results, runs, confirm) + (f"\n\n{args.note}" if args.note else "")
        write_section(args.section, "Latency tables (`experiments/bench_latency_rebuilt.py`): "
                      + args.title, body)


if __name__ == "__main__":
    main()
