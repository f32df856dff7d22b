"""Results of a run, rebuilt from its storage: CSV files, PNG plots, an HTML report.

Files written into the run folder:

- ``trials.csv``: every trial (number, state, arch, every objective and constraint metric, one
  ``ok:CONSTRAINT`` column per hard constraint, duration, and halving/cache/failure details);
- ``pareto.csv``: the non-dominated feasible trials, one per architecture;
- ``pareto_<metric>.png``: accuracy (or the first objective) against each latency objective or
  constrained latency, against MACs, and against params and peak memory when they are objectives
  or constrained (see :mod:`nas.search._plots`). In each: the front computed in those two metrics
  (a step line through all of its points), the Pareto set over all objectives as open red
  diamonds (a point of it may look dominated in 2-D: it is better on an objective not drawn), the
  other feasible trials in blue, pruned trials (grey x, at the score they had when stopped) and
  infeasible ones (grey; those never scored as ticks along the bottom, at their x only), and each
  hard constraint on a plotted metric as a dashed line labelled with its bound. Axes are in ms,
  millions of MACs or params, MiB; the score axis names what was measured: ``accuracy (top-1,
  held-out split)``, or the proxy for a zero-cost run (``NASWOT score (zero-cost proxy)``);
- ``hypervolume.png``: the hypervolume of the feasible trials after each trial, as a fraction in
  [0, 1] of the box between the ideal point and the reference point (:mod:`nas.search._pareto`);
- ``report.html``: the settings, the plots and the Pareto table, under the plots' labels and units.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nas.search import _attrs as A
from nas.search._metrics import ACCURACY, display
from nas.search._plots import (
    front_figure,
    hypervolume_curve,
    hypervolume_figure,
    pair_view,
    plot_pairs,
)
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
    """The Pareto front as a fixed-width text table (trial, objectives, arch); the score column is
    headed by what was measured (``accuracy``, or the proxy such as ``NASWOT score``)."""
    front = run.pareto() if front is None else front
    names = run.config.objective_names
    if not front:
        return "Pareto front: empty (no feasible completed trial)"
    # Other metrics keep their names: they are the CSV columns and the values carry their units.
    header = ["trial", *(display(n, run.config.evaluator).short if n == ACCURACY else n
                         for n in names), "arch"]
    rows = [[str(t.number), *(human(n, t.values.get(n)) for n in names), t.arch or ""]
            for t in front]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]

    return "\n".join([f"Pareto front ({len(front)} architectures):", fmt(header), *map(fmt, rows)])


def _slug(metric: str) -> str:
    return metric.replace(":", "_").replace("/", "_")


def plot_fronts(run: Run, trials: Sequence[TrialRecord], front: Sequence[TrialRecord]
                ) -> list[Path]:
    """Write ``pareto_<x>.png`` for each pair of :func:`plot_pairs`; returns the paths."""
    paths = []
    for y, x in plot_pairs(run):
        fig = front_figure(pair_view(run, trials, front, y, x))
        path = run.run_dir / f"pareto_{_slug(x)}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


def plot_hypervolume(run: Run, trials: Sequence[TrialRecord]) -> Path:
    """Write ``hypervolume.png``."""
    numbers, hv = hypervolume_curve(run, trials)
    fig = hypervolume_figure(run.config.name, numbers, hv, len(run.config.objective_names))
    path = run.run_dir / "hypervolume.png"
    fig.savefig(path, dpi=110)
    return path


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", border=0, classes="t", escape=True)


def write_html(run: Run, trials: Sequence[TrialRecord], front: Sequence[TrialRecord],
               plots: Sequence[Path]) -> Path:
    info = run.info
    states = pd.Series([t.state for t in trials]).value_counts().to_dict() if trials else {}
    names = run.config.objective_names
    shown = [display(n, run.config.evaluator) for n in names]
    # The plots' labels and units, so a value reads the same in the table as on an axis.
    table = pd.DataFrame([{"trial": t.number,
                           **{d.label: f"{t.values[n] / d.scale:.4g}" if n in t.values else ""
                              for n, d in zip(names, shown, strict=True)},
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
        "<p>Objectives: " + ", ".join(f"{html.escape(d.label)} ({o['direction']})"
                                      for o, d in zip(info["objectives"], shown, strict=True))
        + ". Hard constraints: "
        + (", ".join(html.escape(display(c.metric).bound_text(c.op, c.bound)) + f" (<code>"
                     f"{html.escape(str(c))}</code>)" for c in run.constraints) or "none") + ".</p>",
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
    plots = [*plot_fronts(run, trials, front), plot_hypervolume(run, trials)]
    for p in plots:
        out[p.name] = p
    out["report.html"] = write_html(run, trials, front, plots)
    return out
