"""The four CPU tables built, calibrated and tested on a second host (set D); no measuring here.

On 2026-12-01 this project's VM came up on another host than the shipped tables' (same "AMD
EPYC" name, kernel fc-v669 against fc-v769/fc-v782), which ran the shipped tables' anchors at
0.53-0.78x their build time. ``bench_latency_out_host2/runs.sh`` built and calibrated the four
tables there the way ``build_cpu_tables.sh`` does and validated each in 5 runs on fresh
networks (seed 2028); its ``PLAN.md`` was written before any of it ran. This script scores:

- each host-2 table on its 5 runs combined per network (equal weights), and each run alone;
- each shipped table on the same CSVs (``measured_with`` the host-2 table: rescaled to the
  shipped table's anchor speed, as ``nas lut validate`` would divide them here);
- the build and calibration times from the runs' JSON outputs.

    python experiments/bench_latency_host2.py [--no-results]

Writes the ``latency_tables_host2`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import publish, section_args, use_host1_tables
from bench_latency_setb import per_run, render_per_run

from nas.latency import load_table, read_table
from nas.latency._runs import score_runs

HERE = Path(__file__).resolve().parent
OUT = HERE / "bench_latency_out_host2"
TABLES = ("cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")


def runs_of(tid: str, out: Path = OUT) -> list[Path]:
    """The run folders under ``out`` that hold a validation CSV of ``tid``."""
    runs = [r for r in out.glob("run*") if (r / f"validate_{tid}.csv").exists()]
    return sorted(runs, key=lambda r: (len(r.name), r.name))  # run10 after run9


def runs_alone(tids: list[str], table_dir: Path, out: Path, label: str) -> list[dict[str, Any]]:
    """Each run under ``out`` of each table ``table_dir/<tid>.json`` alone (:func:`per_run`),
    the table named ``"<tid> (<label>)"``."""
    return [{**row, "table": f"{t} ({label})"} for t in tids
            for row in per_run(str(table_dir / f"{t}.json"), runs_of(t, out))]


def scores(tid: str) -> dict[str, Any]:
    """Per resolution: the host-2 table and the shipped one on the host-2 runs combined."""
    host2 = read_table(OUT / "tables" / f"{tid}.json")
    shipped = load_table(tid)
    csvs = [r / f"validate_{tid}.csv" for r in runs_of(tid)]
    own = score_runs(host2, csvs)
    other = score_runs(shipped, csvs, measured_with=host2)
    rows = {}
    for res, g in own["per_resolution"].items():
        s = other["per_resolution"][res]["model"]
        rows[res] = {"n": g["model"]["n"], "runs": len(csvs), "model": g["model"],
                     "flops": g["baseline_flops"], "naive": g["naive_sum"],
                     "run_vs_run_tau": own["between_runs"][res]["median_tau_run_vs_run"],
                     "shipped": s}
    return {"table": tid, "content_hash": host2.content_hash,
            "shipped_hash": shipped.content_hash, "per_resolution": rows}


def build_times(tid: str, folder: Path = OUT) -> dict[str, Any]:
    """Seconds and anchor spread of each config's build (kept attempt) and the calibration."""
    out: dict[str, Any] = {}
    for res in ("224", "32"):
        info = json.loads((folder / f"build_{tid}_{res}.json").read_text())
        out[res] = {"seconds": info["seconds"], "attempts": info.get("attempts"),
                    "kept": info.get("kept_attempt"), "keys": info["keys_total"]}
    cal = json.loads((folder / f"calibrate_{tid}.json").read_text())
    out["calibrate"] = {"seconds": cal["seconds"], "networks": cal["networks"]}
    return out


def fig(m: dict[str, Any], bias: bool = False) -> str:
    """``within ±10% / τ / MAPE`` of one score (and its bias, with ``bias``)."""
    text = f"{m['within_10pct']:.0%} / {m['kendall_tau']:.3f} / {m['mape']:.1f}%"
    return f"{text} (bias {m['bias_pct']:+.1f}%)" if bias else text


def short(m: dict[str, Any]) -> str:
    """``within ±10% / τ`` of one score."""
    return f"{m['within_10pct']:.0%} / {m['kendall_tau']:.3f}"


def set_intro(label: str, seed: int) -> str:
    """The opening sentence of a fresh set's table: what the cells score and on what."""
    return (f"Within ±10% / Kendall τ / MAPE on set {label} (50 fresh networks per config, "
            f"validation seed {seed}), the runs combined per network (geometric mean of the "
            f"drift-corrected timings, equal weights; `nas lut validate --from-csv`)")


