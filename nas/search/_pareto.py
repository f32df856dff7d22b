"""Pareto fronts and hypervolume over objective vectors (any number of objectives).

Everything is converted to minimization first (accuracy -> -accuracy). Hypervolume is taken in a
normalized space: each objective is scaled to [0, 1] between given bounds (by default the best and
worst values observed) and the reference point is 1.1 in every coordinate, so objectives measured
in milliseconds, MACs and fractions weigh alike. The reference sits past the worst value so that the
extreme points of a front still add volume; :func:`hypervolume` is therefore at most 1.1^M, and
:func:`hypervolume_history` divides by that box to give a fraction in [0, 1] (1: one point that is
best in every objective at once).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REFERENCE = 1.1


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """(N, M) objective values -> (N, M) losses (maximized columns negated)."""
    values = np.asarray(values, dtype=float).reshape(-1, len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return values * signs


def non_dominated(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``losses`` (minimized) that no other row dominates.

    Equal rows do not dominate each other, so duplicates are all kept.
    """
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    # In lexicographic order a point can only be dominated by one before it, and if a dominated
    # point dominates it, so does a point of the front (transitivity): each point is checked
    # against the front found so far, not against every other point.
    order = np.lexsort(losses.T[::-1])
    front = np.empty((0, losses.shape[1]))
    for i in order:
        row = losses[i]
        if len(front) and np.any(np.all(front <= row, axis=1) & np.any(front < row, axis=1)):
            continue
        keep[i] = True
        front = np.vstack([front, row])
    return keep


def non_dominated_2d(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of (N, 2) ``losses``, in O(N log N) with no Python
    loop (a plot of 10^5 trials draws its 2-D front this way).

    Of several equal rows only one is kept (they are one point on a plot).
    """
    losses = np.asarray(losses, dtype=float).reshape(-1, 2)
    keep = np.zeros(len(losses), dtype=bool)
    if len(losses) == 0:
        return keep
    order = np.lexsort((losses[:, 1], losses[:, 0]))  # by x, then y: dominators come first
    y = losses[order, 1]
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(y)[:-1]])
    # Sorted this way a row is dominated exactly when an earlier row has y <= its y.
    keep[order] = y < best_before
    return keep


def bounds(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ideal, nadir) of a set of loss vectors: per-column min and max."""
    losses = np.asarray(losses, dtype=float)
    return losses.min(axis=0), losses.max(axis=0)


def normalize(losses: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    return (np.asarray(losses, dtype=float) - ideal) / span


def hypervolume(losses: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> float:
    """Hypervolume of ``losses`` normalized by (ideal, nadir), reference point 1.1 everywhere.

    Points beyond the reference point in any coordinate add nothing. Empty input gives 0.
    """
    from optuna._hypervolume import compute_hypervolume

    pts = normalize(losses, ideal, nadir)
    if pts.size == 0:
        return 0.0
    pts = np.unique(pts[np.all(pts < REFERENCE, axis=1)], axis=0)
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated(pts)]
    ref = np.full(pts.shape[1], REFERENCE)
    return float(compute_hypervolume(pts, ref, assume_pareto=True))


def hypervolume_history(losses: np.ndarray, ideal: np.ndarray, nadir: np.ndarray, *,
                         points: int = 200) -> np.ndarray:
    """Hypervolume of the first k rows, for k = 1..N (rows in trial order), as a fraction of the
    box between the ideal point and the reference point: in [0, 1] whenever (ideal, nadir) bound
    every row, as :func:`bounds` of the same rows does.

    Computed exactly at up to ``points`` evenly spaced k (and wherever N is smaller, at every k);
    between two of them the value of the earlier one is carried (a step curve that is never above
    the true one), so a run of 10^5 trials costs ``points`` hypervolumes, not N.
    """
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    out = np.zeros(n)
    if n == 0:
        return out
    checkpoints = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))
    box = REFERENCE ** losses.shape[1]
    front = np.zeros((0, losses.shape[1]))
    start = 0
    best = 0.0
    for k in checkpoints:
        front = np.unique(np.vstack([front, losses[start:k + 1]]), axis=0)  # repeated archs: one point
        front = front[non_dominated(front)]
        # Adding points never shrinks the true hypervolume, but summing a new front's slabs may land
        # a few ulps below the last one (or above the box, when a point sits at the ideal).
        best = max(best, min(hypervolume(front, ideal, nadir) / box, 1.0))
        out[k:] = best
        start = k + 1
    return out
