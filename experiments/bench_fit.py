"""Held-out accuracy of tables fitted from whole-network timings, and the shipped imported tables.

For every device column of HELP's FBNet and OFA-MobileNetV3 files: ``nas lut fit`` on a seeded 80%
of the rows, scored on the other 20% (never on fitted rows), next to the plain baseline (NNLS of
one cost per (layer, op) + constant) on the same split. Also the lag-1 autocorrelation, in file
order, of the fit's relative residuals on its training rows: a value far from 0 means the
device drifted while it was measured (HELP's rows are in measurement order), which no predictor
of the architecture alone can follow.

Run: ``python experiments/bench_fit.py [--seeds 0 1 2] [--tables]``; ``--tables`` also writes the
shipped tables to latency_tables/ (imports with their mapping counts, fits with seed 0).
Deterministic: no timing is involved, so machine load does not change the figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _results import write_section

from nas.latency._validate import accuracy
from nas.lutkit import (
    FitOptions,
    fit_table,
    import_table,
    layer_op_baseline,
    read_measurements,
    sources_dir,
    split_rows,
)
from nas.lutkit._drift import session_drift
from nas.lutkit._fit import DRIFT_ROUNDS, DRIFT_WARN

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "latency_tables"
# Fractions within +-10% that the issue quotes for its plain NNLS baseline (its own split): the
# phones and the Xeon on the FBNet file, the GPUs at batch 1 on the OFA file only.
QUOTED = {**{("help-fbnet", c): v for c, v in (("pixel2", 0.67), ("essential_ph_1", 0.64),
                                               ("samsung_a50", 0.94), ("gold_6226", 0.92))},
          **{("help-ofa", c): v for c, v in (("2080ti_1", 0.54), ("titan_rtx_1", 0.52),
                                             ("titan_xp_1", 0.50))}}
SHIP_FIT = {"help-fbnet": {"pixel3": "pixel3_fit_fbnet", "raspi4": "raspi4_fit_fbnet"},
            "help-ofa": {f"{g}_{b}": f"{n}_b{b}_fit_ofa_mbv3"
                         for g, n in (("2080ti", "rtx2080ti"), ("titan_rtx", "titanrtx"),
                                      ("titan_xp", "titanxp")) for b in (1, 32, 64)}}
IMPORTS = [
    ("ofa_note10", "ofa", "note10_cpu_tflite_ofa_mbv3_w12", []),
    ("proxylessnas_pixel1", "proxylessnas", "pixel1_cpu_tflite_proxyless_mbv2", []),
    ("xilinx_dpu_ultra96v2", "dpu-csv", "ultra96v2_dpu_int8_ofa_mbv3_w12",
     ["pool(cin=1152,cout=1152,hw=7)=0"]),
    *[(f"nnmeter_mobile_cpu/{d}_lut_ln_v3.json", "nnmeter", f"{d}_cpu_tflite_nnmeter", [])
      for d in ("pixel1", "pixel4", "pixel6", "xiaomi11")],
]
FIXED_WINDOW = 10  # rows on each side: the window used before --drift-window auto existed
FILES = {"help-fbnet": "help_fbnet/fbnet_archs_latency.csv",
         "help-ofa": "help_ofa_mbv3_gpu/ofa_mbv3_archs_gpu_latency.csv"}


def baseline_drift_corrected(meas, column: str, seed: int, window: int) -> float:  # type: ignore[no-untyped-def]
    """The plain baseline given the same drift treatment as ``--drift-window``: refit on the
    de-drifted training rows (3 rounds), held-out rows scored with the drift divided out."""
    rows, y = meas.column(column)
    archs = [meas.archs[i] for i in rows]
    train, test = split_rows(len(rows), 0.2, seed)
    known = np.zeros(len(y), dtype=bool)
    known[train] = True
    every = np.arange(len(y))
    d = np.ones(len(y))
    for _ in range(DRIFT_ROUNDS):
        pred = layer_op_baseline(archs, y / d, train, every)
        d = session_drift(y / np.maximum(pred, 1e-12), known, window)
    return float(np.mean(np.abs(pred[test] * d[test] / y[test] - 1) <= 0.1))


def within(y: np.ndarray, pred: np.ndarray) -> float:
    """The fraction of ``pred`` within ±10% of ``y``."""
    return float(accuracy(pred, y)["within_10pct"])


def fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def bench_fits(seeds: list[int], write: bool) -> tuple[list[str], list[str], list[str]]:
    lines = ["| file | column | device | model | held-out within ±10% (seed 0) | mean over seeds "
             "| baseline, same split (mean) | baseline quoted in the issue | MAPE % | Kendall τ "
             "| residual lag-1 autocorr | fit s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    drifting = ["| file | column | window chosen (per seed) | drift factor p5 – p95 "
                "| training rows drifted > 10% | held-out within ±10%, raw timings "
                f"| drift divided out, window {FIXED_WINDOW} | **drift divided out, window "
                "chosen** | baseline, same drift treatment | baseline quoted in the issue "
                "| residual lag-1 autocorr after |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
    scaled: list[str] = []  # columns whose seed-0 fit kept one scale per resolution
    for fmt_name, rel in FILES.items():
        meas = read_measurements(sources_dir() / rel, fmt_name)
        for column in meas.columns:
            ours, base, first, first_took = [], [], None, 0.0
            for seed in seeds:
                t0 = time.perf_counter()
                res = fit_table(meas, column, seed=seed)
                took = time.perf_counter() - t0
                ours.append(res.summary["held_out"]["within_10pct"])
                base.append(res.summary["baseline_held_out"]["within_10pct"])
                if first is None:
                    first, first_took = res, took
            assert first is not None
            s = first.summary
            if s["resolution_scale"]["used"]:
                scaled.append(f"{fmt_name} {column}")
            ship = SHIP_FIT[fmt_name].get(column)
            if write and ship:
                first.table.write(TABLES / f"{ship}.json")
            name = f"**{column}** → `{ship}`" if ship else column
            lines.append(
                f"| {fmt_name} | {name} | {s['device']} | {s['model']} "
                f"| {fmt(ours[0])} | {fmt(float(np.mean(ours)))} | {fmt(float(np.mean(base)))} "
                f"| {fmt(QUOTED.get((fmt_name, column)))} | {fmt(s['held_out']['mape'], 2)} "
                f"| {fmt(s['held_out']['kendall_tau'])} "
                f"| {fmt(s['drift']['residual_lag1_autocorr'], 2)} | {first_took:.1f} |")
            print(lines[-1], flush=True)
            if (s["drift"]["residual_lag1_autocorr"] or 0.0) > DRIFT_WARN:
                drifting.append(bench_drift(meas, fmt_name, column, seeds))
                print(drifting[-1], flush=True)
    return lines, drifting, scaled


def bench_drift(meas, fmt_name: str, column: str, seeds: list[int]) -> str:  # type: ignore[no-untyped-def]
    """One row of the drift table: ``--drift-window auto`` fits (and the fixed window of 10 rows
    used before) against the same baseline treatment."""
    raw, corr, fixed, base, autoc, spread, off, windows = [], [], [], [], [], [], [], []
    for seed in seeds:
        s = fit_table(meas, column, seed=seed, options=FitOptions(drift_window="auto")).summary
        d = s["drift"]
        windows.append(d["window"])
        raw.append(s["held_out"]["within_10pct"])
        corr.append(s["held_out_drift_corrected"]["within_10pct"])
        fixed.append(fit_table(meas, column, seed=seed, options=FitOptions(
            drift_window=FIXED_WINDOW)).summary["held_out_drift_corrected"]["within_10pct"])
        base.append(baseline_drift_corrected(meas, column, seed, d["window"]))
        autoc.append(d["residual_lag1_autocorr_corrected"])
        spread.append(d["factor_p5_p50_p95"])
        off.append(d["rows_off_by_10pct"])
    lo, _, hi = np.mean(spread, axis=0)
    return (f"| {fmt_name} | {column} | {'/'.join(map(str, windows))} | {lo:.2f} – {hi:.2f} "
            f"| {fmt(float(np.mean(off)))} | {fmt(float(np.mean(raw)))} "
            f"| {fmt(float(np.mean(fixed)))} | **{fmt(float(np.mean(corr)))}** "
            f"| {fmt(float(np.mean(base)))} | {fmt(QUOTED.get((fmt_name, column)))} "
            f"| {fmt(float(np.mean(autoc)), 2)} |")


def bench_imports(write: bool) -> list[str]:
    lines = ["| table | format | source keys | mapped | unmapped (reasons) | merged repeats "
             "| space points fully covered | approximations / assumptions |",
             "|---|---|---|---|---|---|---|---|"]
    for rel, fmt_name, table_id, assume in IMPORTS:
        table, s = import_table(sources_dir() / rel, fmt_name, assume=assume)
        if write:
            table.write(TABLES / f"{table_id}.json")
        full = [f"{c['space']} r{c['resolution']} w{c['width']:g}" for c in s["coverage"]
                if c["covered"] == c["space_keys"]]
        partial = [f"{c['space']} r{c['resolution']} w{c['width']:g}: {c['covered']}/"
                   f"{c['space_keys']}" for c in s["coverage"] if c["covered"] < c["space_keys"]]
        reasons = "; ".join(f"{k}: {v}" for k, v in s["unmapped_by_reason"].items()) or "–"
        notes = [a["note"] for a in s["approximations"]]
        lines.append(f"| `{table_id}` | {fmt_name} | {s['source_keys']} | {s['n_mapped']} "
                     f"| {s['n_unmapped']} ({reasons}) | {len(s['merged'])} "
                     f"| {', '.join(full) or '–'}{'; partial: ' + ', '.join(partial) if partial else ''} "
                     f"| {'; '.join(notes) or '–'} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tables", action="store_true", help="write the shipped tables")
    args = ap.parse_args()
    imports = bench_imports(args.tables)
    fits, drifting, scaled = bench_fits(args.seeds, args.tables)
    body = "\n".join([
        "`nas lut fit` (default options: model auto, Huber loss on relative residuals, "
        "resolution scale auto, seeded 80/20 split) scored on held-out rows only; the "
        "baseline is a plain NNLS of one cost per "
        f"(layer, op) + constant on the same split. Seeds {args.seeds}; the shipped tables "
        "(bold) are the seed-0 fits, so `nas lut eval TABLE FILE --format F --column C "
        "--test-fraction 0.2 --seed 0` reproduces their row. `eyeriss` and `fpga` are simulated "
        "by HW-NAS-Bench; `pixel3` and `raspi4` are sums of measured per-block tables: held-out "
        "error 0, and the per-block values come back exactly except where the data cannot tell "
        "them apart (blocks in every network are in the per-network overhead; each stage's "
        "first-layer blocks are fixed up to a constant shared with the overhead).",
        "",
        "Reading it: where the baseline is already at 0.99+ both are at the noise floor. Where "
        "the residual lag-1 autocorrelation (file order = measurement order) is high, the device "
        "drifted while it was measured; no function of the architecture follows that, and the "
        "fit and the baseline end up level. The baseline figures the issue quotes were made on "
        "another split or protocol: the same baseline on these splits is the column before them.",
        "", *fits, "",
        "One scale per input resolution (`--resolution-scale auto`: kept only where 5-fold "
        "cross-validation on the training rows gains a point within ±10%) was kept by the "
        f"seed-0 fit of: {', '.join(scaled) or 'none'}.", "",
        f"Devices that drifted while measured (lag-1 autocorrelation > {DRIFT_WARN}): "
        "`nas lut fit --drift-window auto` estimates the session's drift per row as the median "
        "measured/predicted of the training rows within K rows of it in file order (never the "
        "row itself), K chosen among 1, 2, 3, 5, 10, 20 by the training rows' leave-one-out "
        "share within ±10%; it refits on de-drifted timings, and scores the held-out rows "
        "twice: against the raw timings, and with the estimated drift divided out (the device "
        "in its typical state). 'Training rows drifted > 10%' is the share whose estimated "
        "drift factor is more than 10% from 1: against their raw timings no table of the "
        "architecture is within ±10%, so one minus it roughly caps the raw held-out score. "
        f"The window of {FIXED_WINDOW} rows is what this section used before the choice "
        "existed. The baseline gets the identical drift treatment, with the window the fit "
        "chose. Means over the same seeds.",
        "", *drifting, "",
        "Imported published tables (`nas lut import`; counts are source keys):", "", *imports,
    ])
    write_section("bench_fit", "Tables for devices we cannot hold: fitted and imported", body)


if __name__ == "__main__":
    main()