def plan_rule(pairs: list[tuple[dict[str, Any], dict[str, Any]]], *, min_mean_gain: float,
              max_row_loss: float, min_within: float) -> dict[str, Any]:
    """A plan's rule for a change, over rows of (before, after) scores: the mean τ change must be
    at least ``min_mean_gain``, no row may lose more than ``max_row_loss`` and every row must keep
    ``min_within`` within ±10%."""
    change = [after["kendall_tau"] - before["kendall_tau"] for before, after in pairs]
    lowest = min(after["within_10pct"] for _, after in pairs)
    return {"rows": len(pairs), "mean_tau_change": float(np.mean(change)),
            "worst_tau_change": min(change), "best_tau_change": max(change),
            "lowest_within_10pct": lowest, "min_mean_gain": min_mean_gain,
            "max_row_loss": max_row_loss, "min_within": min_within,
            "adopt": (float(np.mean(change)) >= min_mean_gain and min(change) >= -max_row_loss
                      and lowest >= min_within)}


def rule_sentence(v: dict[str, Any], what: str, verdicts: tuple[str, str]) -> str:
    """The sentence that reports :func:`plan_rule`'s figures for ``what`` and its verdict
    (``verdicts``: if adopted, if not)."""
    return (f"The plan's rule {what} over the {v['rows']} rows: τ change mean "
            f"{v['mean_tau_change']:+.4f} (needs ≥ {v['min_mean_gain']:+.3f}), worst "
            f"{v['worst_tau_change']:+.3f} (may not be below {-v['max_row_loss']:+.3f}), best "
            f"{v['best_tau_change']:+.3f}; lowest within ±10% {v['lowest_within_10pct']:.0%} "
            f"(needs ≥ {v['min_within']:.0%}). Verdict: {verdicts[0 if v['adopt'] else 1]}.")


def score_rows(results: list[dict[str, Any]], cells: Callable[[dict[str, Any]], str]
               ) -> list[str]:
    """One table row per table and resolution: its name, hash, runs and n, then ``cells(g)``
    of that resolution's scores ``g``."""
    return [f"| `{r['table']}` ({r['content_hash']}) | {res} | "
            f"{r['per_resolution'][res]['runs']}, {r['per_resolution'][res]['n']} | "
            f"{cells(r['per_resolution'][res])} |"
            for r in results for res in sorted(r["per_resolution"], key=int)]


def render(results: list[dict[str, Any]], builds: dict[str, Any]) -> str:
    lines = [
        set_intro("D", 2028) + ". 'Shipped table' scores the table in "
        "`latency_tables/` (built on another host) on the same timings, rescaled to its anchor "
        "speed. Run vs run: the median τ between two runs (how far the device agrees with "
        "itself).", "",
        "| table (built here) | res | runs, n | **within ±10% / τ / MAPE** | naive sum of blocks "
        "| FLOPs baseline | run vs run τ | shipped table (another host), same timings |",
        "|---|---|---|---|---|---|---|---|"]
    lines += score_rows(results, lambda g: (
        f"**{fig(g['model'])}** | {fig(g['naive'])} | "
        f"{g['flops']['within_10pct']:.0%} / {g['flops']['kendall_tau']:.3f} | "
        f"{g['run_vs_run_tau']:.3f} | {fig(g['shipped'])} (bias "
        f"{g['shipped']['bias_pct']:+.1f}%)"))
    return "\n".join(lines) + "\n\n" + render_builds(builds)


def render_builds(builds: dict[str, Any]) -> str:
    """The build and calibration times (``build_times`` per table) as a table."""
    lines = ["Build (`nas lut build --rounds 14 --statistic min --attempts 3`, pinned to one "
             "core) and calibration (`nas lut calibrate --n 80 --seed 0`) on this host:", "",
             "| table | 224 px: keys, s, anchor spread % per attempt | 32 px: keys, s, anchor "
             "spread % per attempt | calibration: networks, s |", "|---|---|---|---|"]
    for tid, b in builds.items():
        cells = [f"{b[res]['keys']}, {b[res]['seconds']:.0f} s, "
                 f"{'/'.join(f'{a:.0f}' for a in b[res]['attempts'] or [])} (kept "
                 f"{b[res]['kept']})" for res in ("224", "32")]
        lines.append(f"| `{tid}` | {cells[0]} | {cells[1]} | "
                     f"{b['calibrate']['networks']}, {b['calibrate']['seconds']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    use_host1_tables()
    args = section_args(__doc__)
    results = [scores(t) for t in TABLES]
    builds = {t: build_times(t) for t in TABLES}
    runs = runs_alone(TABLES, OUT / "tables", OUT, "built here")
    publish(args, "latency_tables_host2", "Latency tables (`experiments/bench_latency_host2.py`): "
            "the four CPU tables built, calibrated and tested on a second host",
            {"tables": results, "builds": builds, "per_run": runs},
            render(results, builds), render_per_run(runs, "set D"))


if __name__ == "__main__":
    main()
