"""Scores of latency predictions against measurements, and the plain baseline to beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import nnls
from scipy.stats import kendalltau

from nas.arch import Arch


def within_10pct(measured: np.ndarray, predicted: np.ndarray) -> float:
    """The share of predictions within +-10% of their measurement (``|p - y| / y <= 0.1``)."""
    y, p = np.asarray(measured, float), np.asarray(predicted, float)
    return float(np.mean(np.abs(p - y) / y <= 0.1))


def scores(measured: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """``n``, ``mape`` (%), ``within_10pct`` (fraction), ``kendall_tau``, ``rmse_ms``."""
    y, p = np.asarray(measured, float), np.asarray(predicted, float)
    if len(y) == 0:
        return {"n": 0, "mape": None, "within_10pct": None, "kendall_tau": None, "rmse_ms": None}
    rel = np.abs(p - y) / y
    tau = float(kendalltau(y, p).statistic) if len(y) > 1 else float("nan")
    return {"n": len(y), "mape": float(100 * rel.mean()),
            "within_10pct": within_10pct(y, p),
            "kendall_tau": tau if np.isfinite(tau) else None,
            "rmse_ms": float(np.sqrt(np.mean((p - y) ** 2)))}


def layer_op_baseline(archs: Sequence[Arch], y: np.ndarray, train: np.ndarray,
                      test: np.ndarray) -> np.ndarray:
    """Predictions on ``test`` of a plain NNLS with one cost per (layer position, op) + constant.

    This is the reference the issue quotes: no resolution, no shapes, squared error.
    """
    cols: dict[tuple[int, int, str], int] = {}
    rows = []
    for a in archs:
        row = []
        for i, stage in enumerate(a.stages):
            for j, layer in enumerate(stage.layers):
                row.append(cols.setdefault((i, j, str(layer)), len(cols)))
        rows.append(row)
    x = np.zeros((len(archs), len(cols) + 1))
    x[:, -1] = 1.0
    for n, row in enumerate(rows):
        x[n, row] = 1.0
    coef, _ = nnls(x[train], y[train], maxiter=50 * x.shape[1])
    return np.asarray(x[test] @ coef)
