"""Latency-table benchmark: accuracy against this device, build times, predictions per second.

For each table: ``validate_table`` on ``--n`` held-out networks per config (measured here,
end-to-end, with the table's backend and settings), the time its build and calibration took
(recorded in the table), and how fast predictions are (single, cold and cached; vectorized).
Writes ``experiments/bench_latency_out/`` (JSON, CSV, PNG) and the ``latency_tables`` section of
``experiments/RESULTS.md``.

    python experiments/bench_latency.py --n 50 --tables cpu_torch_mobilenet_v3 ...
    python experiments/bench_latency.py --render --out DIR --section NAME   # rewrite from DIR

Each table's record says when and on which host (kernel release) it was measured: a cloud VM's
host changes between sessions, and with it the machine's speed and noise.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import replace_section

from nas.latency import LatencyTable, load_table, read_table
from nas.latency._anchor import table_anchors
from nas.latency._enumerate import restrict_space
from nas.latency._fingerprint import cpu_model
from nas.latency._runs import score_runs
from nas.latency._validate import validate_table

ROOT = Path(__file__).resolve().parent
SECTION = "latency_tables"


def prediction_speed(table: LatencyTable, n: int = 2000, seed: int = 7,
                     config: int = 0) -> dict[str, float]:
    """Predictions per second: one arch at a time (cold: first sight of the arch; cached), and
    ``predict_many`` over ``n`` archs (cold and cached), of the table's config ``config``."""
    cfg = table.configs[config]
    space = restrict_space(table.space(cfg["space"]), [cfg["resolution"]], cfg.get("widths"))
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    kw = {"classes": int(cfg["classes"]), "in_channels": int(cfg["in_channels"])}
    fresh = read_table(str(table.path))
    t0 = time.perf_counter()
    for a in archs:
        fresh.predict(a, **kw)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a in archs:
        fresh.predict(a, **kw)
    warm = time.perf_counter() - t0
    fresh = read_table(str(table.path))
    t0 = time.perf_counter()
    fresh.predict_many(archs, **kw)
    many_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fresh.predict_many(archs, **kw)
    many_warm = time.perf_counter() - t0
    return {"predict_per_s_cold": n / cold, "predict_per_s_cached": n / warm,
            "predict_many_per_s_cold": n / many_cold, "predict_many_per_s_cached": n / many_warm}


def repeatability(table: LatencyTable, val: dict[str, Any], n: int, per_res: int, seed: int,
                  passes: int = 1) -> dict[str, dict[str, float]]:
    """Re-measure the first ``per_res`` validation networks of each resolution (with as many
    passes as the validation) and compare with the validation's measurement: the noise floor
    of the measured side (mean |diff| %), for the median and for the min of each network's
    timings."""
    import csv

    from scipy.stats import kendalltau

    from nas.latency._networks import (
        STREAM_VALIDATION,
        calibration_items,
        measure_items,
        sample_items,
        table_settings,
    )
    from nas.latency._validate import accuracy

    cal_items, _ = calibration_items(table)
    items = sample_items(table, n, seed, STREAM_VALIDATION, {it.ident for it in cal_items})
    with open(val["csv"]) as fh:
        first = {row["arch"]: row for row in csv.DictReader(fh)}
    out = {}
    for res in sorted({it.arch.resolution for it in items}):
        pick = [it for it in items if it.arch.resolution == res][:per_res]
        again = measure_items(pick, table_settings(table), seed=seed + 1, progress=False,
                              anchors=table_anchors(table.configs), passes=passes).entries
        out[str(res)] = {stat: float(np.mean([
            abs(e.value(stat) / float(first[it.arch.text][f"measured_{stat}_ms"]) - 1) * 100
            for it, e in zip(pick, again, strict=True)])) for stat in ("median", "min")}
        # Kendall tau of the networks' two measurements: the most any predictor can score.
        out[str(res)]["retest_tau"] = {stat: float(kendalltau(
            [float(first[it.arch.text][f"measured_{stat}_ms"]) for it in pick],
            [e.value(stat) for e in again]).statistic) for stat in ("median", "min")}
        # The table against the geometric mean of both measurements: half the measurement noise.
        pred = [float(first[it.arch.text]["predicted_ms"]) for it in pick]
        out[str(res)]["vs_two_measurements"] = {stat: accuracy(pred, [
            float(np.sqrt(float(first[it.arch.text][f"measured_{stat}_ms"]) * e.value(stat)))
            for it, e in zip(pick, again, strict=True)]) for stat in ("median", "min")}
    return out


