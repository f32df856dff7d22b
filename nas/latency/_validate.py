"""Validation against the device: held-out whole networks, measured, compared with predictions.

The archs come from a random stream distinct from the calibration's, and any arch the
calibration measured is excluded, so every figure is on networks the table never saw whole. The
FLOPs-proportional baseline (``latency = a * MACs``, one ``a`` per resolution) is fitted on the
calibration's networks, never on the test networks.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import arch_to_blocks
from nas.cost import arch_cost
from nas.latency._anchor import speed_warnings, table_anchors
from nas.latency._entry import Entry
from nas.latency._networks import (
    STREAM_CALIBRATION,
    STREAM_VALIDATION,
    NetItem,
    calibration_items,
    drift_summary,
    journal_path,
    measure_items,
    network_timing,
    sample_items,
    table_settings,
)
from nas.latency._table import LatencyTable


def none_if_nan(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def accuracy(pred: Sequence[float] | np.ndarray, meas: Sequence[float] | np.ndarray
             ) -> dict[str, Any]:
    """n, mape (%), within_10pct (fraction), kendall_tau, rmse_ms, bias_pct, max_abs_pct."""
    from scipy.stats import kendalltau

    p, m = np.asarray(pred, dtype=float), np.asarray(meas, dtype=float)
    if len(p) == 0 or not np.all(np.isfinite(p)):  # nothing to score, or no such predictor
        return {"n": 0}
    rel = p / m - 1.0
    tau = float(kendalltau(p, m).statistic) if len(p) > 1 else float("nan")
    return {
        "n": len(p),
        "mape": float(np.mean(np.abs(rel)) * 100),
        "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "kendall_tau": none_if_nan(tau),
        "rmse_ms": float(np.sqrt(np.mean((p - m) ** 2))),
        "bias_pct": float(np.mean(rel) * 100),
        "max_abs_pct": float(np.max(np.abs(rel)) * 100),
    }


def flops_scale(macs: np.ndarray, meas: np.ndarray) -> float:
    """``a`` minimizing the relative squared error of ``a * macs`` against ``meas``."""
    r = macs / meas
    return float(r.sum() / (r**2).sum())


def validate_table(
    table: LatencyTable,
    *,
    n: int = 50,
    seed: int = 1,
    out_dir: str | Path | None = None,
    approximate: bool = False,
    timer: str | None = None,
    timing: dict[str, Any] | None = None,
    progress: bool = True,
    passes: int = 1,
) -> dict[str, Any]:
    """Measure ``n`` held-out networks per table config on this device and score the table.

    Returns:
        the figures (see :func:`accuracy`) for the table (``model``), the naive sum of isolated
        blocks (``naive_sum``) and the FLOPs baseline (``baseline_flops``), overall and per
        resolution, plus the paths of the CSV and PNG written to ``out_dir``. ``timer``
        measures the networks with another clock than the table's (e.g. ``wall`` to check a
        ``thread_cpu`` table against wall time in a quiet window); ``timing`` overrides how
        networks are timed (see :func:`nas.latency._networks.measure_items`). ``passes``
        measures every network (and the baseline's sample, when there is no calibration) in
        that many independent passes and scores the median; with 2 or more, ``repeatability``
        gives per resolution how well this device's first two passes agree (Kendall τ, mean
        |difference| %): the noise one pass carries, the ceiling a single pass puts on τ.
    """
    t0 = time.perf_counter()
    settings = table_settings(table, **({"timer": timer} if timer else {}))
    cal_items, cal_entries = calibration_items(table)
    anchors = table_anchors(table.configs)
    items = sample_items(table, n, seed, STREAM_VALIDATION, {it.ident for it in cal_items})
    if not approximate:
        for it in items:
            missing = table.missing(arch_to_blocks(it.arch, classes=it.classes,
                                                   in_channels=it.in_channels))
            if missing:
                raise NasError(f"{table.where} has no entry for block {missing[0].key} "
                               f"(needed by {it.arch.text}); finish `nas lut build` first")
    # With an output folder, timings are journaled there as they come: a rerun resumes.
    journals = {w: journal_path(Path(out_dir) / table.id, w)
                for w in ("baseline", "validate")} if out_dir is not None else {}
    baseline_fit = "calibration networks"
    if not cal_items:  # no calibration: fit the baseline on a separate measured sample
        cal_items = sample_items(table, n, seed, STREAM_CALIBRATION, {it.ident for it in items})
        cal_entries = measure_items(cal_items, settings, seed=seed, timing=timing,
                                    progress=progress, desc="baseline fit", anchors=anchors,
                                    passes=passes, journal=journals.get("baseline")).entries
        baseline_fit = "separate sample (table has no calibration)"
    timed = measure_items(items, settings, seed=seed, timing=timing, progress=progress,
                          desc="validate", anchors=anchors, passes=passes,
                          journal=journals.get("validate"))
    measured = timed.entries
    out, pred, naive, flops, macs = score_networks(table, items, measured, cal_items, cal_entries,
                                                   approximate=approximate)
    out.update(clock=settings.clock, seed=seed, passes=passes,
               rounds=int(network_timing(timing)["rounds"]), **drift_summary(timed.drift))
    warnings = speed_warnings([it.config for it in items], timed.drift)
    for line in warnings:
        print(f"nas: warning: {table.where}: {line}", file=sys.stderr)
    if warnings:
        out["warnings"] = warnings
    if len(timed.pass_entries) >= 2:
        out["repeatability"] = pass_repeatability(items, timed.pass_entries, table.statistic)
    if anchors:  # the same networks against their timings as taken (drift not divided out)
        res = np.array([it.arch.resolution for it in items])
        raw = np.array([m.value(table.statistic) for m in timed.raw])
        out["raw_timings"] = {"model": accuracy(pred, raw), "per_resolution": {
            str(r): accuracy(pred[res == r], raw[res == r]) for r in sorted(set(res.tolist()))}}
    out["baseline_flops"]["fitted_on"] = baseline_fit
    if out_dir is not None:
        out.update(write_outputs(Path(out_dir), table, items, measured, pred, naive, flops, macs,
                                 timed.raw, timed.drift))
        for path in journals.values():
            path.unlink(missing_ok=True)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def pass_repeatability(items: Sequence[NetItem], pass_entries: Sequence[Sequence[Entry]],
                       statistic: str) -> dict[str, dict[str, Any]]:
    """Per resolution: Kendall τ and mean |difference| % between the first two passes."""
    from scipy.stats import kendalltau

    res = np.array([it.arch.resolution for it in items])
    a, b = (np.array([e.value(statistic) for e in p]) for p in pass_entries[:2])
    out = {}
    for r in sorted(set(res.tolist())):
        x, y = a[res == r], b[res == r]
        tau = float(kendalltau(x, y).statistic) if len(x) > 1 else float("nan")
        out[str(r)] = {"n": len(x), "kendall_tau_pass1_vs_pass2": none_if_nan(tau),
                       "mean_abs_diff_pct": float(np.mean(np.abs(y / x - 1)) * 100)}
    return out


def score_networks(table: LatencyTable, items: Sequence[NetItem], measured: Sequence[Entry],
                   cal_items: Sequence[NetItem], cal_entries: Sequence[Entry], *,
                   approximate: bool = False
                   ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score the table's predictions of measured networks (no measuring).

    Returns:
        the figures, and per network: prediction, naive sum, FLOPs baseline, MACs.
    """
    stat = table.statistic
    meas = np.array([m.value(stat) for m in measured])
    preds = [table.predict(it.arch, classes=it.classes, in_channels=it.in_channels,
                           approximate=approximate) for it in items]
    pred = np.array([p.latency_ms for p in preds])
    naive = np.array([p.raw_sum_ms for p in preds])
    macs = np.array([_macs(it) for it in items], dtype=float)
    res = np.array([it.arch.resolution for it in items])
    cal_res = np.array([it.arch.resolution for it in cal_items])
    cal_macs = np.array([_macs(it) for it in cal_items], dtype=float)
    cal_meas = np.array([e.value(stat) for e in cal_entries])
    flops = np.full(len(items), np.nan)
    for r in np.unique(res):
        if len(cal_res) == 0:
            break
        fit = cal_res == r if np.any(cal_res == r) else np.ones(len(cal_res), dtype=bool)
        flops[res == r] = flops_scale(cal_macs[fit], cal_meas[fit]) * macs[res == r]
    out: dict[str, Any] = {
        "table": table.id, "path": table.path, "content_hash": table.content_hash,
        "device": table.device.get("name"), "backend": table.backend,
        "threads": table.threads, "batch": table.batch, "dtype": table.dtype,
        "statistic": stat, "calibrated": table.calibration is not None,
        **accuracy(pred, meas),
        "naive_sum": accuracy(naive, meas),
        "baseline_flops": {**accuracy(flops, meas), "fitted_on": "calibration networks"},
        "per_resolution": {
            str(r): {"model": accuracy(pred[res == r], meas[res == r]),
                     "naive_sum": accuracy(naive[res == r], meas[res == r]),
                     "baseline_flops": accuracy(flops[res == r], meas[res == r])}
            for r in sorted(set(res.tolist()))},
        "modelled_keys": sorted({k for p in preds for k in p.modelled}),
    }
    return out, pred, naive, flops, macs


