"""Set I on host 3: key scales, tested on 50 fresh networks per config.

The calibration's key scales (per-key in-network factors, :mod:`nas.latency._calibration`) were
found on sets F, G and H. ``bench_latency_out_host3i/calibrate.sh`` gave the shipped host-3 tables
150 more calibration networks at 32 px and refitted them with key scales (``nas lut calibrate
--add``); ``runs.sh`` validated those candidates on set I (seed 2033), 5 runs each; ``PLAN.md``
was written before set I ran and holds the rule that decides whether they ship. This script
scores, per table and resolution, on each set's runs combined per network (equal weights):

- the candidate; the shipped table unchanged, on the same timings; and the shipped table
  refitted with key scales on its own 80 calibration networks per resolution (no new networks);
- the same three on sets F, G and H (where key scales were found: not a test);
- the key-scale choice per resolution (cross-validated τ without them and with the chosen ridge);
- the host-1 default tables refitted with and without key scales on their own 80 calibration
  networks per resolution, scored on the runs recorded on host 1 for sets B and C (fresh sets
  there, never used for key scales): what key scales do with 80 networks on a noisier host.

    python experiments/bench_latency_host3i.py [--no-results] [--note TEXT]

Writes the ``latency_tables_host3i`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

from collections import Counter
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

from nas.latency import LatencyTable, read_table
from nas.latency._networks import calibration_items, refit_calibration
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host3i"
HOST1 = HERE.parent / "latency_tables"
HOST1_SETS = {"B": HERE / "bench_latency_out_setB", "C": HERE / "bench_latency_out_setC"}
# The host-3 variants as shipped until set I (the set F build, byte-identical); the candidates
# ship in their place since.
SHIPPED = HERE / "bench_latency_out_host3" / "tables"
DEV_SETS = {"F": HERE / "bench_latency_out_host3", "G": HERE / "bench_latency_out_host3g",
            "H": HERE / "bench_latency_out_host3h"}
# The plan's rule: the candidates ship if, on set I, every row keeps >= 95% within ±10%, the
# mean τ change over the rows is >= 0 and no row loses more than 0.010 against the shipped table.
MIN_WITHIN, MAX_ROW_LOSS = 0.95, 0.010


def tables(tid: str) -> dict[str, LatencyTable]:
    """The three calibrations of ``tid`` compared."""
    refit = read_table(SHIPPED / f"{tid}.json")
    refit_calibration(refit)
    return {"candidate": read_table(OUT / "tables" / f"{tid}.json"),
            "shipped": read_table(SHIPPED / f"{tid}.json"), "refit": refit}


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: set I for each calibration, and the dev sets' τ."""
    cals = tables(tid)
    csvs = [r / f"validate_{tid}.csv" for r in runs_of(tid, OUT)]
    on_i = {name: score_runs(t, csvs) for name, t in cals.items()}
    dev = {s: {name: score_runs(t, [r / f"validate_{tid}.csv" for r in runs_of(tid, folder)])
               for name, t in cals.items()} for s, folder in DEV_SETS.items()}
    cand = cals["candidate"].calibration
    networks = Counter(it.arch.resolution for it in calibration_items(cals["candidate"])[0])
    rows = {}
    for res, g in on_i["candidate"]["per_resolution"].items():
        choice = cand.meta.get("key_scales", {}).get(res, {}) if cand else {}
        cv = choice.get("cv_tau", {})
        rows[res] = {
            "n": g["model"]["n"], "runs": len(csvs),
            **{name: s["per_resolution"][res]["model"] for name, s in on_i.items()},
            "naive": g["naive_sum"], "flops": g["baseline_flops"],
            "run_vs_run_tau": on_i["candidate"].get("between_runs", {}).get(res, {}).get(
                "median_tau_run_vs_run"),
            "dev_tau": {name: float(np.mean([d[name]["per_resolution"][res]["model"]
                                             ["kendall_tau"] for d in dev.values()]))
                        for name in cals},
            "ridge": choice.get("ridge"),
            "cv": (cv.get("off"), cv.get(str(choice.get("ridge")))),
            "keys": len(cand.scales_for(int(res))) if cand else 0,
            "calibration_networks": networks[int(res)]}
    return {"table": tid, "content_hash": cals["candidate"].content_hash,
            "shipped_hash": cals["shipped"].content_hash, "per_resolution": rows}


