"""Scoring a table on earlier validation runs, one or several combined, without measuring.

A validation run writes one CSV row per network (``nas lut validate --out DIR``). On a shared
machine one run's timings carry the noise of the minutes it ran in: on this project's VM two
runs of the same 50 networks agreed to a median Kendall tau of only 0.75-0.94
(``docs/latency-validation.md``). Runs of the same networks (same table configs, ``--n`` and
``--seed``) taken at different times are combined here, per network, by the geometric mean of
their drift-corrected timings, which averages out the noise of any one session.

The output says how far the runs agree with each other (``between_runs``), so that a reader can
tell a table's error from the device's.

Runs outlive tables: a table rebuilt or recalibrated later can be scored on the runs taken for
its predecessor. A run's drift-corrected timings are expressed at the speed its table's anchor
had at build (``anchor_ms_at_build``, in every CSV written since); scoring under a table whose
build timed the same anchor network at another speed rescales them to that speed
(:func:`rebase_run`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nas._errors import NasError
from nas.arch import Arch
from nas.latency._anchor import table_anchors
from nas.latency._entry import Entry
from nas.latency._networks import NetItem, calibration_items
from nas.latency._table import LatencyTable
from nas.latency._validate import none_if_nan, score_networks, write_outputs

_COLUMNS = ("arch", "classes", "in_channels", "measured_median_ms", "measured_min_ms")
# Timings combined across runs (raw_* and anchor_drift only where every run has them).
_TIMINGS = ("measured_median_ms", "measured_min_ms", "raw_median_ms", "raw_min_ms", "anchor_drift")
_SCALED = ("measured_median_ms", "measured_min_ms")
WEIGHTINGS = ("equal", "precision")


class RunRow(NamedTuple):
    """One network of a validation run: the network, its timings, and the anchor (arch, ms at
    build) its ``measured_*`` timings are expressed at (None in CSVs from before that column)."""

    item: NetItem
    times: dict[str, float]
    anchor: tuple[Arch, float] | None


def read_run(path: str | Path) -> dict[tuple[str, int, int], RunRow]:
    """One validation CSV: network -> its row. Errors name the file and the row."""
    path = Path(path)
    if not path.is_file():
        raise NasError(f"{path}: no such validation CSV (written by `nas lut validate --out DIR`)")
    out: dict[tuple[str, int, int], RunRow] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise NasError(f"{path}: not a validation CSV; it lacks the column(s) {missing}")
        for i, row in enumerate(reader, start=2):
            try:
                item = NetItem(Arch.parse(row["arch"]), int(row["classes"]),
                               int(row["in_channels"]))
                times = {c: float(row[c]) for c in _TIMINGS if row.get(c) not in (None, "")}
                anchor = ((Arch.parse(row["anchor_arch"]), float(row["anchor_ms_at_build"]))
                          if row.get("anchor_arch") and row.get("anchor_ms_at_build") else None)
            except (NasError, ValueError, TypeError) as exc:
                raise NasError(f"{path}: line {i} is not a validation row ({exc})") from None
            if not all(math.isfinite(v) and v > 0 for v in times.values()):
                raise NasError(f"{path}: line {i} has a timing that is not a positive number")
            if item.ident in out:
                raise NasError(f"{path}: line {i} repeats the network {item.arch.text}")
            if anchor is not None and not (math.isfinite(anchor[1]) and anchor[1] > 0):
                raise NasError(f"{path}: line {i} has an anchor_ms_at_build that is not a "
                               "positive number")
            out[item.ident] = RunRow(item, times, anchor)
    if not out:
        raise NasError(f"{path}: has no networks")
    return out


def rebase_run(run: dict[tuple[str, int, int], RunRow], path: str | Path, table: LatencyTable,
               measured_with: LatencyTable | None = None) -> dict[str, float]:
    """Express a run's ``measured_*`` timings at ``table``'s anchor speed, in place.

    A validation divides each timing by ``anchor now / anchor at build`` of the table it
    validated, so its ``measured_*`` are at that table's build speed. A table rebuilt later (or
    on another day) recorded another anchor time: its predictions are at that speed, and the
    run must be scaled by ``new anchor ms / old anchor ms`` per config to be compared with them
    (``anchor_drift`` by the inverse; raw timings stay as timed). The old anchor comes from the
    CSV's ``anchor_arch``/``anchor_ms_at_build`` columns, else from ``measured_with`` (the table
    the run validated); with neither, or where ``table`` has no anchor, nothing changes.

    Returns:
        ``config -> factor`` for the configs scaled by a factor other than 1.

    Raises:
        NasError: the run's anchor network is not ``table``'s (the tables sample their anchors
            from different spaces or widths, so their speeds cannot be related).
    """
    targets = table_anchors(table.configs)
    fallback = table_anchors(measured_with.configs) if measured_with is not None else {}
    factors: dict[str, float] = {}
    for key, row in run.items():
        it = row.item
        cfg = it.config
        target = targets.get(cfg)
        source = row.anchor or fallback.get(cfg)
        if target is None or source is None:
            continue
        if source[0] != target[0]:
            raise NasError(f"{path}: its timings are relative to the anchor network "
                           f"{source[0].text} but {table.where} anchors {cfg} on "
                           f"{target[0].text}; a run can only be rescored by a table with the "
                           "same anchor (same space, resolution and widths)")
        factor = target[1] / source[1]
        if factor == 1.0:
            continue
        factors[cfg] = factor
        times = dict(row.times)
        for c in _SCALED:
            times[c] *= factor
        if "anchor_drift" in times:
            times["anchor_drift"] /= factor
        run[key] = RunRow(it, times, target)
    return factors


class AlignedRuns(NamedTuple):
    """Several validation runs of the same networks, side by side."""

    items: list[NetItem]
    times: dict[str, np.ndarray]  # column -> (runs, networks) timings, columns every run has
    rebased: dict[str, dict[str, float]]  # run -> config -> factor (see rebase_run)
    not_in_every_run: int  # networks some run lacks, left out


def measured_column(table: LatencyTable) -> str:
    """The CSV column of the drift-corrected timing a table predicts (its statistic)."""
    return "measured_min_ms" if table.statistic == "min" else "measured_median_ms"


def align_runs(table: LatencyTable, paths: Sequence[str | Path],
               measured_with: LatencyTable | None = None) -> AlignedRuns:
    """Read validation CSVs, rescale them to ``table``'s anchor speed (:func:`rebase_run`) and
    keep the networks every run measured, in the first run's order.

    Raises:
        NasError: a CSV is missing or malformed, a run's anchor is not the table's, or the runs
            share no network.
    """
    runs = [read_run(p) for p in paths]
    rebased = {str(p): f for p, r in zip(paths, runs, strict=True)
               if (f := rebase_run(r, p, table, measured_with))}
    common = [k for k in runs[0] if all(k in r for r in runs[1:])]
    union = set().union(*(r.keys() for r in runs))
    if not common:
        raise NasError(f"the validation CSVs {[str(p) for p in paths]} share no network; "
                       "combine runs of the same table, --n and --seed")
    columns = sorted(set.intersection(*(set(r[k].times) for r in runs for k in common)))
    times = {c: np.array([[r[k].times[c] for k in common] for r in runs]) for c in columns}
    return AlignedRuns([runs[0][k].item for k in common], times, rebased,
                       len(union) - len(common))


def precision_weights(log_ms: np.ndarray) -> np.ndarray:
    """Per run, the inverse of its noise variance, normalized to sum to 1 (no table involved).

    A run's noise is seen in how far its log timings stray from the mean of the other runs,
    after its median offset is removed (a run taken at another machine speed is shifted as a
    whole; that is the anchor's business, not noise). That stray also carries the other runs'
    noise, ``v_r = s_r + (S - s_r) / (k - 1)**2`` with ``S`` the sum of the ``k`` variances
    ``s``, so the variances are solved from the strays exactly, and floored at 1% of their mean
    so that no run is taken as noiseless. A run taken in a noisy spell gets little weight. With
    fewer than 3 runs every run strays from the others equally: equal weights.

    Args:
        log_ms: ``(runs, networks)`` log timings of the same networks.
    """
    k = len(log_ms)
    if k < 3:
        return np.full(k, 1.0 / k)
    stray = np.empty(k)
    for r in range(k):
        d = log_ms[r] - np.delete(log_ms, r, axis=0).mean(axis=0)
        stray[r] = np.mean((d - np.median(d)) ** 2)
    total = stray.sum() * (k - 1) / k
    var = (stray - total / (k - 1) ** 2) / (1 - 1 / (k - 1) ** 2)
    w = 1.0 / np.maximum(var, 0.01 * total / k + 1e-12)
    return w / w.sum()


def combine_runs(items: Sequence[NetItem], values: dict[str, np.ndarray], key: str,
                 weighting: str = "equal") -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Each network's timings over the runs, combined by a (weighted) geometric mean.

    Args:
        items: the networks.
        values: column -> ``(runs, networks)`` timings.
        key: the column whose noise sets the weights (the table's measured column).
        weighting: ``equal``, or ``precision`` (:func:`precision_weights`, per resolution).

    Returns:
        the combined columns, and per resolution the weight of each run.
    """
    if weighting not in WEIGHTINGS:
        raise NasError(f"run weighting {weighting!r} is not one of {', '.join(WEIGHTINGS)}")
    res = np.array([it.arch.resolution for it in items])
    k = len(values[key])
    weights = np.full((k, len(items)), 1.0 / k)
    per_res = {}
    for r in sorted(set(res.tolist())):
        sel = res == r
        if weighting == "precision":
            weights[:, sel] = precision_weights(np.log(values[key][:, sel]))[:, None]
        per_res[str(r)] = [float(w) for w in weights[:, sel][:, 0]]
    combined = {c: np.exp((weights * np.log(v)).sum(axis=0)) for c, v in values.items()}
    return combined, per_res


def score_runs(table: LatencyTable, paths: Sequence[str | Path], *,
               out_dir: str | Path | None = None, approximate: bool = False,
               measured_with: LatencyTable | None = None,
               weighting: str = "equal") -> dict[str, Any]:
    """Score ``table`` on the networks earlier validation runs measured, combined.

    Args:
        table: the table to score (its current calibration predicts).
        paths: validation CSVs of the same networks; each network's timings are combined by
            their geometric mean over the runs. Networks missing from some run are left out
            and counted in ``not_in_every_run``.
        out_dir: write the combined CSV and the scatter PNG here (same format as a validation);
            it may hold one of several input runs only if that is the only run.
        approximate: price blocks the table lacks with its kernel model.
        measured_with: the table the runs validated, for CSVs that do not record their anchor
            (written before ``anchor_ms_at_build`` existed); see :func:`rebase_run`.
        weighting: ``equal`` (the plain geometric mean) or ``precision``: each run weighted by
            the inverse of its noise variance, per resolution (:func:`precision_weights`),
            for runs taken in spells of very different machine noise.

    Returns:
        what :func:`nas.latency._validate.validate_table` returns, plus ``runs`` (the CSVs),
        ``rebased`` (per run that was rescaled to ``table``'s anchor speed, the factor per
        config), ``weighting`` and ``run_weights`` (per resolution, each run's weight) and, with
        2 or more runs, per resolution ``between_runs``: the median Kendall tau between two runs
        and the tau between the combined first and second halves of the runs.

    Raises:
        NasError: a CSV is missing or malformed, the runs share no network, a network is one
            the table's calibration measured (the runs were taken for another table), a run's
            anchor is not the table's, or writing to ``out_dir`` would overwrite one of several
            input runs.
    """
    if not paths:
        raise NasError("score_runs needs at least one validation CSV")
    if out_dir is not None and len(paths) > 1:
        target = (Path(out_dir) / f"validate_{table.id}.csv").resolve()
        if any(Path(p).resolve() == target for p in paths):
            raise NasError(f"--out {out_dir} would overwrite the input run {target}; "
                           "write the combined run to another folder")
    runs = align_runs(table, paths, measured_with)
    items, values = runs.items, runs.times
    cal_items, cal_entries = calibration_items(table)
    calibrated = {it.ident for it in cal_items} & {it.ident for it in items}
    if calibrated:
        arch = next(iter(calibrated))[0]
        raise NasError(f"{arch} in these runs is one of {table.where}'s calibration networks: "
                       "these runs were not measured for this table")
    combined, weights = combine_runs(items, values, measured_column(table), weighting)
    measured = [Entry(median=float(combined["measured_median_ms"][i]),
                      min=float(combined["measured_min_ms"][i])) for i in range(len(items))]
    out, pred, naive, flops, macs = score_networks(table, items, measured, cal_items, cal_entries,
                                                   approximate=approximate)
    out["runs"] = [str(p) for p in paths]
    out["rebased"] = runs.rebased
    out["weighting"] = weighting
    out["run_weights"] = weights
    out["not_in_every_run"] = runs.not_in_every_run
    if len(paths) >= 2:
        out["between_runs"] = between_runs(items, np.log(values[measured_column(table)]))
    if out_dir is not None:
        # Runs from before the anchor have no raw timings: the measured ones stand in.
        raw_median = combined.get("raw_median_ms", combined["measured_median_ms"])
        raw_min = combined.get("raw_min_ms", combined["measured_min_ms"])
        raw = [Entry(median=float(a), min=float(b)) for a, b in zip(raw_median, raw_min,
                                                                     strict=True)]
        drift = combined.get("anchor_drift", np.ones(len(items)))
        out.update(write_outputs(Path(out_dir), table, items, measured, pred, naive, flops, macs,
                                 raw, drift.tolist()))
    return out


def between_runs(items: Sequence[NetItem], log_ms: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per resolution: median tau between two runs, and between the two halves' geometric means.

    Args:
        items: the networks.
        log_ms: ``(runs, networks)`` log timings.
    """
    from scipy.stats import kendalltau

    res = np.array([it.arch.resolution for it in items])
    k = len(log_ms)
    out = {}
    for r in sorted(set(res.tolist())):
        m = log_ms[:, res == r]
        pairs = [kendalltau(m[i], m[j]).statistic for i in range(k) for j in range(i + 1, k)]
        half = k // 2
        split = kendalltau(m[:half].mean(axis=0), m[half:].mean(axis=0)).statistic
        out[str(r)] = {"runs": k, "n": int(m.shape[1]),
                       "median_tau_run_vs_run": none_if_nan(float(np.median(pairs))),
                       "tau_half_vs_half": none_if_nan(float(split))}
    return out
