"""Results of a run, rebuilt from its storage: CSV files, PNG plots, an HTML report.

Files written into the run folder:

- ``trials.csv``: every trial (number, state, arch, every objective and constraint metric, one
  ``ok:CONSTRAINT`` column per hard constraint, duration, and halving/cache/failure details);
- ``pareto.csv``: the non-dominated feasible trials, one per architecture;
- ``pareto_<objective>.png``: accuracy (or the first objective) against each latency objective
  and against MACs, feasible trials in grey, the Pareto front highlighted;
- ``hypervolume.png``: normalized hypervolume of the feasible trials over trial number;
- ``report.html``: the plots and the Pareto table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nas.search import _attrs as A
from nas.search._metrics import ACCURACY
from nas.search._pareto import bounds, hypervolume_history, non_dominated, to_minimization
from nas.search._results import Run, TrialRecord

_EXTRA = (A.TRAINED, A.CACHED_FROM, A.EPOCHS, A.STOPPED_AT, A.EVAL_S, A.CHEAP_MS)


def trial_rows(run: Run, trials: Sequence[TrialRecord]) -> pd.DataFrame:
    """One row per trial with the columns of ``trials.csv``."""
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state, "arch": t.arch,
                               "arch_hash": t.arch_hash}
        for m in run.metrics:
            row[m] = t.values.get(m)
        for c in run.constraints:
            value = t.values.get(c.metric)
            row[f"ok:{c}"] = None if value is None else c.satisfied(value)
        row["feasible"] = t.feasible
        row["duration_s"] = t.duration_s
        for key in _EXTRA:
            row[key] = t.user_attrs.get(key)
        for key in sorted(k for k in t.user_attrs if k.startswith((A.RUNG_PREFIX, A.ZERO_COST_PREFIX))):
            row[key] = t.user_attrs[key]
        row[A.FAIL_REASON] = t.fail_reason
        rows.append(row)
    columns = ["number", "state", "arch", "arch_hash", *run.metrics,
               *(f"ok:{c}" for c in run.constraints), "feasible", "duration_s", *_EXTRA]
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in columns and c != A.FAIL_REASON]
    return frame.reindex(columns=[*columns, *sorted(extra), A.FAIL_REASON])


def human(metric: str, value: float | None) -> str:
    """Short display of a metric value (MACs and params in M, memory in KiB/MiB, ms, fractions)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if metric in ("macs", "params"):
        return f"{value / 1e6:.2f}M"
    if metric == "peak_memory":
        return f"{value / 2**20:.2f}MiB" if value >= 2**20 else f"{value / 2**10:.1f}KiB"
    if metric.startswith("latency:"):
        return f"{value:.3f}ms"
    return f"{value:.4g}"


def pareto_table(run: Run, front: Sequence[TrialRecord] | None = None) -> str:
    """The Pareto front as a fixed-width text table (trial, objectives, arch)."""
    front = run.pareto() if front is None else front
    names = run.config.objective_names
    if not front:
        return "Pareto front: empty (no feasible completed trial)"
    header = ["trial", *names, "arch"]
    rows = [[str(t.number), *(human(n, t.values.get(n)) for n in names), t.arch or ""]
            for t in front]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]

    return "\n".join([f"Pareto front ({len(front)} architectures):", fmt(header), *map(fmt, rows)])


def _plot_axes(run: Run) -> tuple[str, list[str]]:
    """The y metric (accuracy, or the first objective) and the x metrics to plot it against."""
    names = run.config.objective_names
    y = ACCURACY if ACCURACY in names else names[0]
    xs = [n for n in names if n.startswith("latency:")]
    if "macs" not in xs:
        xs.append("macs")
    if y not in names or len(names) == 1:
        xs = [n for n in names if n != y] or xs
    return y, [x for x in xs if x != y]


