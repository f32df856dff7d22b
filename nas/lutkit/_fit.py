"""``nas lut fit``: per-block latencies (non-negative) that explain whole-network timings.

Model: ``latency(net) = s * (overhead + sum_blocks v(block))`` with ``v >= 0``.

* ``keys`` model: one unknown per block key (exact for data that is a sum of per-block
  timings; needs every key in many training networks).
* ``features`` model: ``v(block)`` is a non-negative combination of the block's features
  (:mod:`nas.lutkit._features`: work per part, per-block constant, kernel launches); it
  generalizes to keys and resolutions no training network had, and captures the per-kernel
  launch cost that dominates a GPU at batch 1.
* ``auto``: ``keys`` when every key occurs in at least 5 training networks and there are 10
  training networks per key, else ``features``.

Fitting minimizes relative error (rows weighted by 1 / measured) with a Huber loss on the
relative residual (a few rounds of reweighted NNLS), so the odd slow run cannot pull every block
up. ``s`` is a multiplicative correction chosen on the training rows (most rows within +-10%).
The overhead (per-network constant) becomes the table's calibration constant; blocks present in
every training network cannot be told apart from it: their time is inside the overhead and their
entries are 0 (summary: ``in_overhead``). Some keys are fixed only up to a constant shared with
the overhead (every FBNet network has exactly one stage-first block per stage, so a constant can
move between those blocks and the overhead without changing any prediction); the keys model
then takes, among the equally good solutions, the one closest to the features model's per-block
values, and lists those keys (``tied_to_overhead``). Only held-out rows are ever scored.

Where the training rows span several input resolutions, one more scale per resolution can
follow what the features miss about the device's speed at each input size (a GPU's tiling):
``resolution_scale`` (see :mod:`nas.lutkit._resolution_scale`); ``auto`` keeps it only when
cross-validation on the training rows says it helps.

A device that drifted while its file was recorded (``drift.residual_lag1_autocorr`` high; the
summary warns) can be fitted with ``drift_window``: see :mod:`nas.lutkit._drift`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from nas._errors import NasError
from nas.blocks import Block
from nas.latency import FEATURES, Calibration, Entry, LatencyTable, enumerate_blocks
from nas.lutkit._drift import (
    drift_stats,
    lag1_autocorr,
    parse_window,
    resolve_window,
    session_drift,
)
from nas.lutkit._features import block_features
from nas.lutkit._help_devices import help_device
from nas.lutkit._measurements import Measurements, split_rows
from nas.lutkit._metrics import layer_op_baseline, scores
from nas.lutkit._resolution_scale import MODES as RESOLUTION_SCALE_MODES
from nas.lutkit._resolution_scale import choose_scales, per_row
from nas.lutkit._sources import HELP_CITATION, HELP_SOURCE

FIT_MODELS = ("auto", "keys", "features")
DRIFT_ROUNDS = 3  # fit, estimate the drift, refit on de-drifted timings (twice)
DRIFT_WARN = 0.5  # lag-1 autocorrelation of residuals above which the summary warns
DRIFT_OFF_WARN = 0.05  # share of rows drifted past 10% above which the summary warns
LOSSES = ("huber", "l2")


@dataclass(frozen=True)
class FitOptions:
    """How to fit. ``huber`` is the relative residual where the loss turns linear."""

    model: str = "auto"
    loss: str = "huber"
    huber: float = 0.05
    rounds: int = 10
    scale: bool = False
    drift_window: int | str = 0  # rows, 0 (off) or "auto" (chosen on the training rows)
    resolution_scale: str = "auto"  # one scale per resolution: on, off, auto (cross-validated)

    def __post_init__(self) -> None:
        if self.model not in FIT_MODELS:
            raise NasError(f"--model {self.model!r} is not one of {', '.join(FIT_MODELS)}")
        if self.loss not in LOSSES:
            raise NasError(f"--loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if not self.huber > 0 or self.rounds < 1:
            raise NasError("huber must be > 0 and rounds >= 1")
        if self.resolution_scale not in RESOLUTION_SCALE_MODES:
            raise NasError(f"--resolution-scale {self.resolution_scale!r} is not one of "
                           f"{', '.join(RESOLUTION_SCALE_MODES)}")
        object.__setattr__(self, "drift_window", parse_window(self.drift_window))


@dataclass
class FitResult:
    """The fitted table and what the fit did (JSON-ready ``summary``)."""

    table: LatencyTable
    summary: dict[str, Any] = field(default_factory=dict)


def solve_relative(a: np.ndarray, y: np.ndarray, options: FitOptions) -> np.ndarray:
    """Non-negative ``x`` minimizing the (Huber) loss of ``(a @ x - y) / y``."""
    rms = np.sqrt(np.mean(a**2, axis=0))
    rms[rms == 0] = 1.0
    scaled = a / rms
    w = 1.0 / y
    x = np.zeros(a.shape[1])
    for _ in range(options.rounds if options.loss == "huber" else 1):
        x, _ = nnls(scaled * w[:, None], y * w, maxiter=50 * a.shape[1])
        rel = np.abs(scaled @ x - y) / y
        w = np.sqrt(np.minimum(1.0, options.huber / np.maximum(rel, 1e-12))) / y
    return np.asarray(x / rms)


def best_scale(pred: np.ndarray, y: np.ndarray) -> float:
    """The factor in [0.9, 1.1] that puts most rows within +-10% (ties: the one nearest 1)."""
    grid = np.round(np.linspace(0.9, 1.1, 201), 4)
    within = [(np.mean(np.abs(s * pred - y) <= 0.1 * y), -abs(s - 1.0)) for s in grid]
    return float(grid[max(range(len(grid)), key=lambda i: within[i])])


def _pick_model(options: FitOptions, counts: Counter[str], n_train: int) -> str:
    if options.model != "auto":
        return options.model
    rare = min(counts.values())
    return "keys" if rare >= 5 and len(counts) * 10 <= n_train else "features"


def fit_table(meas: Measurements, column: str, *, test_fraction: float = 0.2, seed: int = 0,
              options: FitOptions | None = None, device_name: str | None = None,
              split: str = "random") -> FitResult:
    """Fit a table for one device column; score it on the held-out rows only.

    Args:
        meas: the measured networks.
        column: the device column.
        test_fraction: share of rows held out; 0 fits on every row.
        seed: the split's seed (and of the resolution scales' cross-validation).
        options: model and loss.
        device_name: overrides the recorded device name.
        split: ``"random"`` (seeded) or ``"tail"`` (the last rows in file order held out);
            see :func:`nas.lutkit.split_rows`.
    """
    options = options or FitOptions()
    rows, y_all = meas.column(column)
    train, test = split_rows(len(rows), test_fraction, seed, split)
    archs = [meas.archs[i] for i in rows]
    nets = [meas.block_counts(int(i)) for i in rows]
    if len(train) < 2:
        raise NasError(f"{meas.path}: column {column!r}: {len(train)} training rows; need more")
    train_counts: Counter[str] = Counter()
    for i in train:
        train_counts.update(nets[i].keys())
    model = _pick_model(options, train_counts, len(train))
    blocks = _table_blocks(meas, archs, nets, model)
    kidx = {k: i for i, k in enumerate(blocks)}
    counts = np.zeros((len(archs), len(blocks)))
    for r, net in enumerate(nets):
        for k, c in net.items():
            counts[r, kidx[k]] = c
    known = np.zeros(len(y_all), dtype=bool)
    known[train] = True
    drift = np.ones(len(y_all))
    window, choice = options.drift_window, None
    for _ in range(DRIFT_ROUNDS if window else 1):
        y_fit = y_all / drift
        fit = _fit_model("features", blocks, counts[train], y_fit[train], options)
        if model == "keys":  # the features fit only breaks the keys fit's ties (_resolve_gauge)
            fit = _fit_model("keys", blocks, counts[train], y_fit[train], options,
                             prior=fit.values)
        if window:
            ratio = y_all / np.maximum(counts @ fit.values + fit.overhead, 1e-12)
            window, picked = resolve_window(ratio, known, window)  # auto: on the first fit
            choice = choice or picked
            drift = session_drift(ratio, known, window)
    resolution = np.array([a.resolution for a in archs])
    ratio = y_all / drift / np.maximum(counts @ fit.values + fit.overhead, 1e-12)
    by_res, res_info = choose_scales(resolution, ratio, train, options.resolution_scale,
                                     options.huber, np.random.default_rng(seed))
    scale = best_scale(fit.train_pred * per_row(resolution[train], by_res),
                       y_all[train] / drift[train]) if options.scale else 1.0
    table = _make_table(meas, column, device_name, model, options, blocks, fit.values,
                        fit.unknown, counts[train], scale, fit.overhead, by_res)
    pick = lambda mask: [k for k, m in zip(blocks, mask, strict=True) if m]  # noqa: E731
    test, unscored = _scorable(test, nets, set(pick(fit.unknown)))
    summary = _summary(meas, column, table, model, options, train, test, y_all, archs, scale,
                       fit.overhead, pick(fit.inside), pick(fit.unknown), fit.constant,
                       pick(fit.gauge))
    summary["split"] = table.measurement["fit"]["split"] = {
        "how": split, "test_fraction": test_fraction, **({"seed": seed} if split == "random"
                                                          else {})}
    summary["resolution_scale"] = table.measurement["fit"]["resolution_scale"] = res_info
    _drift_summary(summary, table, int(window), choice, archs, meas, y_all, drift, train, test)
    if unscored["n"]:
        summary["n_test"] = table.measurement["fit"]["n_test"] = len(test) + unscored["n"]
        summary["held_out_unscored"] = table.measurement["fit"]["held_out_unscored"] = unscored
        remedy = ("--model features predicts such blocks from their parts" if model == "keys" else
                  "Training rows that hold those blocks would fix them")
        summary.setdefault("warnings", []).append(
            f"{unscored['n']} of {summary['n_test']} held-out rows hold blocks that no training "
            f"row determines (e.g. {unscored['keys'][0]}); the table cannot predict those rows, "
            f"so held_out scores the other {len(test)}. {remedy}")
    return FitResult(table, summary)


def _scorable(test: np.ndarray, nets: list[Counter[str]], unknown: set[str]
              ) -> tuple[np.ndarray, dict[str, Any]]:
    """The held-out rows the table can predict, and a record of those it cannot: rows holding
    a block whose key (keys model) or feature (features model) no training row had. Few rows
    with many distinct blocks leave some; scoring skips them rather than stopping the fit."""
    bad = [int(i) for i in test if unknown & nets[int(i)].keys()]
    keys = sorted({k for i in bad for k in nets[i] if k in unknown})
    return np.setdiff1d(test, np.array(bad, dtype=int)), {"n": len(bad), "keys": keys}


def _drift_summary(summary: dict[str, Any], table: LatencyTable, window: int,
                   choice: dict[str, float] | None, archs: list[Any], meas: Measurements,
                   y: np.ndarray, drift: np.ndarray, train: np.ndarray, test: np.ndarray) -> None:
    """Add the drift diagnostics (and, with a drift window, the drift-corrected held-out
    scores) to ``summary`` and to the table's record of its fit."""
    rows = np.concatenate([train, test]).astype(int)  # the rows the table can predict
    pred = np.full(len(archs), np.nan)
    pred[rows] = table.predict_many([archs[i] for i in rows], classes=meas.classes,
                                    in_channels=meas.in_channels)
    rel = y / pred - 1.0
    info: dict[str, Any] = {"window": window or None,
                            "residual_lag1_autocorr": lag1_autocorr(rel[train])}
    if choice is not None:
        info["window_choice_within_10pct"] = choice
    if window:
        info.update(drift_stats(drift[train]))
        info["residual_lag1_autocorr_corrected"] = lag1_autocorr(
            (y / drift / pred - 1.0)[train])
        summary["held_out_drift_corrected"] = (
            scores(y[test] / drift[test], pred[test]) if len(test) else None)
        table.measurement["fit"]["held_out_drift_corrected"] = summary[
            "held_out_drift_corrected"]
        if info["rows_off_by_10pct"] > DRIFT_OFF_WARN:
            summary.setdefault("warnings", []).append(
                f"{info['rows_off_by_10pct']:.0%} of the training rows were measured while the "
                "device ran more than 10% off its typical speed: no table of the architecture "
                "is within +-10% of those timings (held_out scores them raw; "
                "held_out_drift_corrected with the drift divided out). Timings taken with the "
                "clocks pinned and the device idle avoid this")
    elif (info["residual_lag1_autocorr"] or 0.0) > DRIFT_WARN:
        summary.setdefault("warnings", []).append(
            f"training residuals are correlated in file order (lag-1 autocorrelation "
            f"{info['residual_lag1_autocorr']:.2f}): the device drifted while it was measured; "
            "--drift-window auto models that (see the README)")
    summary["drift"] = info
    table.measurement["fit"]["drift"] = info


