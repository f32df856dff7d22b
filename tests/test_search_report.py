"""The run report's plots, read from the figures the report saves (their artists, not PNG pixels):
one plot per pair that matters, fronts computed in the 2-D view they draw, constraints drawn,
infeasible and pruned trials in grey, units on the axes, the proxy's name on a zero-cost score
axis, and a hypervolume that stays in [0, 1]."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from _search_env import LAT, config, hash_score
from hypothesis import example, given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from nas.evaluators import COMPLETE, STOPPED, EvalResult, RungReporter
from nas.search import Run, pareto_table, run_search
from nas.search._pareto import bounds, hypervolume_history, non_dominated_2d, to_minimization
from nas.search._plots import (
    CONSTRAINT,
    FEASIBLE,
    FRONT_2D,
    GREY,
    INFEASIBLE,
    INFEASIBLE_UNSCORED,
    PARETO,
    PRUNED,
    front_figure,
    hypervolume_curve,
    pair_view,
    plot_pairs,
)


def _median_latency(env: Path) -> float:
    from nas.search import check_config

    problem = check_config(config(env))
    rng = np.random.default_rng(1)
    lat = sorted(problem.tables[LAT.split(":", 1)[1]].predict(
        problem.space.sample(rng), classes=10, in_channels=1).latency_ms for _ in range(40))
    return lat[len(lat) // 2]


def stops_some(arch: str, reporter: RungReporter | None = None) -> EvalResult:
    """The hash score, with about a third of the archs stopped early (as halving stops them)."""
    result = hash_score(arch)
    assert result.accuracy is not None
    return EvalResult(STOPPED if int(result.accuracy * 1e6) % 3 == 0 else COMPLETE, result.accuracy, {})


@pytest.fixture(scope="module")
def scored_run(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Accuracy, latency, params and peak memory; a latency bound that rules out about half the
    space (those candidates are never scored); some trials pruned."""
    cfg = config(env, objectives=["accuracy", LAT, "params", "peak_memory"], n_trials=40,
                 constraints=[f"{LAT} <= {_median_latency(env)!r}"])
    return run_search(cfg, tmp_path_factory.mktemp("runs") / "scored", evaluator=stops_some,
                      progress=False)


