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

How wide the window should be depends on the device. HELP's phones do not only wander slowly:
they switch between a typical state and one 15-25% slower, and stay in the slow one for a few
rows (Pixel 2: runs of 6 rows on average, about 30% of its rows). A window of 10 rows averages
those runs away; one of 2 or 3 follows them. ``--drift-window auto`` picks the window from the
training rows alone (:func:`choose_window`): each training row's drift is estimated without the
row, so how well the estimate explains the training rows is a leave-one-out score, and held-out
rows are never looked at.
"""

from __future__ import annotations

import numpy as np

from nas._errors import NasError
from nas.lutkit._metrics import within_10pct

AUTO = "auto"
WINDOWS = (1, 2, 3, 5, 10, 20)  # the candidates --drift-window auto chooses among


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


def choose_window(ratio: np.ndarray, known: np.ndarray,
                  candidates: tuple[int, ...] = WINDOWS) -> tuple[int, dict[int, float]]:
    """The window whose drift estimate best explains the ``known`` rows' ratios.

    Each known row's drift is estimated from the other known rows only, so the share of known
    rows within +-10% once it is divided out is a leave-one-out score; ties go to the smaller
    median absolute log error.

    Args:
        ratio: measured / predicted, one per row, in file order.
        known: the rows that may be used (the training rows).
        candidates: the windows to try.

    Returns:
        The chosen window, and each candidate's leave-one-out share within +-10%.
    """
    if not candidates or min(candidates) < 1:
        raise NasError(f"drift window candidates must be >= 1 rows, got {candidates}")
    ratio = np.asarray(ratio, dtype=float)
    within: dict[int, float] = {}
    error: dict[int, float] = {}
    for k in candidates:
        rel = ratio[known] / session_drift(ratio, known, k)[known]
        within[k] = within_10pct(rel, np.ones_like(rel))
        error[k] = float(np.median(np.abs(np.log(rel))))
    best = max(candidates, key=lambda k: (within[k], -error[k]))
    return best, within


def resolve_window(ratio: np.ndarray, known: np.ndarray,
                   window: int | str) -> tuple[int, dict[str, float] | None]:
    """``window`` in rows. For ``"auto"``, :func:`choose_window`'s pick and each candidate's
    leave-one-out share within +-10% (keyed by the window as text, as summaries print it);
    otherwise the window itself and ``None``."""
    if window != AUTO:
        return int(window), None
    best, within = choose_window(ratio, known)
    return best, {str(k): v for k, v in within.items()}


def drift_stats(drift: np.ndarray) -> dict[str, object]:
    """How far the device drifted: the factor's 5th/50th/95th percentiles, and the share of rows
    measured while it was more than 10% off its typical speed. Against those rows' raw timings
    no table of the architecture is within +-10%, so one minus that share caps a raw score."""
    drift = np.asarray(drift, dtype=float)
    return {"factor_p5_p50_p95": [float(v) for v in np.percentile(drift, [5, 50, 95])],
            "rows_off_by_10pct": float(np.mean(np.abs(drift - 1.0) > 0.1))}


def parse_window(value: int | str) -> int | str:
    """``value`` as a window: a whole number of rows >= 0 (0: off) or ``"auto"``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value == AUTO or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise NasError(f"--drift-window must be a whole number of rows >= 0 (0: off) or '{AUTO}', "
                   f"got {value!r}")


def lag1_autocorr(residual: np.ndarray) -> float | None:
    """Lag-1 autocorrelation of residuals in file order: near 0 for independent noise, near 1
    when the device drifted while it was measured."""
    r = np.asarray(residual, dtype=float)
    if len(r) < 3 or float(np.std(r)) == 0.0:
        return None
    return float(np.corrcoef(r[:-1], r[1:])[0, 1])