def other_statistic(table: LatencyTable, val: dict[str, Any]) -> dict[str, Any]:
    """The same validation networks scored with the other statistic (median <-> min): the table
    refit on its stored calibration networks, compared with the networks' other statistic."""
    import csv

    from nas.arch import Arch
    from nas.latency._networks import refit_calibration
    from nas.latency._validate import accuracy

    other = "median" if table.statistic == "min" else "min"
    alt = read_table(str(table.path))
    alt.set_statistic(other)
    if alt.calibration is not None:
        refit_calibration(alt)
    with open(val["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, Any] = {"statistic": other}
    for res in sorted({int(r["resolution"]) for r in rows}):
        part = [r for r in rows if int(r["resolution"]) == res]
        pred = [alt.predict(Arch.parse(r["arch"]), classes=int(r["classes"]),
                            in_channels=int(r["in_channels"])).latency_ms for r in part]
        meas = [float(r[f"measured_{other}_ms"]) for r in part]
        out[str(res)] = accuracy(pred, meas)
    return out


def _repeat(table: LatencyTable, val: dict[str, Any], args: argparse.Namespace,
            previous: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Repeatability figures: carried over by --rescore when they have both statistics."""
    old = previous.get("repeat_mean_abs_diff_pct", {})
    if args.rescore and old and all(isinstance(v, dict) for v in old.values()):
        return dict(old)
    return (repeatability(table, val, args.n, args.repeat, args.seed, args.passes)
            if args.repeat > 0 else {})


def _load(x: list[float] | None) -> str:
    return "—" if not x else f"{x[0]:.1f} / {x[1]:.1f}"


def _passes_text(results: list[dict[str, Any]]) -> str:
    """How many passes each network was measured in (runs before --passes existed: 1)."""
    passes = sorted({int(r["validation"].get("passes", 1)) for r in results})
    if passes == [1]:
        return ""
    return (f" in {' / '.join(map(str, passes))} independent passes (fresh network instances, "
            "new order and chunks; the median of the passes' values, and the re-measurement "
            "likewise)")


def _rounds_text(results: list[dict[str, Any]]) -> str:
    """How many interleaved timing rounds each network got (runs before it was recorded: 6)."""
    rounds = sorted({int(r["validation"].get("rounds", 6)) for r in results})
    return f", timed in {' / '.join(map(str, rounds))} interleaved rounds"


def _fmt(x: Any, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def _runs(results: list[dict[str, Any]]) -> str:
    """When and where the results were measured (one entry per distinct host and day)."""
    seen = dict.fromkeys(f"{r['run']['utc'][:10]} on Linux {r['run']['kernel']}"
                         for r in results if r.get("run"))
    return "; ".join(seen) or "not recorded"


def render(results: list[dict[str, Any]], n: int, seconds: float | None, rescored: bool = False,
           section: str = SECTION, title: str = "",
           out_dir: str = "experiments/bench_latency_out") -> str:
    import onnxruntime
    import torch

    lines = [
        f"<!-- BEGIN {section} -->",
        f"## Latency tables (`experiments/bench_latency.py`){title}",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; measured "
        f"{_runs(results)}. Tables measured with "
        "1 thread, batch 1, float32. Validation: "
        f"{n} held-out random archs per config (224 px / 3 ch / 1000 classes, and 32 px / 1 ch / "
        "10 classes), each measured end-to-end here with the table's backend"
        + _rounds_text(results) + _passes_text(results) + "; the FLOPs baseline "
        "(latency = a·MACs, one a per resolution) is fitted on the calibration networks. "
        + ("Rescored (`--rescore`) on the networks the previous run measured, after a refit; "
           if rescored else "")
        + (f"Last run of this script: {seconds:.0f} s. " if seconds else "") + "Statistic: "
        f"{', '.join(sorted({r['statistic'] for r in results}))} of each block's and network's "
        "timings. Measured networks have the session's speed drift divided out: each chunk of "
        "networks also times the config's anchor network, whose time the build recorded "
        "(`nas/latency/_anchor.py`); 'raw timings' scores the same networks as timed, and "
        "'anchor drift' is anchor now / anchor at build over the validation (p5 – p95). "
        "'re-measure diff' is the mean |difference| between two measurements of the "
        "same networks (the noise floor of the measured side) and 'test-retest τ' the Kendall τ "
        "between those two measurements (the most any predictor can reach against this "
        "device); 'vs 2 measurements' scores the table against the geometric mean of both "
        "measurements (half the measured side's noise); 'other statistic' scores the "
        "same networks with the table refit for the other statistic (median <-> min); 'one "
        "pass vs another' compares the validation's first two passes (with --passes >= 2): "
        "how far a single pass agrees with itself.",
        "",
        "| table | res | n | within ±10% | Kendall τ | MAPE % | raw timings: within ±10% / τ "
        "| anchor drift p5 – p95 | naive sum: within ±10% / MAPE % "
        "| FLOPs baseline: within ±10% / τ / MAPE % | re-measure diff % | test-retest τ "
        "| vs 2 measurements: within ±10% / τ | other statistic: within ±10% / τ "
        "| one pass vs another: τ / diff % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        alt = r["other_statistic"]
        for res, g in r["validation"]["per_resolution"].items():
            m, nv, fb = g["model"], g["naive_sum"], g["baseline_flops"]
            raw = r["validation"].get("raw_timings", {}).get("per_resolution", {}).get(res)
            rep = r["repeat_mean_abs_diff_pct"].get(res, {})
            drift = r["validation"].get("anchor_drift_p5_p50_p95")
            lines.append(
                f"| `{r['table']}` | {res} | {m['n']} | {m['within_10pct']:.0%} | "
                f"{_fmt(m['kendall_tau'], '.3f')} | {m['mape']:.1f} | "
                + (f"{raw['within_10pct']:.0%} / {_fmt(raw['kendall_tau'], '.3f')} | "
                   if raw else "— | ")
                + (f"{drift[0]:.3f} – {drift[2]:.3f} | " if drift else "— | ")
                + f"{nv['within_10pct']:.0%} / {nv['mape']:.1f} | {fb['within_10pct']:.0%} / "
                f"{_fmt(fb['kendall_tau'], '.3f')} / {fb['mape']:.1f} | "
                f"{_fmt(rep.get(r['statistic']), '.1f')} | "
                f"{_fmt(rep.get('retest_tau', {}).get(r['statistic']), '.3f')} | "
                + (f"{two['within_10pct']:.0%} / {_fmt(two['kendall_tau'], '.3f')} | "
                   if (two := rep.get('vs_two_measurements', {}).get(r['statistic'])) else "— | ")
                + f"{alt[res]['within_10pct']:.0%} / {_fmt(alt[res]['kendall_tau'], '.3f')} | "
                + (f"{_fmt(pp['kendall_tau_pass1_vs_pass2'], '.3f')} / "
                   f"{pp['mean_abs_diff_pct']:.1f} |"
                   if (pp := r["validation"].get("repeatability", {}).get(res)) else "— |"))
    lines += ["", "| table | entries | build s | calibration s (networks) | validation s | "
              "load avg (1 min) before / after validation | "
              "predict/s cold | predict/s cached | predict_many/s cold | predict_many/s cached |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["speed"]
        lines.append(
            f"| `{r['table']}` | {r['entries']} | {_fmt(r['build_seconds'], '.0f')} | "
            f"{_fmt(r['calibration_seconds'], '.0f')} ({r['calibration_networks']}) | "
            f"{r['validation']['seconds']:.0f} | {_load(r.get('load_avg_1min'))} | "
            f"{s['predict_per_s_cold']:,.0f} | "
            f"{s['predict_per_s_cached']:,.0f} | {s['predict_many_per_s_cold']:,.0f} | "
            f"{s['predict_many_per_s_cached']:,.0f} |")
    lines += ["", f"Scatter plots and per-network CSVs: `{out_dir}/`.",
              f"<!-- END {section} -->"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tables", nargs="+", help="table ids or files (required unless --render)")
    ap.add_argument("--n", type=int, default=50, help="held-out networks per config")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench_latency_out"))
    ap.add_argument("--repeat", type=int, default=50,
                    help="re-measure this many validation networks per resolution (noise floor)")
    ap.add_argument("--passes", type=int, default=1,
                    help="measure each network in this many independent passes (median)")
    ap.add_argument("--rescore", action="store_true",
                    help="no measuring: score the tables (e.g. refit) on the networks the last "
                         "run measured (OUT/validate_<id>.csv); repeatability is carried over")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--render", action="store_true",
                    help="no measuring: rewrite the RESULTS.md section from OUT/summary.json")
    ap.add_argument("--section", default=SECTION, help="RESULTS.md section to write")
    ap.add_argument("--title", default="", help="appended to the section's heading")
    args = ap.parse_args()
    out_rel = os.path.relpath(args.out, ROOT.parent)
    if args.render:
        recorded = json.loads((Path(args.out) / "summary.json").read_text())
        replace_section(args.section, render(recorded, args.n, None, section=args.section,
                                             title=args.title, out_dir=out_rel))
        return
    if not args.tables:
        ap.error("--tables is required unless --render")
    t0 = time.perf_counter()
    results = []
    previous = {}
    if (Path(args.out) / "summary.json").is_file():
        previous = {r["table"]: r for r in json.loads((Path(args.out) / "summary.json").read_text())}
    for tid in args.tables:
        table = load_table(tid)
        load_before = os.getloadavg()[0]
        if args.rescore:
            csv_path = Path(args.out) / f"validate_{table.id}.csv"
            val = {**score_runs(table, [csv_path], out_dir=csv_path.parent),
                   "seconds": previous.get(table.id, {}).get("validation", {}).get("seconds", 0.0)}
        else:
            val = validate_table(table, n=args.n, seed=args.seed, out_dir=args.out,
                                 passes=args.passes)
        cal = table.calibration
        results.append({
            "table": table.id, "content_hash": table.content_hash, "entries": len(table),
            "statistic": table.statistic,
            "run": previous.get(table.id, {}).get("run") if args.rescore else {
                "utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"),
                "kernel": platform.release()},
            "load_avg_1min": None if args.rescore else [round(load_before, 2),
                                                         round(os.getloadavg()[0], 2)],
            "build_seconds": table.measurement.get("build_seconds"),
            "calibration_seconds": cal.meta.get("seconds") if cal else None,
            "calibration_networks": len(cal.samples) if cal else 0,
            "validation": val, "speed": prediction_speed(table),
            "repeat_mean_abs_diff_pct": _repeat(table, val, args, previous.get(table.id, {})
                                                if args.rescore else {}),
            "other_statistic": other_statistic(table, val)})
        print(json.dumps({"table": table.id, **{k: val[k] for k in (
            "n", "mape", "within_10pct", "kendall_tau")}, "per_resolution": {
            r: g["model"] for r, g in val["per_resolution"].items()}}, indent=1), flush=True)
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Tables benchmarked earlier and not this time keep their rows (in their order).
    merged = {**previous, **{r["table"]: r for r in results}}
    results = list(merged.values())
    (out / "summary.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    if not args.no_results:
        replace_section(args.section, render(results, args.n, seconds, args.rescore,
                                             section=args.section, title=args.title,
                                             out_dir=out_rel))


if __name__ == "__main__":
    main()
