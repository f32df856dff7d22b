"""How the shipped tables score against the device's mean latency: the runs' noise extrapolated away.

Each validation run times the same held-out networks; combining k runs per network (geometric
mean) leaves noise of variance about ``s**2 / k`` on each network's log time, and a table's score
against the combination rises with k as that noise shrinks (section ``latency_tables_sessions``:
torch mobilenet_v2 at 32 px, tau 0.642 with 1 run, 0.905 with 7, 0.935 with 15). To first order
a score falls linearly in the noise variance, so it is linear in ``1/k``::

    score(k) = score_inf - b / k

This script averages each score over random subsets of k of the K runs, for every k, fits that
line, and reports ``score_inf``: the score against the device's mean over sessions, with a
leave-one-run-out (jackknife) standard error. Scores need not follow the first-order model, so
it also fits ``score_inf - b / sqrt(k)`` (slower convergence), and checks each line by fitting
it on k <= K/2 alone and reading it at k = K, where the measured score is known. The same is
done for the FLOPs baseline. No measuring; the figures are extrapolations.

    python experiments/bench_latency_noise_free.py --runs experiments/bench_latency_out_rounds20 ...

Writes the ``latency_tables_noise_free`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from _results import use_host1_tables, write_section

from nas.latency import LatencyTable, load_table
from nas.latency._entry import Entry
from nas.latency._networks import calibration_items
from nas.latency._runs import align_runs, measured_column
from nas.latency._validate import accuracy, score_networks

ROOT = Path(__file__).resolve().parent
TABLES = ("cpu_torch_mobilenet_v3", "cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")
SECTION = "latency_tables_noise_free"
SCORES = ("within_10pct", "kendall_tau")
MODELS = ("1/k", "1/sqrt(k)")


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


def score_table(table: LatencyTable, runs: list[Path], seed: int, subsets: int
                ) -> dict[str, Any]:
    """Per resolution, :func:`extrapolate` and :func:`jackknife` of ``table`` and of the FLOPs
    baseline on the validation CSVs of ``table`` in the folders ``runs``."""
    aligned = align_runs(table, [r / f"validate_{table.id}.csv" for r in runs])
    items, logs = aligned.items, np.log(aligned.times[measured_column(table)])
    combined = [Entry(min=float(v), median=float(v)) for v in np.exp(logs.mean(axis=0))]
    cal_items, cal_entries = calibration_items(table)
    _, pred, _, flops, _ = score_networks(table, items, combined, cal_items, cal_entries)
    res = np.array([it.arch.resolution for it in items])
    rows = {}
    for r in sorted(set(res.tolist())):
        m = res == r
        rows[str(r)] = {name: {**extrapolate(p[m], logs[:, m], seed, subsets),
                               "se": jackknife(p[m], logs[:, m], seed, subsets)}
                        for name, p in (("model", pred), ("flops", flops))}
    return {"table": table.id, "content_hash": table.content_hash, "runs": len(runs),
            "per_resolution": rows}


def render(results: list[dict[str, Any]], runs: list[Path], subsets: int) -> str:
    def inf(g: dict[str, Any], s: str, m: str) -> str:
        v, se = g[s][m]["inf"], g["se"][f"{s} {m}"]
        if s == "within_10pct":
            return f"{min(v, 1.0):.0%} ± {se:.0%}"
        return f"{v:.3f} ± {se:.3f}"

    def check(g: dict[str, Any], m: str) -> str:
        return (f"{g['within_10pct'][m]['half_fit_at_last_k']:.1%} / "
                f"{g['kendall_tau'][m]['half_fit_at_last_k']:.3f}")

    k = results[0]["runs"]
    lines = [
        f"The same {k} validation runs as section `latency_tables_sessions` (50 held-out networks "
        "per table and resolution). Each score is averaged over random subsets of k runs "
        f"combined per network (up to {subsets} subsets per k), for k = 1..{k}, and a line "
        "score(k) = score_inf − b·x(k) is fitted, with x = 1/k (to first order a score falls "
        "linearly in the variance of the runs' noise, which combining k runs divides by k) or "
        "x = 1/√k (slower convergence). score_inf (± a leave-one-run-out standard error) "
        "estimates the score against this device's mean over sessions; within ±10% is capped "
        f"at 100% (not in 'check'). 'Check' fits the line on k ≤ {k // 2} only and reads it "
        f"at k = {k}, to compare with the measured k = {k} column (within ±10% / τ).", "",
        f"| table | res | k=1: within ±10% / τ | k={k}: within ±10% / τ | **1/k: score_inf "
        "within ±10% / τ** | 1/k: check | 1/√k: score_inf within ±10% / τ | 1/√k: check | "
        "FLOPs baseline, 1/k: score_inf within ±10% / τ |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for res, g in r["per_resolution"].items():
            m, f = g["model"], g["flops"]
            one, last = m["curve"][0], m["curve"][-1]
            lines.append(
                f"| {r['table']} | {res} | {one['within_10pct']:.0%} / {one['kendall_tau']:.3f} | "
                f"{last['within_10pct']:.0%} / {last['kendall_tau']:.3f} | "
                f"**{inf(m, 'within_10pct', '1/k')} / {inf(m, 'kendall_tau', '1/k')}** | "
                f"{check(m, '1/k')} | {inf(m, 'within_10pct', '1/sqrt(k)')} / "
                f"{inf(m, 'kendall_tau', '1/sqrt(k)')} | {check(m, '1/sqrt(k)')} | "
                f"{inf(f, 'within_10pct', '1/k')} / {inf(f, 'kendall_tau', '1/k')} |")
    lines += ["", "Runs: " + ", ".join(r.name for r in runs) + "."]
    return "\n".join(lines)


def main() -> None:
    use_host1_tables()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="bench_latency.py output folders")
    ap.add_argument("--tables", nargs="+", default=list(TABLES))
    ap.add_argument("--subsets", type=int, default=40, help="random subsets of k runs per k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    runs = [Path(r) for r in args.runs]
    results = [score_table(load_table(t), runs, args.seed, args.subsets) for t in args.tables]
    print(json.dumps(results, indent=1))
    if not args.no_results:
        write_section(SECTION, "Latency tables (`experiments/bench_latency_noise_free.py`): "
                      "scores against the device's mean, the runs' noise extrapolated away",
                      render(results, runs, args.subsets)
                      + (f"\n\n{args.note}" if args.note else ""))


if __name__ == "__main__":
    main()