@dataclass
class _Fit:
    values: np.ndarray      # per block key (ms, before the scale)
    overhead: float
    train_pred: np.ndarray
    unknown: np.ndarray     # keys with a feature no training network had
    inside: np.ndarray      # keys whose every feature was constant: their time is in the overhead
    gauge: np.ndarray       # keys the data fixes only up to a constant shared with the overhead
    constant: list[str]     # feature names constant over the training networks


def _fit_model(model: str, blocks: list[str], counts: np.ndarray, y: np.ndarray,
               options: FitOptions, prior: np.ndarray | None = None) -> _Fit:
    feats = _feature_rows(blocks, model)
    names = sorted({n for f in feats.values() for n in f})
    col = {n: j for j, n in enumerate(names)}
    kmat = np.zeros((len(blocks), len(names)))
    for i, k in enumerate(blocks):
        for n, v in feats[k].items():
            kmat[i, col[n]] = v
    a = counts @ kmat
    seen = np.any(a != 0, axis=0)
    constant = seen & np.all(a == a[0], axis=0)
    keep = seen & ~constant
    design = np.hstack([a[:, keep], np.ones((len(y), 1))])
    x = solve_relative(design, y, options)
    null = _null_space(design / y[:, None])
    if prior is not None and null.shape[1]:
        x = _resolve_gauge(x, null, prior[keep])
    coef = np.zeros(len(names))
    coef[keep] = x[:-1]
    unknown = np.any((kmat != 0) & ~seen[None, :], axis=1)
    inside = ~unknown & ~np.any((kmat != 0) & keep[None, :], axis=1)
    loose = np.zeros(len(names), dtype=bool)
    if prior is not None:  # reported for the keys model, where a key's value is its own
        loose[np.flatnonzero(keep)] = np.any(np.abs(null[:-1]) > 1e-9, axis=1)
    gauge = np.any((kmat != 0) & loose[None, :], axis=1) & ~unknown
    return _Fit(kmat @ coef, float(x[-1]), design @ x, unknown, inside, gauge,
                [n for n, m in zip(names, constant, strict=True) if m])


