"""The run's figures, built as matplotlib :class:`~matplotlib.figure.Figure` objects (no pyplot
state), so that the report saves them and tests read their artists instead of parsing PNGs.

- :func:`plot_pairs`: which pairs get a ``pareto_<x>.png``: accuracy (or the first objective)
  against each latency objective or constrained latency, against MACs always, and against params
  and peak memory when they are objectives or constrained.
- :func:`pair_view` gathers what one such plot shows, in display units (ms, M, MiB);
  :func:`front_figure` draws it: the 2-D front of the feasible trials computed in the plotted
  pair (a step line through every point of it), the Pareto set over all objectives as open red
  diamonds (it may look dominated in 2-D: it wins on an objective not drawn), the other feasible
  trials in blue, pruned and infeasible trials in grey, each hard constraint on a plotted metric
  as a dashed line with its bound.
- :func:`hypervolume_curve` and :func:`hypervolume_figure`: the feasible front's hypervolume after
  each trial, as a fraction in [0, 1].

Drawing is one ``plot`` call per group of trials (no per-point artists), so a run of 10^5 trials
plots in about a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.search._metrics import ACCURACY, LATENCY_PREFIX, Display, display
from nas.search._pareto import bounds, hypervolume_history, non_dominated_2d, to_minimization
from nas.search._results import Run, TrialRecord

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Artist ids (matplotlib ``gid``), so tests and readers of a figure find each group by name.
FEASIBLE, FRONT_2D, PARETO, PRUNED, INFEASIBLE, INFEASIBLE_UNSCORED, CONSTRAINT = (
    "feasible", "front_2d", "pareto", "pruned", "infeasible", "infeasible_unscored", "constraint")
GREY = "0.6"
# Height (axes fraction) of the strip of infeasible trials that were never scored: they have an x
# value but no y, so they cannot sit at a y of their own.
_RUG_Y = 0.03


def plot_pairs(run: Run) -> list[tuple[str, str]]:
    """(y, x) metric pairs to plot: y is accuracy, or the first objective without it."""
    names = run.config.objective_names
    y = ACCURACY if ACCURACY in names else names[0]
    constrained = [c.metric for c in run.constraints]
    latency = [m for m in (*names, *constrained) if m.startswith(LATENCY_PREFIX)]
    others = [m for m in ("params", "peak_memory") if m in names or m in constrained]
    return [(y, x) for x in dict.fromkeys([*latency, "macs", *others]) if x != y]


@dataclass(frozen=True)
class PairView:
    """What one pair plot shows. Points are (N, 2) arrays of (x, y) in display units.

    ``pareto`` is the Pareto set over all objectives, ``None`` when x and y are all the
    objectives (it is then the 2-D front itself). ``infeasible`` rows have y NaN when the trial
    was never scored (it broke a constraint before training). ``constraints``: (axis ``"x"`` or
    ``"y"``, bound in display units, text such as ``latency ≤ 12 ms``).
    """

    x: Display
    y: Display
    maximize: tuple[bool, bool]
    feasible: np.ndarray
    pareto: np.ndarray | None
    n_objectives: int
    infeasible: np.ndarray
    pruned: np.ndarray
    constraints: tuple[tuple[str, float, str], ...]
    title: str


def _points(trials: Sequence[TrialRecord], x: str, y: str, scale: tuple[float, float], *,
            need_y: bool = True) -> np.ndarray:
    arr = np.array([[t.values.get(x, np.nan), t.values.get(y, np.nan)] for t in trials],
                   dtype=float).reshape(-1, 2) / np.array(scale)
    keep = ~np.isnan(arr[:, 0]) & (~np.isnan(arr[:, 1]) if need_y else True)
    return arr[keep]


def pair_view(run: Run, trials: Sequence[TrialRecord], front: Sequence[TrialRecord], y: str, x: str
              ) -> PairView:
    """The :class:`PairView` of metric ``y`` against ``x`` for a snapshot of trials and the
    run's Pareto front (``run.pareto(trials)``). Failed and running trials have no scores and are
    left out."""
    evaluator = run.config.evaluator
    dx, dy = display(x, evaluator), display(y, evaluator)
    scale = (dx.scale, dy.scale)
    names = run.config.objective_names
    feasible = run.feasible(trials)
    infeasible = [t for t in trials if t.state == "COMPLETE" and t.feasible is False]
    pruned = [t for t in trials if t.state == "PRUNED"]
    constraints = tuple((axis, c.bound / d.scale, d.bound_text(c.op, c.bound))
                        for c in run.constraints
                        for axis, metric, d in (("x", x, dx), ("y", y, dy)) if c.metric == metric)
    return PairView(
        x=dx, y=dy, maximize=(x == ACCURACY, y == ACCURACY),
        feasible=_points(feasible, x, y, scale),
        pareto=None if set(names) <= {x, y} else _points(front, x, y, scale),
        n_objectives=len(names),
        infeasible=_points(infeasible, x, y, scale, need_y=False),
        pruned=_points(pruned, x, y, scale),
        constraints=constraints,
        title=f"{run.config.name}: {dy.short} vs {dx.short}")


def front_2d(points: np.ndarray, maximize: tuple[bool, bool]) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the non-dominated rows of (N, 2) ``points``, those rows from the best x to the
    worst: the order a step line through them takes)."""
    losses = to_minimization(points, ["maximize" if m else "minimize" for m in maximize])
    mask = non_dominated_2d(losses)
    return mask, points[mask][np.argsort(losses[mask, 0], kind="stable")]