def plot_fronts(run: Run, feasible: Sequence[TrialRecord], front: Sequence[TrialRecord]
                ) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, xs = _plot_axes(run)
    paths = []
    ydir = "maximize" if y == ACCURACY else run.config.directions[0]
    for x in xs:
        pts = [(t.values[x], t.values[y]) for t in feasible if x in t.values and y in t.values]
        fpts = sorted((t.values[x], t.values[y]) for t in front if x in t.values and y in t.values)
        fig, ax = plt.subplots(figsize=(6, 4.2))
        if pts:
            arr = np.array(pts)
            ax.scatter(arr[:, 0], arr[:, 1], s=14, c="0.7", label="feasible trials")
            front2d = arr[non_dominated(to_minimization(arr, ["minimize", ydir]))]
            front2d = front2d[np.argsort(front2d[:, 0])]
            ax.step(front2d[:, 0], front2d[:, 1], where="post", c="tab:blue", lw=1,
                    label=f"front in ({x}, {y})")
        if fpts:
            farr = np.array(fpts)
            ax.scatter(farr[:, 0], farr[:, 1], s=30, c="tab:red", zorder=3,
                       label="Pareto front (all objectives)")
        ax.set_xlabel(x + (" (ms)" if x.startswith("latency:") else ""))
        ax.set_ylabel(y)
        ax.set_title(f"{run.config.name}: {y} vs {x}")
        ax.grid(alpha=0.3)
        if pts:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no feasible scored trial", ha="center", transform=ax.transAxes)
        fig.tight_layout()
        path = run.run_dir / f"pareto_{x.replace(':', '_').replace('/', '_')}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def hypervolume_curve(run: Run, trials: Sequence[TrialRecord]) -> tuple[list[int], np.ndarray]:
    """Trial numbers and the hypervolume of the feasible trials up to each (normalized by the
    best and worst feasible values of the whole run)."""
    names, dirs = run.config.objective_names, run.config.directions
    feasible_numbers = {t.number for t in run.feasible(trials)}
    numbers = [t.number for t in trials]
    rows = np.array([[t.values[n] for n in names] for t in trials if t.number in feasible_numbers])
    if len(rows) == 0:
        return numbers, np.zeros(len(numbers))
    losses = to_minimization(rows, dirs)
    ideal, nadir = bounds(losses)
    hv_feasible = hypervolume_history(losses, ideal, nadir)
    out, k, current = [], 0, 0.0
    for t in trials:
        if t.number in feasible_numbers:
            current = float(hv_feasible[k])
            k += 1
        out.append(current)
    return numbers, np.array(out)


def plot_hypervolume(run: Run, trials: Sequence[TrialRecord]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers, hv = hypervolume_curve(run, trials)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(numbers, hv, drawstyle="steps-post")
    ax.set_xlabel("trial")
    ax.set_ylabel("hypervolume (normalized)")
    ax.set_title(f"{run.config.name}: hypervolume over trials")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = run.run_dir / "hypervolume.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", border=0, classes="t", escape=True)


def write_html(run: Run, trials: Sequence[TrialRecord], front: Sequence[TrialRecord],
               plots: Sequence[Path]) -> Path:
    info = run.info
    states = pd.Series([t.state for t in trials]).value_counts().to_dict() if trials else {}
    names = run.config.objective_names
    table = pd.DataFrame([{"trial": t.number,
                           **{n: human(n, t.values.get(n)) for n in names},
                           "arch": t.arch} for t in front])
    tables = "".join(f"<li>{html.escape(t['id'])}: {html.escape(t['device'])}, content hash "
                     f"<code>{t['content_hash']}</code></li>" for t in info.get("tables", []))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>hwnas search {html.escape(run.config.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table.t{border-collapse:collapse;font-size:13px}table.t td,table.t th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}table.t td:last-child{text-align:left;"
        "font-family:monospace}img{max-width:49%}</style></head><body>",
        f"<h1>Search {html.escape(run.config.name)}</h1>",
        f"<p>Space <b>{html.escape(info['space']['name'])}</b> at resolutions "
        f"{info['space']['resolutions']}, dataset <b>{html.escape(info['dataset'])}</b> "
        f"({info['classes']} classes, {info['in_channels']} input channels), evaluator "
        f"<b>{html.escape(str(info.get('evaluator')))}</b>, sampler "
        f"<b>{html.escape(run.config.sampler.name)}</b>.</p>",
        "<p>Objectives: " + ", ".join(f"{html.escape(o['name'])} ({o['direction']})"
                                      for o in info["objectives"]) + ". Hard constraints: "
        + (", ".join(html.escape(c["text"]) for c in info["constraints"]) or "none") + ".</p>",
        f"<ul>{tables}</ul>" if tables else "",
        f"<p>Trials: {len(trials)} ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); "
        f"feasible scored: {len(run.feasible(trials))}; config hash <code>{info['config_hash']}</code>; "
        f"hwnas {html.escape(info['hwnas_version'])}.</p>",
        "".join(f"<img src='{p.name}' alt='{p.stem}'>" for p in plots),
        f"<h2>Pareto front ({len(front)})</h2>",
        _html_table(table) if len(table) else "<p>empty: no feasible completed trial</p>",
        "<p>All trials: <a href='trials.csv'>trials.csv</a>; front: "
        "<a href='pareto.csv'>pareto.csv</a>.</p></body></html>",
    ]
    path = run.run_dir / "report.html"
    path.write_text("\n".join(parts))
    return path


def write_results(run: Run) -> dict[str, Path]:
    """Write every results file of ``run`` from its storage; returns name -> path."""
    trials = run.trials()  # one snapshot for every file, while a search may still be writing
    front = run.pareto(trials)
    out = {"trials.csv": run.run_dir / "trials.csv", "pareto.csv": run.run_dir / "pareto.csv"}
    trial_rows(run, trials).to_csv(out["trials.csv"], index=False)
    trial_rows(run, front).to_csv(out["pareto.csv"], index=False)
    plots = [*plot_fronts(run, run.feasible(trials), front), plot_hypervolume(run, trials)]
    for p in plots:
        out[p.name] = p
    out["report.html"] = write_html(run, trials, front, plots)
    return out
