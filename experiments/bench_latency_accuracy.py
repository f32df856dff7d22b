"""Latency accuracy: tables scored on recorded validation runs of networks they never saw.

Each ``--runs`` file holds the rows ``nas lut validate TABLE --out DIR`` writes
(``validate_<table id>.csv``), plain or gzipped; a file with a ``run`` column holds several runs,
one per value (the compact form kept in ``experiments/data/``). Runs are matched to the
``--tables`` by the table id in their file name. Every run of a table is combined per network
(geometric mean of the drift-corrected timings, equal weights) and scored with the package's
own scoring (:func:`nas.latency._runs.score_runs`, what ``nas lut validate --from-csv`` runs).

    python experiments/bench_latency_accuracy.py \\
        --tables latency_tables/hosts/intel-xeon-family6-model167/cpu_*.json \\
        --runs experiments/data/latency_validation/validate_*.csv.gz \\
        --plan experiments/data/latency_validation/PLAN.md --first 5 [--noise-free] \\
        [--section latency_accuracy] [--measured TEXT] [--no-results] [--note TEXT]

Per table and resolution: within ±10%, Kendall τ and MAPE of the table on all runs combined
(and on the first ``--first`` runs alone), the naive sum and FLOPs baselines, the median τ
between two runs, and whether the row meets both targets (≥ 95% within ±10%, τ ≥ 0.9). With
``--noise-free``, the score extrapolated to the device's mean (:func:`extrapolate`). Then each
run alone: its bias and within ±10%. Writes section ``--section`` of ``experiments/RESULTS.md``
(unless ``--no-results``) and prints the figures as JSON. No measuring.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import json
import math
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas.latency import LatencyTable, load_table, read_table
from nas.latency._entry import Entry
from nas.latency._networks import calibration_items
from nas.latency._runs import align_runs, measured_column, score_runs
from nas.latency._validate import accuracy, score_networks

SECTION = "latency_accuracy"
TARGET_WITHIN, TARGET_TAU = 0.95, 0.9
SCORES = ("within_10pct", "kendall_tau")
MODELS = ("1/k", "1/sqrt(k)")
_NAME = re.compile(r"validate_(?P<id>.+?)\.csv(\.gz)?$")


# --- reading runs -------------------------------------------------------------------------------

def table_id_of(path: Path) -> str:
    """The table id a runs file is named after (``validate_<id>.csv`` or ``.csv.gz``)."""
    m = _NAME.search(path.name)
    if m is None:
        raise SystemExit(f"{path}: a runs file is named validate_<table id>.csv[.gz]")
    return m.group("id")


def split_runs(paths: Sequence[Path], into: Path) -> list[tuple[str, Path]]:
    """The runs in ``paths`` (one table's files), each written as a plain validation CSV under
    ``into``: ``(run name, CSV)`` in file order, then in order of first appearance of the run."""
    out: list[tuple[str, Path]] = []
    for i, path in enumerate(paths):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = [f for f in reader.fieldnames or () if f != "run"]
            groups: dict[str, list[dict[str, str]]] = {}
            for row in reader:
                groups.setdefault(row.pop("run", None) or path.parent.name, []).append(row)
        for name, rows in groups.items():
            target = into / f"{i}_{len(out)}" / path.name.removesuffix(".gz")
            target.parent.mkdir(parents=True)
            with target.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=fields)
                w.writeheader()
                w.writerows(rows)
            out.append((name, target))
    return out


def open_table(ref: str) -> LatencyTable:
    """A table file, or a table id looked up as ``nas`` would."""
    return read_table(ref) if Path(ref).exists() else load_table(ref)


# --- scoring ------------------------------------------------------------------------------------

def meets(m: dict[str, Any]) -> bool:
    """Both targets: >= 95% within ±10% and Kendall τ >= 0.9."""
    return (m.get("n", 0) > 0 and m["within_10pct"] >= TARGET_WITHIN
            and (m["kendall_tau"] or 0.0) >= TARGET_TAU)


def score_table(table: LatencyTable, runs: list[tuple[str, Path]], first: int,
                noise_free: bool = False, seed: int = 0, subsets: int = 40) -> dict[str, Any]:
    """Per resolution: the table on all ``runs`` combined (and on the first ``first`` alone),
    the baselines, the run vs run τ, optionally the noise-free extrapolation; and each run
    alone (bias and within ±10%, median anchor drift)."""
    paths = [p for _, p in runs]
    full = score_runs(table, paths)
    head = score_runs(table, paths[:first]) if 0 < first < len(paths) else None
    rows: dict[str, Any] = {}
    for res, g in full["per_resolution"].items():
        row: dict[str, Any] = {
            "n": g["model"]["n"], "runs": len(paths), "model": g["model"],
            "naive": g["naive_sum"], "flops": g["baseline_flops"],
            "run_vs_run_tau": full.get("between_runs", {}).get(res, {}).get(
                "median_tau_run_vs_run")}
        if head is not None:
            row["first_runs"] = head["per_resolution"][res]["model"]
        rows[res] = row
    if noise_free and len(paths) >= 2:
        for res, nf in noise_free_scores(table, paths, seed, subsets).items():
            rows[res]["noise_free"] = nf
    per_run = []
    for name, path in runs:
        alone = score_runs(table, [path])["per_resolution"]
        with path.open(newline="") as fh:
            drift = [float(r["anchor_drift"]) for r in csv.DictReader(fh) if r.get("anchor_drift")]
        per_run.append({"run": name, "drift_p50": float(np.median(drift)) if drift else None,
                        "bias_pct": {r: g["model"]["bias_pct"] for r, g in alone.items()},
                        "within_10pct": {r: g["model"]["within_10pct"] for r, g in alone.items()}})
    return {"table": table.id, "content_hash": table.content_hash, "first": first,
            "per_resolution": rows, "per_run": per_run}


def tally(results: list[dict[str, Any]]) -> dict[str, int]:
    """Rows (table x resolution) meeting both targets, on all runs and on the first runs."""
    groups = [g for r in results for g in r["per_resolution"].values()]
    out = {"rows": len(groups), "all_runs": sum(meets(g["model"]) for g in groups)}
    if groups and all("first_runs" in g for g in groups):
        out["first_runs"] = sum(meets(g["first_runs"]) for g in groups)
    return out


# --- noise-free extrapolation -------------------------------------------------------------------
# Combining k runs per network leaves noise of variance about s**2 / k on each network's log time,
# and a score rises with k as that noise shrinks. To first order a score falls linearly in the
# noise variance, so score(k) = score_inf - b / k; score_inf estimates the score against the
# device's mean over sessions (also fitted with 1/sqrt(k), and checked by fitting on k <= K/2
# and reading the line at k = K).

def mean_scores(pred: np.ndarray, logs: np.ndarray, k: int, rng: np.random.Generator,
                subsets: int) -> dict[str, float]:
    """Each score averaged over subsets of k runs (all of them when there are few enough)."""
    runs = len(logs)
    if math.comb(runs, k) <= subsets:
        picks = [list(c) for c in itertools.combinations(range(runs), k)]
    else:
        picks = [list(rng.choice(runs, size=k, replace=False)) for _ in range(subsets)]
    got = [accuracy(pred, np.exp(logs[p].mean(axis=0))) for p in picks]
    return {s: float(np.mean([g[s] for g in got])) for s in SCORES}


def extrapolate(pred: np.ndarray, logs: np.ndarray, seed: int, subsets: int) -> dict[str, Any]:
    """Scores at k = 1..K; per score and per convergence model (``1/k``, ``1/sqrt(k)``) the
    fitted ``score_inf``, the fit's worst miss, and the score at k = K that the line fitted on
    k <= K/2 predicts (how well that model extrapolates where it can be checked)."""
    rng = np.random.default_rng(seed)
    ks = np.arange(1, len(logs) + 1)
    curve = [mean_scores(pred, logs, int(k), rng, subsets) for k in ks]
    out: dict[str, Any] = {"curve": curve}
    half = ks <= len(ks) // 2
    for s in SCORES:
        y = np.array([c[s] for c in curve])
        out[s] = {}
        for name, x in (("1/k", 1.0 / ks), ("1/sqrt(k)", 1.0 / np.sqrt(ks))):
            slope, inf = np.polyfit(x, y, 1)
            h_slope, h_inf = np.polyfit(x[half], y[half], 1)
            out[s][name] = {"inf": float(inf), "slope": float(slope),
                            "worst_miss": float(np.max(np.abs(inf + slope * x - y))),
                            "half_fit_at_last_k": float(h_inf + h_slope * x[-1])}
    return out


def jackknife(pred: np.ndarray, logs: np.ndarray, seed: int, subsets: int) -> dict[str, float]:
    """Standard error of each ``score_inf`` from leaving one run out at a time."""
    fits = [extrapolate(pred, np.delete(logs, j, axis=0), seed, subsets) for j in range(len(logs))]
    n = len(fits)

    def se(v: list[float]) -> float:
        return float(math.sqrt((n - 1) / n * np.sum((np.array(v) - np.mean(v)) ** 2)))
    return {f"{s} {m}": se([f[s][m]["inf"] for f in fits]) for s in SCORES for m in MODELS}


def noise_free_scores(table: LatencyTable, paths: Sequence[Path], seed: int, subsets: int
                      ) -> dict[str, dict[str, Any]]:
    """Per resolution, the table's :func:`extrapolate` with its :func:`jackknife` errors."""
    aligned = align_runs(table, paths)
    items, logs = aligned.items, np.log(aligned.times[measured_column(table)])
    combined = [Entry(min=float(v), median=float(v)) for v in np.exp(logs.mean(axis=0))]
    cal_items, cal_entries = calibration_items(table)
    _, pred, _, _, _ = score_networks(table, items, combined, cal_items, cal_entries)
    res = np.array([it.arch.resolution for it in items])
    out = {}
    for r in sorted(set(res.tolist())):
        m = res == r
        out[str(r)] = {**extrapolate(pred[m], logs[:, m], seed, subsets),
                       "se": jackknife(pred[m], logs[:, m], seed, subsets)}
    return out


# --- rendering ----------------------------------------------------------------------------------

def fig(m: dict[str, Any], mape: bool = True) -> str:
    """``within ±10% / τ`` (``/ MAPE``) of one score."""
    if not m.get("n"):
        return "–"
    tau = "–" if m["kendall_tau"] is None else f"{m['kendall_tau']:.3f}"
    text = f"{m['within_10pct']:.0%} / {tau}"
    return f"{text} / {m['mape']:.1f}%" if mape else text


def render(results: list[dict[str, Any]], count: dict[str, int], plan: str | None,
           measured: str | None, noise_free: bool) -> str:
    first = results[0]["first"] if results else 0
    has_first = "first_runs" in count
    lines = []
    if measured:
        lines += [f"Runs measured on: {measured}", ""]
    lines += [
        "Within ±10% / Kendall τ / MAPE of each table against the networks of its validation "
        "runs (networks no table build or calibration used), every run combined per network "
        "(geometric mean of the drift-corrected timings, equal weights). Baselines: the naive "
        "sum of the table's block times, and FLOPs scaled to the measured mean. Run vs run: "
        "the median τ between two runs."
        + (f" Plan written before the runs: `{plan}`." if plan else ""), ""]
    head = ["table", "res", "runs, n", "**table, all runs**"]
    head += [f"table, runs 1–{first}"] if has_first else []
    head += ["naive sum", "FLOPs baseline", "run vs run τ", "both targets"]
    head += ["noise-free τ (1/k)"] if noise_free else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for res in sorted(r["per_resolution"], key=int):
            g = r["per_resolution"][res]
            cells = [f"`{r['table']}` ({r['content_hash']})", res, f"{g['runs']}, {g['n']}",
                     f"**{fig(g['model'])}**"]
            cells += [fig(g["first_runs"], mape=False)] if has_first else []
            tau = g["run_vs_run_tau"]
            cells += [fig(g["naive"]), fig(g["flops"], mape=False),
                      "–" if tau is None else f"{tau:.3f}", "yes" if meets(g["model"]) else "no"]
            if noise_free:
                nf = g.get("noise_free")
                cells += ["–" if nf is None else f"{nf['kendall_tau']['1/k']['inf']:.3f} ± "
                          f"{nf['se']['kendall_tau 1/k']:.3f}"]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Rows meeting both targets (≥ 95% within ±10%, τ ≥ 0.9), of {count['rows']}: "
              f"{count['all_runs']} on all runs combined"
              + (f", {count['first_runs']} on runs 1–{first} alone" if has_first else "") + ".",
              "", "Each run alone: the median anchor drift of its networks (time now / at build) "
              "and, per resolution, the table's bias (mean of predicted / measured − 1) and within "
              "±10%.", "", "| table | run | anchor drift p50 | per resolution: bias, within ±10% |",
              "|---|---|---|---|"]
    for r in results:
        for row in r["per_run"]:
            drift = "–" if row["drift_p50"] is None else f"{row['drift_p50']:.2f}"
            per_res = "; ".join(f"{res} px: {row['bias_pct'][res]:+.1f}%, "
                                f"{row['within_10pct'][res]:.0%}"
                                for res in sorted(row["bias_pct"], key=int))
            lines.append(f"| `{r['table']}` | {row['run']} | {drift} | {per_res} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tables", nargs="+", required=True, help="table files or ids")
    ap.add_argument("--runs", nargs="+", required=True, type=Path,
                    help="validate_<table id>.csv[.gz] files (a 'run' column splits runs)")
    ap.add_argument("--plan", default=None, help="the plan the runs followed (linked)")
    ap.add_argument("--first", type=int, default=0, help="also score runs 1..FIRST alone")
    ap.add_argument("--noise-free", action="store_true",
                    help="add the τ extrapolated to the device's mean")
    ap.add_argument("--seed", type=int, default=0, help="subsets' seed for --noise-free")
    ap.add_argument("--subsets", type=int, default=40, help="subsets of k runs per k")
    ap.add_argument("--section", default=SECTION, help="RESULTS.md section to write")
    ap.add_argument("--measured", default=None, help="where and when the runs were measured")
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args(argv)

    by_id: dict[str, list[Path]] = {}
    for p in args.runs:
        by_id.setdefault(table_id_of(p), []).append(p)
    tables = [open_table(t) for t in args.tables]
    missing = [t.id for t in tables if t.id not in by_id]
    if missing:
        raise SystemExit(f"no --runs file for the table(s) {missing}")
    with tempfile.TemporaryDirectory() as tmp:
        results = [score_table(t, split_runs(by_id[t.id], Path(tmp) / t.id), args.first,
                               args.noise_free, args.seed, args.subsets) for t in tables]
    count = tally(results)
    data = {"tables": results, "tally": count}
    print(json.dumps(data, indent=1))
    if not args.no_results:
        from _results import write_section

        body = render(results, count, args.plan, args.measured, args.noise_free)
        spaces = ", ".join(sorted({s for t in tables for s in t.spaces}))
        write_section(args.section, f"Latency accuracy on fresh networks, {spaces} "
                      "(`experiments/bench_latency_accuracy.py`)",
                      body + (f"\n\n{args.note}" if args.note else ""))
    return data


if __name__ == "__main__":
    main()
