"""Per-resolution scales: what a fitted model's features miss about how speed depends on input size.

On a GPU the time of a convolution is not proportional to its work at every spatial size: the
kernels tile the feature map, and the algorithm the library picks changes with the size. HELP's
RTX 2080 Ti at batch 32 runs 14% slower than the ``features`` model predicts at 128 px, 7% faster
at 168 px and 4% slower at 224 px, a wave that no smooth feature of the blocks follows.

``nas lut fit`` can therefore multiply each resolution's prediction by a scale: the Huber location
(in log space, with the fit's own threshold) of the training rows' ``measured / predicted`` at
that resolution, so that a tail of slow runs does not move it. Resolutions with fewer than
:data:`MIN_ROWS` training rows keep the scale 1. ``auto`` keeps the scales only when 5-fold
cross-validation over the training rows says they help (the share within +-10% up by at least
:data:`MIN_GAIN`; the scales are estimated on four folds and scored on the fifth, against the
block fit on all training rows); held-out rows are never looked at. The scales become the
table's calibration groups, one per resolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas._errors import NasError
from nas.lutkit._metrics import within_10pct

MODES = ("auto", "on", "off")
MIN_ROWS = 20   # training rows a resolution needs for its own scale
MIN_GAIN = 0.01  # cross-validated gain in the share within +-10% that auto asks for
FOLDS = 5


def huber_location(z: np.ndarray, delta: float, rounds: int = 20) -> float:
    """The Huber M-estimate of the location of ``z`` (iteratively reweighted mean)."""
    mu = float(np.median(z))
    for _ in range(rounds):
        w = np.minimum(1.0, delta / np.maximum(np.abs(z - mu), 1e-12))
        mu = float(np.sum(w * z) / np.sum(w))
    return mu


def resolution_scales(resolution: np.ndarray, ratio: np.ndarray, rows: np.ndarray,
                      delta: float) -> dict[int, float]:
    """Per resolution among ``rows`` (with enough of them), the scale for ``ratio``."""
    out: dict[int, float] = {}
    for r in np.unique(resolution[rows]):
        at = rows[resolution[rows] == r]
        if len(at) >= MIN_ROWS:
            out[int(r)] = float(np.exp(huber_location(np.log(ratio[at]), delta)))
    return out


def per_row(resolution: np.ndarray, scales: dict[int, float]) -> np.ndarray:
    """The scale of each row (1 where its resolution has none)."""
    return np.array([scales.get(int(r), 1.0) for r in resolution])


def choose_scales(resolution: np.ndarray, ratio: np.ndarray, train: np.ndarray, mode: str,
                  delta: float, rng: np.random.Generator) -> tuple[dict[int, float],
                                                                   dict[str, Any]]:
    """The scales to use (empty: none), and what the choice saw.

    Args:
        resolution: each row's input resolution.
        ratio: measured / predicted per row (only ``train`` rows are read).
        train: the training rows.
        mode: ``on``, ``off`` or ``auto`` (cross-validated on the training rows).
        delta: the Huber threshold (the fit's relative residual where its loss turns linear).
        rng: assigns the cross-validation folds.
    """
    if mode not in MODES:
        raise NasError(f"--resolution-scale {mode!r} is not one of {', '.join(MODES)}")
    info: dict[str, Any] = {"mode": mode, "used": False}
    if mode == "off" or len(np.unique(resolution[train])) < 2:
        return {}, info
    if mode == "auto":
        fold = rng.permutation(len(train)) % FOLDS
        scaled = np.ones(len(train))
        for k in range(FOLDS):
            scales = resolution_scales(resolution, ratio, train[fold != k], delta)
            scaled[fold == k] = per_row(resolution[train[fold == k]], scales)
        r = ratio[train]  # measured / predicted: scored against predictions of 1 (or the scale)
        off, on = within_10pct(r, np.ones_like(r)), within_10pct(r, scaled)
        info["cv_within_10pct"] = {"off": off, "on": on}
        if on < off + MIN_GAIN:
            return {}, info
    scales = resolution_scales(resolution, ratio, train, delta)
    info.update(used=bool(scales), scales={str(k): v for k, v in sorted(scales.items())})
    return scales, info
