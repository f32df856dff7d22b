"""Prediction speed of every shipped CPU table, per config, with its calibration as shipped.

The host-3 variants' calibrations have key scales (one factor per block key); this measures
what a prediction costs with them, beside the defaults (no key scales).
Each config: 2000 archs sampled from it (seed 7), predicted one at a time (cold: a fresh table
object, first sight of each arch; cached: the same archs again) and with ``predict_many``
(cold and cached), best of 3 passes. Single process, no measuring of networks.

    python experiments/bench_predict_speed.py [--no-results] [--note TEXT]

Writes the ``latency_prediction_speed`` section of ``experiments/RESULTS.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import publish, section_args

from nas.latency import LatencyTable, read_table
from nas.latency._enumerate import restrict_space

ROOT = Path(__file__).resolve().parent.parent / "latency_tables"
SOURCES = {"host 1 (default)": ROOT, "host 3": ROOT / "hosts" / "intel-xeon-family6-model167"}
PASSES = 3
TABLES = ("cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")


def prediction_speed(table: LatencyTable, n: int = 2000, seed: int = 7,
                     config: int = 0) -> dict[str, float]:
    """Predictions per second: one arch at a time (cold: first sight of the arch; cached), and
    ``predict_many`` over ``n`` archs (cold and cached), of the table's config ``config``."""
    cfg = table.configs[config]
    space = restrict_space(table.space(cfg["space"]), [cfg["resolution"]], cfg.get("widths"))
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    kw: dict[str, Any] = {"classes": int(cfg["classes"]), "in_channels": int(cfg["in_channels"])}
    fresh = read_table(str(table.path))
    t0 = time.perf_counter()
    for a in archs:
        fresh.predict(a, **kw)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for a in archs:
        fresh.predict(a, **kw)
    warm = time.perf_counter() - t0
    fresh = read_table(str(table.path))
    t0 = time.perf_counter()
    fresh.predict_many(archs, **kw)
    many_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fresh.predict_many(archs, **kw)
    many_warm = time.perf_counter() - t0
    return {"predict_per_s_cold": n / cold, "predict_per_s_cached": n / warm,
            "predict_many_per_s_cold": n / many_cold, "predict_many_per_s_cached": n / many_warm}


def speeds(label: str, tid: str) -> list[dict[str, Any]]:
    """Per config of one table: the best of ``PASSES`` passes of each figure."""
    table = read_table(SOURCES[label] / f"{tid}.json")
    rows = []
    for i, cfg in enumerate(table.configs):
        passes = [prediction_speed(table, config=i) for _ in range(PASSES)]
        best = {k: max(p[k] for p in passes) for k in passes[0]}
        ks = table.calibration.key_scales.get(str(cfg["resolution"])) if table.calibration else None
        rows.append({"table": tid, "host": label, "resolution": int(cfg["resolution"]),
                     "key_scales": bool(ks), **best})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["Predictions per second, best of 3 passes over 2000 archs per config (µs per "
             "prediction in brackets).", "",
             "| table | host | res | key scales | predict, cold | predict, cached | "
             "predict_many, cold | predict_many, cached |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = " | ".join(f"{r[k]:,.0f} ({1e6 / r[k]:.0f} µs)" for k in (
            "predict_per_s_cold", "predict_per_s_cached", "predict_many_per_s_cold",
            "predict_many_per_s_cached"))
        lines.append(f"| `{r['table']}` | {r['host']} | {r['resolution']} | "
                     f"{'on' if r['key_scales'] else 'off'} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    args = section_args(__doc__)
    rows = [r for label in SOURCES for tid in TABLES for r in speeds(label, tid)]
    publish(args, "latency_prediction_speed", "Latency tables: prediction speed of the shipped "
            "tables (`experiments/bench_predict_speed.py`)", {"rows": rows}, render(rows))


if __name__ == "__main__":
    main()