def _macs(it: NetItem) -> int:
    return arch_cost(it.arch, classes=it.classes, in_channels=it.in_channels).macs


def write_outputs(out_dir: Path, table: LatencyTable, items: Sequence[NetItem],
                  measured: Sequence[Entry], pred: np.ndarray, naive: np.ndarray,
                  flops: np.ndarray, macs: np.ndarray, raw: Sequence[Entry],
                  drift: Sequence[float]) -> dict[str, str]:
    """Write ``validate_<table>.csv`` and its scatter PNG to ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    res = np.array([it.arch.resolution for it in items])
    meas = np.array([m.value(table.statistic) for m in measured])
    anchors = table_anchors(table.configs)
    anchor = [anchors.get(it.config) for it in items]
    csv_path = _write_csv(out_dir / f"validate_{table.id}.csv", items, measured, pred, naive,
                          flops, macs, raw, drift, anchor)
    png_path = _write_png(out_dir / f"validate_{table.id}.png", table, res, meas, pred, flops)
    return {"csv": str(csv_path), "png": str(png_path)}


def _write_csv(path: Path, items: Sequence[NetItem], measured: Sequence[Any], pred: np.ndarray,
               naive: np.ndarray, flops: np.ndarray, macs: np.ndarray, raw: Sequence[Entry],
               drift: Sequence[float], anchor: Sequence[tuple[Arch, float] | None]) -> Path:
    """One row per network; ``measured_*`` have the anchor drift divided out, ``raw_*`` not.

    ``anchor_arch`` and ``anchor_ms_at_build`` name the speed ``measured_*`` are expressed at
    (the table's anchor, as its build timed it), so that a later table with another anchor time
    can score the run (:func:`nas.latency._runs.score_runs` rebases it).
    """
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch", "resolution", "classes", "in_channels", "macs", "measured_median_ms",
                    "measured_min_ms", "predicted_ms", "naive_sum_ms", "flops_baseline_ms",
                    "raw_median_ms", "raw_min_ms", "anchor_drift", "anchor_arch",
                    "anchor_ms_at_build"])
        for i, it in enumerate(items):
            a = anchor[i]
            w.writerow([it.arch.text, it.arch.resolution, it.classes, it.in_channels,
                        int(macs[i]), measured[i].median, measured[i].min, pred[i], naive[i],
                        flops[i], raw[i].median, raw[i].min, drift[i],
                        a[0].text if a else "", a[1] if a else ""])
    return path


def _write_png(path: Path, table: LatencyTable, res: np.ndarray, meas: np.ndarray,
               pred: np.ndarray, flops: np.ndarray) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted(set(res.tolist()))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 4.4), squeeze=False)
    for ax, r in zip(axes[0], groups, strict=True):
        m = res == r
        lo, hi = float(min(meas[m].min(), pred[m].min())), float(max(meas[m].max(), pred[m].max()))
        line = np.array([lo * 0.9, hi * 1.1])
        ax.fill_between(line, line * 0.9, line * 1.1, color="0.9", label="±10%")
        ax.plot(line, line, color="0.5", lw=1)
        ax.scatter(meas[m], flops[m], s=12, marker="x", color="tab:orange", label="FLOPs baseline")
        ax.scatter(meas[m], pred[m], s=14, color="tab:blue", label="table prediction")
        ax.set_xlim(line)
        ax.set_ylim(line)
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("predicted latency (ms)")
        ax.set_title(f"{table.id}, r={r}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