def host1_scores(tid: str) -> dict[str, Any]:
    """The host-1 table refitted without and with key scales, on sets B and C."""
    fits = {}
    for name, on in (("off", False), ("on", True)):
        fits[name] = read_table(HOST1 / f"{tid}.json")
        refit_calibration(fits[name], key_scales=on)
    cal = fits["on"].calibration
    rows: dict[str, Any] = {}
    for label, folder in HOST1_SETS.items():
        csvs = sorted(folder.glob(f"run*/validate_{tid}.csv"))
        scored = {name: score_runs(t, csvs) for name, t in fits.items()}
        for res, g in scored["on"]["per_resolution"].items():
            row = rows.setdefault(res, {"ridge": cal.meta["key_scales"].get(res, {}).get("ridge")
                                        if cal else None, "sets": {}})
            row["sets"][label] = {"runs": len(csvs), "off": scored["off"]["per_resolution"][res][
                "model"], "on": g["model"]}
    return {"table": tid, "per_resolution": rows}


def render_host1(results: list[dict[str, Any]]) -> str:
    lines = ["The host-1 default tables (`latency_tables/`, built on the AMD host), refitted on "
             "their own 80 calibration networks per resolution without → with key scales (no "
             "new networks), scored on the runs recorded on host 1 for sets B and C (within "
             "±10% / τ). Not shipped: they cannot be validated on this host.", "",
             "| table (host 1) | res | key-scale ridge chosen | set B: runs, off → on | set C: "
             "runs, off → on |", "|---|---|---|---|---|"]
    for r in results:
        for res in sorted(r["per_resolution"], key=int):
            g = r["per_resolution"][res]
            cells = [f"{s['runs']}, {short(s['off'])} → {short(s['on'])}"
                     for s in g["sets"].values()]
            ridge = "off" if g["ridge"] is None else format(g["ridge"], "g")
            lines.append(f"| `{r['table']}` | {res} | {ridge} | {' | '.join(cells)} |")
    return "\n".join(lines)


def verdict(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan's rule applied to set I: the candidates against the shipped tables."""
    return plan_rule([(g["shipped"], g["candidate"]) for r in results
                      for g in r["per_resolution"].values()], min_mean_gain=0.0,
                     max_row_loss=MAX_ROW_LOSS, min_within=MIN_WITHIN)


def _cv(g: dict[str, Any]) -> str:
    off, on = g["cv"]
    if off is None:
        return "–"
    if g["ridge"] is None:
        return f"off ({off:.3f})"
    return f"{g['keys']} keys, ridge {g['ridge']:g}: {off:.3f} → {on:.3f}"


def render(results: list[dict[str, Any]], rule: dict[str, Any]) -> str:
    lines = [
        set_intro("I", 2033) + ". 'Candidate': the shipped host-3 table with 150 more "
        "calibration networks at 32 px and key scales (`nas lut calibrate --add --n 150 --seed 1 "
        "--resolution 32`); 'shipped': the host-3 variant unchanged; 'refit': the shipped table "
        "refitted with key scales on its own calibration networks (`--refit`), all three on the "
        "same timings. 'Key scales': the keys fitted at that resolution, the ridge chosen and the "
        "cross-validated τ on the candidate's calibration networks without → with them. Dev "
        "sets: τ averaged over sets F, G and H, where key scales were found (not a test).", "",
        "| table (candidate) | res | runs, n | **candidate (set I)** | shipped (set I) | refit "
        "(set I) | naive sum (I) | FLOPs baseline (I) | run vs run τ (I) | calibration networks "
        "| key scales | dev τ: shipped / refit / candidate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['candidate'])}** | {fig(g['shipped'])} | {fig(g['refit'])} | "
        f"{short(g['naive'])} | {short(g['flops'])} | "
        f"{'–' if g['run_vs_run_tau'] is None else format(g['run_vs_run_tau'], '.3f')} | "
        f"{g['calibration_networks']} | {_cv(g)} | {g['dev_tau']['shipped']:.3f} / "
        f"{g['dev_tau']['refit']:.3f} / {g['dev_tau']['candidate']:.3f}"))
    lines += ["", rule_sentence(rule, "on set I, against the shipped tables,",
                                ("ship the candidates", "keep the shipped tables"))]
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    tids = [t for t in TABLES if runs_of(t, OUT)]
    results = [scores(t) for t in tids]
    rule = verdict(results)
    runs = runs_alone(tids, OUT / "tables", OUT, "candidate")
    host1 = [host1_scores(t) for t in TABLES]
    publish(args, "latency_tables_host3i", "Latency tables (`experiments/bench_latency_host3i.py`): "
            "set I, key scales on fresh networks",
            {"tables": results, "rule": rule, "per_run": runs, "host1": host1},
            render(results, rule), render_per_run(runs, "set I"), render_host1(host1))


if __name__ == "__main__":
    main()
