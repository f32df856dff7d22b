"""Session drift: a device whose speed wanders while a measurement file is recorded.

Phones throttle and warm up, and background load comes and goes; a file of whole-network
timings recorded in one long session then carries a slow factor that follows the measurement
order (file order), not the architecture. No table, however exact per block, predicts it, so it
caps any held-out score computed against the raw timings (HELP's Essential Ph-1 rows drift by
about -15% to +17%, with a lag-1 autocorrelation of the residuals near 0.9).

``nas lut fit --drift-window K`` estimates that factor per row as the median ratio
``measured / predicted`` over the *training* rows within ``K`` rows of it in file order (the row
itself excluded, so a held-out row never sees its own timing), divides it out of the training
timings, refits, and repeats. The table then holds the device's steady-state per-block latencies.
The summary scores held-out rows both against the raw timings and against the timings with the
estimated drift divided out (what the device would have measured in its typical state).
"""

from __future__ import annotations

import numpy as np

from nas._errors import NasError


def session_drift(ratio: np.ndarray, known: np.ndarray, window: int) -> np.ndarray:
    """Per row, the median of ``ratio`` over ``known`` rows within ``window`` rows (not itself).

    Args:
        ratio: measured / predicted, one per row, in file (measurement) order.
        known: boolean mask of the rows whose ratio may be used (the training rows).
        window: rows on each side that count as neighbours.

    Returns:
        The drift factor per row, normalized so that its median over the known rows is 1.
        Rows with no known neighbour get 1.
    """
    if window < 1:
        raise NasError(f"--drift-window must be >= 1 rows, got {window}")
    ratio = np.asarray(ratio, dtype=float)
    idx = np.flatnonzero(known)
    lo = np.searchsorted(idx, np.arange(len(ratio)) - window)
    hi = np.searchsorted(idx, np.arange(len(ratio)) + window, side="right")
    out = np.ones(len(ratio))
    for i in range(len(ratio)):
        near = idx[lo[i]:hi[i]]
        near = near[near != i]
        if len(near):
            out[i] = float(np.median(ratio[near]))
    if len(idx):
        out /= float(np.median(out[idx]))
    return out


def lag1_autocorr(residual: np.ndarray) -> float | None:
    """Lag-1 autocorrelation of residuals in file order: near 0 for independent noise, near 1
    when the device drifted while it was measured."""
    r = np.asarray(residual, dtype=float)
    if len(r) < 3 or float(np.std(r)) == 0.0:
        return None
    return float(np.corrcoef(r[:-1], r[1:])[0, 1])