def _null_space(a: np.ndarray) -> np.ndarray:
    """Directions (columns, in ``a``'s units) along which ``a @ x`` does not change."""
    rms = np.sqrt(np.mean(a**2, axis=0))
    rms[rms == 0] = 1.0
    # Full V only when there are fewer rows than columns (else U would be rows x rows).
    _, sv, vt = np.linalg.svd(a / rms, full_matrices=a.shape[0] < a.shape[1])
    rank = int(np.sum(sv > sv[0] * 1e-9)) if len(sv) else 0
    return np.asarray(vt[rank:].T / rms[:, None])


def _resolve_gauge(x: np.ndarray, null: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Among the equally good fits ``x + null @ z`` (all >= 0), the one whose per-key values
    are relatively closest to ``prior`` (the features model's): e.g. FBNet's stage-first layers,
    one of which every network has, so a constant can move between them and the overhead."""
    from scipy.optimize import minimize

    p = np.maximum(prior, 1e-3 * max(float(np.median(prior)), 1e-9))
    keys = slice(0, len(x) - 1)

    def loss(z: np.ndarray) -> float:
        return float(np.sum(((x + null @ z)[keys] / p - 1.0) ** 2))

    cons = {"type": "ineq", "fun": lambda z: x + null @ z, "jac": lambda z: null}
    res = minimize(loss, np.zeros(null.shape[1]), method="SLSQP", constraints=[cons])
    out = x + null @ res.x if res.success else x
    return np.asarray(np.maximum(out, 0.0))


def _table_blocks(meas: Measurements, archs: Sequence[Any], nets: list[Counter[str]],
                  model: str) -> list[str]:
    """The keys the table will hold: every measured key, plus (features model) every key the
    space produces at the measured resolutions and widths."""
    keys = {k for net in nets for k in net}
    if model == "features":
        points = sorted({(a.resolution, a.width) for a in archs})
        for w in sorted({p[1] for p in points}):
            res = [p[0] for p in points if p[1] == w]
            keys |= {b.key for b in enumerate_blocks(meas.space, resolutions=res, widths=[w],
                                                     classes=meas.classes,
                                                     in_channels=meas.in_channels)}
    return sorted(keys)


def _feature_rows(keys: list[str], model: str) -> dict[str, dict[str, float]]:
    if model == "keys":
        return {k: {k: 1.0} for k in keys}
    return {k: block_features(Block.parse(k)) for k in keys}


def _make_table(meas: Measurements, column: str, device_name: str | None, model: str,
                options: FitOptions, keys: list[str], values: np.ndarray, unknown: np.ndarray,
                train_counts: np.ndarray, scale: float, overhead: float,
                by_resolution: dict[int, float]) -> LatencyTable:
    device = help_device(column, meas.fmt) if meas.fmt != "csv" else {
        "name": column, "kind": "unknown", "batch": 1, "dtype": "float32", "column": column}
    if device_name:
        device["name"] = device_name
    nets_with = (train_counts > 0).sum(axis=0)
    table = LatencyTable(
        device=device,
        measurement={"backend": device.get("runtime", "unknown"), "device_type": device["kind"],
                     "method": "fitted", "format": meas.fmt, "file": meas.path.split("/")[-1],
                     "column": column, "model": model, "loss": options.loss},
        source=HELP_SOURCE if meas.fmt != "csv" else f"whole-network timings in {meas.path}",
        citation=HELP_CITATION if meas.fmt != "csv" else None,
        notes=("Fitted with `nas lut fit` from whole-network latencies: entries are per-block "
               "shares (ms) solved so that overhead + their sum explains the measured networks; "
               "'n' counts the training networks that contain the block. The calibration holds "
               "the per-network overhead and a multiplicative correction."),
    )
    for k, v, bad, n in zip(keys, values, unknown, nets_with, strict=True):
        if not bad:
            table.add_entry(k, Entry(median=float(max(v, 0.0)), n=max(int(n), 1)))
    coef = np.array([scale if f.startswith("ms:") else scale * overhead if f == "const" else 0.0
                     for f in FEATURES])
    groups = {"all": coef, **{str(r): coef * s for r, s in by_resolution.items()}}
    table.set_calibration(Calibration(groups, (), {
        "method": "nas lut fit: per-block NNLS shares + per-network overhead, times a "
                  "multiplicative correction (and one per resolution where the fit kept them)",
        "overhead_ms": overhead, "scale": scale}))
    for (r, w) in sorted({(a.resolution, a.width) for a in meas.archs}):
        table.add_config(meas.space.name, r, in_channels=meas.in_channels, classes=meas.classes,
                         widths=[w])
    return table


def _summary(meas: Measurements, column: str, table: LatencyTable, model: str,
             options: FitOptions, train: np.ndarray, test: np.ndarray, y: np.ndarray,
             archs: list[Any], scale: float, overhead: float, inside: list[str],
             unknown: list[str], constant: list[str], gauge: list[str]) -> dict[str, Any]:
    pred_train = table.predict_many([archs[i] for i in train], classes=meas.classes,
                                    in_channels=meas.in_channels)
    out: dict[str, Any] = {
        "column": column, "device": table.device.get("name"), "space": meas.space.name,
        "model": model, "loss": options.loss, "entries": len(table),
        "n_train": len(train), "n_test": len(test),
        "overhead_ms": overhead, "scale": scale,
        "train": scores(y[train], pred_train),
        "held_out": None, "baseline_held_out": None,
        "in_overhead": inside, "tied_to_overhead": gauge, "unpredictable_keys": unknown,
        "constant_features": constant,
    }
    if len(test):
        out["held_out"] = scores(y[test], table.predict_many([archs[i] for i in test],
                                                                 classes=meas.classes,
                                                                 in_channels=meas.in_channels))
        out["baseline_held_out"] = scores(y[test], layer_op_baseline(archs, y, train, test))
    table.measurement["fit"] = {k: out[k] for k in ("n_train", "n_test", "held_out",
                                                      "baseline_held_out", "overhead_ms", "scale",
                                                      "in_overhead", "tied_to_overhead")}
    return out