@pytest.fixture(scope="module")
def table_run(env: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """No accuracy: latency against MACs, a MACs bound that infeasible trials have values for."""
    cfg = config(env, objectives=[LAT, "macs"], evaluator=None, n_trials=40,
                 sampler={"name": "random", "seed": 3})
    probe = run_search(cfg, tmp_path_factory.mktemp("runs") / "probe", progress=False, report=False)
    macs = sorted(t.values["macs"] for t in probe.trials())
    return run_search(cfg.replace(constraints=(f"macs <= {macs[len(macs) // 2]!r}",)),
                      tmp_path_factory.mktemp("runs") / "table", progress=False)


def _axes(run: Run, x: str) -> Axes:
    trials = run.trials()
    (y,) = [y for y, xx in plot_pairs(run) if xx == x]
    fig = front_figure(pair_view(run, trials, run.pareto(trials), y, x))
    fig.savefig(io.BytesIO(), format="png")  # lays out the ticks and their offset text
    (ax,) = fig.axes
    return ax


def _line(ax: Axes, gid: str) -> Line2D:
    (line,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return line


def _dominates(a: np.ndarray, b: np.ndarray, maximize: tuple[bool, bool]) -> bool:
    sa = np.where(maximize, -a, a)
    sb = np.where(maximize, -b, b)
    return bool(np.all(sa <= sb) and np.any(sa < sb))


def test_a_plot_for_each_latency_and_cost_objective_and_for_macs(scored_run: Run, table_run: Run
                                                                 ) -> None:
    assert plot_pairs(scored_run) == [("accuracy", x) for x in (LAT, "macs", "params", "peak_memory")]
    for x in ("latency_" + LAT.split(":", 1)[1], "macs", "params", "peak_memory"):
        assert (scored_run.run_dir / f"pareto_{x}.png").stat().st_size > 0, x
    assert plot_pairs(table_run) == [(LAT, "macs")]  # no accuracy: the first objective is y
    html = (scored_run.run_dir / "report.html").read_text()
    assert html.count("<img src='pareto_") == 4


@pytest.mark.parametrize("x", [LAT, "macs", "params", "peak_memory"])
def test_the_front_drawn_is_the_2d_front_of_the_feasible_trials(scored_run: Run, x: str) -> None:
    ax = _axes(scored_run, x)
    front = _line(ax, FRONT_2D).get_xydata()
    feasible = np.vstack([front, _line(ax, FEASIBLE).get_xydata()])
    maximize = (False, True)  # a cost on x, accuracy on y
    assert len(feasible) == len(scored_run.feasible())
    for p in front:
        assert not any(_dominates(q, p, maximize) for q in feasible), p
    on_front = {tuple(p) for p in front}
    for p in feasible:
        if not any(_dominates(q, p, maximize) for q in feasible):
            assert tuple(p) in on_front, p
    # The step line goes from the cheapest point to the most accurate.
    assert np.all(np.diff(front[:, 0]) > 0) and np.all(np.diff(front[:, 1]) > 0)
    assert _line(ax, FRONT_2D).get_drawstyle() == "steps-post"


def test_the_all_objective_pareto_set_is_marked_apart(scored_run: Run) -> None:
    ax = _axes(scored_run, "macs")
    pareto = _line(ax, PARETO)
    expected = {(t.values["macs"] / 1e6, t.values["accuracy"]) for t in scored_run.pareto()}
    assert {tuple(p) for p in pareto.get_xydata()} == expected
    assert pareto.get_marker() != _line(ax, FRONT_2D).get_marker()
    assert "all 4 objectives" in str(pareto.get_label())
    assert str(pareto.get_label()) in [t.get_text() for t in ax.get_legend().get_texts()]


def test_axes_carry_units_and_scaled_values(scored_run: Run) -> None:
    trials = scored_run.trials()
    for x, label, scale in (("macs", "MACs (M)", 1e6), ("params", "params (M)", 1e6),
                            ("peak_memory", "peak activation memory (MiB)", 2**20),
                            (LAT, f"predicted latency, {LAT.split(':', 1)[1]} (ms)", 1.0)):
        ax = _axes(scored_run, x)
        assert ax.get_xlabel() == label and ax.get_ylabel() == "accuracy (top-1, held-out split)"
        assert ax.xaxis.get_offset_text().get_text() == "", x  # no "1e7" in a corner
        drawn = np.concatenate([ln.get_xdata() for ln in ax.lines if ln.get_gid() != CONSTRAINT])
        assert np.isclose(drawn.max(), max(t.values[x] for t in trials if x in t.values) / scale)


def test_constraints_are_dashed_lines_labelled_with_their_bound(scored_run: Run,
                                                                 table_run: Run) -> None:
    bound = scored_run.constraints[0].bound
    line = _line(_axes(scored_run, LAT), CONSTRAINT)
    assert line.get_linestyle() == "--" and list(line.get_xdata()) == [bound, bound]
    assert line.get_label() == f"latency \u2264 {bound:.4g} ms"
    assert f"latency \u2264 {bound:.4g} ms" in (scored_run.run_dir / "report.html").read_text()
    assert not [ln for ln in _axes(scored_run, "macs").lines if ln.get_gid() == CONSTRAINT]
    macs_bound = table_run.constraints[0].bound
    line = _line(_axes(table_run, "macs"), CONSTRAINT)
    assert list(line.get_xdata()) == [macs_bound / 1e6] * 2
    assert line.get_label() == f"MACs \u2264 {macs_bound / 1e6:.4g} M"


def test_infeasible_and_pruned_trials_are_drawn_in_grey(scored_run: Run, table_run: Run) -> None:
    trials = scored_run.trials()
    pruned = [t for t in trials if t.state == "PRUNED"]
    unscored = [t for t in trials if t.feasible is False]
    assert pruned and unscored, "the run should have both"
    ax = _axes(scored_run, LAT)
    grey_pruned, grey_unscored = _line(ax, PRUNED), _line(ax, INFEASIBLE_UNSCORED)
    assert len(grey_pruned.get_xdata()) == len(pruned)
    assert sorted(grey_unscored.get_xdata()) == sorted(t.values[LAT] for t in unscored)
    bound = scored_run.constraints[0].bound
    assert min(grey_unscored.get_xdata()) > bound  # all right of the dashed line
    # A table-only run has both coordinates of its infeasible trials.
    table_ax = _axes(table_run, "macs")
    infeasible = [t for t in table_run.trials() if t.feasible is False]
    assert infeasible and len(_line(table_ax, INFEASIBLE).get_xdata()) == len(infeasible)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for line in (grey_pruned, grey_unscored, _line(table_ax, INFEASIBLE)):
        assert line.get_color() == GREY and line.get_marker() not in ("o", "D")
    assert any(label.startswith("pruned") for label in labels)
    assert any(label.startswith("infeasible") for label in labels)


def test_hypervolume_of_a_run_stays_in_0_1_and_never_drops(scored_run: Run, table_run: Run) -> None:
    for run in (scored_run, table_run):
        numbers, hv = hypervolume_curve(run, run.trials())
        assert len(numbers) == len(hv) == 40
        assert np.all((hv >= 0) & (hv <= 1)) and np.all(np.diff(hv) >= 0)
        assert hv[-1] > 0


def test_zero_cost_runs_name_their_proxy_not_accuracy(env: Path, tmp_path: Path) -> None:
    cfg = config(env, n_trials=3, evaluator={"kind": "zero_cost", "proxies": ["naswot", "synflow"],
                                             "batch_size": 16, "threads": 1})
    run = run_search(cfg, tmp_path / "zc", progress=False)
    ax = _axes(run, "macs")
    assert ax.get_ylabel() == "NASWOT score (zero-cost proxy)"
    html = (run.run_dir / "report.html").read_text()
    assert "NASWOT score (zero-cost proxy)" in html
    header = pareto_table(run).splitlines()[1]
    assert "NASWOT score" in header and "accuracy" not in header


points_2d = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(points_2d)
def test_2d_non_dominated_mask_matches_pairwise_dominance(pts: list[tuple[int, int]]) -> None:
    losses = np.array(pts, dtype=float).reshape(-1, 2)
    mask = non_dominated_2d(losses)
    for i, p in enumerate(losses):
        dominated = any(_dominates(q, p, (False, False)) for q in losses)
        # Of equal points one is kept; a dominated point never is.
        assert not (dominated and mask[i])
        if not dominated:
            assert any(mask[j] for j in range(len(losses)) if np.array_equal(losses[j], p))
    assert len({tuple(p) for p in losses[mask]}) == mask.sum()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4).flatmap(lambda m: st.lists(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=m, max_size=m), min_size=1,
    max_size=30)), st.lists(st.booleans(), min_size=4, max_size=4))
# Found in CI: the last front's slabs summed to one ulp below the previous front's.
@example([[0.0, 0.0, 143.625], [0.0, -240.0, 0.0], [0.0, -1e-12, 0.0], [-1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
         [False, True, False, False])
def test_normalized_hypervolume_history_is_a_non_decreasing_fraction(
        rows: list[list[float]], maximize: list[bool]) -> None:
    values = np.array(rows)
    losses = to_minimization(values, ["maximize" if m else "minimize" for m in maximize[:values.shape[1]]])
    hv = hypervolume_history(losses, *bounds(losses))
    assert np.all(hv >= 0) and np.all(hv <= 1), hv
    assert np.all(np.diff(hv) >= 0), hv
    # One point best in every objective fills the whole box.
    ideal = losses.min(axis=0)
    full = hypervolume_history(np.vstack([losses, ideal]), *bounds(losses))
    assert np.isclose(full[-1], 1.0)