def front_figure(view: PairView) -> Figure:
    """Draw a :class:`PairView`; each group of trials is one ``Line2D`` whose ``gid`` names it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.6, 4.6), layout="constrained")
    ax = fig.add_subplot()
    on_front, front = front_2d(view.feasible, view.maximize)
    others = view.feasible[~on_front]
    scored = view.infeasible[~np.isnan(view.infeasible[:, 1])]
    unscored = view.infeasible[np.isnan(view.infeasible[:, 1])]
    dots: dict[str, Any] = {"ls": "none", "rasterized": True}
    if len(view.pruned):
        ax.plot(view.pruned[:, 0], view.pruned[:, 1], marker="x", ms=5, color=GREY, zorder=1,
                gid=PRUNED, label=f"pruned, score when stopped ({len(view.pruned)})", **dots)
    if len(scored):
        ax.plot(scored[:, 0], scored[:, 1], marker="s", ms=4, mfc="none", color=GREY, zorder=1,
                gid=INFEASIBLE, label=f"infeasible: breaks a constraint ({len(scored)})", **dots)
    if len(unscored):
        # x in data units, y in axes units: a strip along the bottom of the plot.
        ax.plot(unscored[:, 0], np.full(len(unscored), _RUG_Y), transform=ax.get_xaxis_transform(),
                marker="|", ms=9, color=GREY, zorder=1, gid=INFEASIBLE_UNSCORED,
                label=f"infeasible, not scored: {view.x.short} only ({len(unscored)})", **dots)
        ax.margins(y=0.1)  # room below the lowest scored point, so the strip stays apart
    if len(others):
        ax.plot(others[:, 0], others[:, 1], marker="o", ms=4, color="tab:blue", alpha=0.45,
                zorder=2, gid=FEASIBLE, label=f"feasible ({len(others)})", **dots)
    if len(front):
        name = "Pareto front" if view.pareto is None else "front in these two metrics"
        ax.plot(front[:, 0], front[:, 1], drawstyle="steps-post", marker="o", ms=5, lw=1.2,
                color="navy", zorder=3, gid=FRONT_2D, label=f"{name} ({len(front)})")
    if view.pareto is not None and len(view.pareto):
        ax.plot(view.pareto[:, 0], view.pareto[:, 1], marker="D", ms=8, mfc="none", mew=1.5,
                color="tab:red", zorder=4, gid=PARETO,
                label=f"Pareto set over all {view.n_objectives} objectives ({len(view.pareto)})",
                **dots)
    for axis, value, text in view.constraints:
        # Labelled on the line as well as in the legend: two dashed lines look alike there.
        if axis == "x":
            ax.axvline(value, ls="--", lw=1.2, color="0.15", zorder=1.5, gid=CONSTRAINT, label=text)
            ax.annotate(text, (value, 0.98), xycoords=ax.get_xaxis_transform(), xytext=(-3, 0),
                        textcoords="offset points", rotation=90, ha="right", va="top",
                        fontsize=7, color="0.15")
        else:
            ax.axhline(value, ls="--", lw=1.2, color="0.15", zorder=1.5, gid=CONSTRAINT, label=text)
            ax.annotate(text, (0.01, value), xycoords=ax.get_yaxis_transform(), xytext=(0, 3),
                        textcoords="offset points", ha="left", va="bottom", fontsize=7,
                        color="0.15")
    ax.set_xlabel(view.x.label)
    ax.set_ylabel(view.y.label)
    # Plain tick values: an offset such as "x1e7" or "+0.95" in a corner is easy to miss.
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.set_title(view.title, fontsize=11)
    ax.grid(alpha=0.3)
    if ax.lines:
        # Outside the axes: "best" placement scans every point, too slow for 10^5 trials.
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if not len(view.feasible):
        ax.text(0.5, 0.5, "no feasible scored trial", ha="center", transform=ax.transAxes,
                bbox={"facecolor": "white", "edgecolor": "0.6"}, zorder=5)
    return fig


def hypervolume_curve(run: Run, trials: Sequence[TrialRecord]) -> tuple[list[int], np.ndarray]:
    """Trial numbers, and after each the hypervolume of the feasible trials so far as a fraction
    in [0, 1]: every objective is scaled between the best and worst feasible values of the whole
    snapshot, so the bounds hold every point the curve ever includes."""
    names, dirs = run.config.objective_names, run.config.directions
    feasible_numbers = {t.number for t in run.feasible(trials)}
    numbers = [t.number for t in trials]
    rows = np.array([[t.values[n] for n in names] for t in trials if t.number in feasible_numbers])
    if len(rows) == 0:
        return numbers, np.zeros(len(numbers))
    losses = to_minimization(rows, dirs)
    ideal, nadir = bounds(losses)
    hv_feasible = hypervolume_history(losses, ideal, nadir)
    is_feasible = np.array([n in feasible_numbers for n in numbers])
    # Before the first feasible trial the front is empty (0); after, each trial carries the value
    # of the latest feasible trial up to it.
    k = np.cumsum(is_feasible) - 1
    return numbers, np.where(k >= 0, hv_feasible[np.maximum(k, 0)], 0.0)


def hypervolume_figure(name: str, numbers: Sequence[int], hv: np.ndarray, n_objectives: int
                       ) -> Figure:
    """The hypervolume curve on a fixed [0, 1] axis."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(numbers, hv, drawstyle="steps-post", color="navy")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (fraction, 0 to 1)")
    ax.set_title(f"{name}: hypervolume of the feasible front", fontsize=11)
    ax.text(0.99, 0.03, f"{n_objectives} objectives, each scaled between the best and worst "
            "feasible value;\n1 = one trial best in all of them, reference point 10% past the worst",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.35")
    ax.grid(alpha=0.3)
    return fig
