"""Would a richer calibration rank networks better? Extra block-time scales, tried and scored.

The calibration (``nas/latency/_calibration.py``) scales each block kind's summed isolated time
by one coefficient. Inside a network, blocks of one kind may differ in how far their isolated
timing misleads (cache state, kernel choice), so this script adds one more scale per group of
mbconv blocks (by depthwise kernel, expansion ratio, stage, stride or squeeze-excite), pulled
towards no change by the same ridge, and scores each variant:

- in 5-fold cross-validation on the table's calibration networks (what a choice may use), and
- fitted on all of them, on the shipped tables' held-out networks combined over the validation
  runs (``experiments/bench_latency_out_sessions/``), for reference.

    python experiments/bench_calibration_features.py

Writes the ``calibration_features`` section of ``experiments/RESULTS.md``. No measuring.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import use_host1_tables, write_section

from nas.arch import Arch
from nas.blocks import Block, arch_to_blocks
from nas.latency import LatencyTable, load_table
from nas.latency._calibration import (
    FEATURES,
    NEUTRAL,
    complete_features,
    cross_validate,
    fit_coefficients,
    key_features,
)
from nas.latency._networks import NetItem, calibration_items
from nas.latency._validate import accuracy

ROOT = Path(__file__).resolve().parent
SECTION = "calibration_features"
TABLES = ("cpu_torch_mobilenet_v3", "cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v2",
          "cpu_onnxruntime_mobilenet_v2")
FOLDS = 5


def _expansion(b: Block) -> int:
    return round(b.mid / b.cin) if b.expand_conv else 1


# Variant name -> the group of an mbconv block (None: no extra scale).
GROUPS: dict[str, Callable[[Block, int], str] | None] = {
    "none (shipped)": None,
    "kernel": lambda b, r: f"k{b.kernel}",
    "expansion": lambda b, r: f"e{_expansion(b)}",
    "stage": lambda b, r: f"1/{min(r // b.hw, 16)}",
    "stride": lambda b, r: f"s{b.stride}",
    "squeeze-excite": lambda b, r: f"se{int(b.se > 0)}",
}


def features(table: LatencyTable, blocks: list[Block], resolution: int,
             group: Callable[[Block, int], str] | None, names: list[str]) -> np.ndarray:
    """The shipped features of a network's blocks, then the summed isolated ms of each extra
    group."""
    base = np.zeros(len(FEATURES))
    extra = np.zeros(len(names))
    for b in blocks:
        ms = table.entries[b.key].value(table.statistic)
        base += key_features(b, ms, batch=table.batch, dtype=table.dtype)
        if group is not None and b.kind == "mbconv":
            extra[names.index(group(b, resolution))] += ms
    base = complete_features(base[None, :])[0]  # the network-level columns
    return np.concatenate([base, extra])


def score(pred: np.ndarray, meas: np.ndarray) -> tuple[float, float]:
    acc = accuracy(pred, meas)
    return acc["within_10pct"], acc["kendall_tau"]


def held_out(table_id: str, runs_dir: Path) -> list[tuple[NetItem, float]]:
    with (runs_dir / f"validate_{table_id}.csv").open(newline="") as fh:
        return [(NetItem(Arch.parse(r["arch"]), int(r["classes"]), int(r["in_channels"])),
                 float(r["measured_min_ms"])) for r in csv.DictReader(fh)]


def run_table(table_id: str, runs_dir: Path) -> dict[str, Any]:
    table = load_table(table_id)
    items, entries = calibration_items(table)
    y = np.array([e.value(table.statistic) for e in entries])
    res = np.array([it.arch.resolution for it in items])
    test = held_out(table_id, runs_dir)
    test_res = np.array([it.arch.resolution for it, _ in test])
    test_y = np.array([m for _, m in test])

    def lower(it: NetItem) -> tuple[list[Block], int]:
        return (arch_to_blocks(it.arch, table.space(it.arch.space), classes=it.classes,
                               in_channels=it.in_channels), it.arch.resolution)

    cal_blocks = [lower(it) for it in items]
    test_blocks = [lower(it) for it, _ in test]
    out: dict[str, Any] = {}
    for name, group in GROUPS.items():
        names = sorted({group(b, r) for bl, r in cal_blocks for b in bl
                        if b.kind == "mbconv"}) if group else []
        # The extra scales are pulled towards 0 (no change) by the shipped fit's ridge.
        neutral = np.concatenate([NEUTRAL, np.zeros(len(names))])
        x = np.array([features(table, bl, r, group, names) for bl, r in cal_blocks])
        tx = np.array([features(table, bl, r, group, names) for bl, r in test_blocks])
        for r in sorted(set(res.tolist())):
            m, t = res == r, test_res == r
            cv = cross_validate(x[m], y[m], np.random.default_rng(0), folds=FOLDS,
                                neutral=neutral)
            coef = fit_coefficients(x[m], y[m], neutral=neutral)
            out.setdefault(str(r), {})[name] = {"cv": score(cv, y[m]),
                                                "held_out": score(tx[t] @ coef, test_y[t])}
    return {"table": table_id, "per_resolution": out}


def render(results: list[dict[str, Any]]) -> str:
    names = list(GROUPS)
    lines = [
        "Each cell: 5-fold cross-validation on the table's 80 calibration networks per "
        "resolution (within ±10% / Kendall τ), then, fitted on all 80, the held-out networks "
        "combined over the validation runs (`bench_latency_out_sessions/`). Each variant adds "
        "one block-time scale per group of mbconv blocks to the shipped calibration.", "",
        "| table | res | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in results:
        for res, g in r["per_resolution"].items():
            cells = [f"{g[n]['cv'][0]:.0%} / {g[n]['cv'][1]:.3f}; "
                     f"{g[n]['held_out'][0]:.0%} / {g[n]['held_out'][1]:.3f}" for n in names]
            lines.append(f"| {r['table']} | {res} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    use_host1_tables()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", default=str(ROOT / "bench_latency_out_sessions"),
                    help="folder of combined validation CSVs")
    ap.add_argument("--note", default="", help="a paragraph appended to the section")
    ap.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    args = ap.parse_args()
    results = [run_table(t, Path(args.runs)) for t in TABLES]
    print(json.dumps(results, indent=1))
    if not args.no_results:
        write_section(SECTION, "Calibration features (`experiments/bench_calibration_features.py`):"
                      " extra block-time scales, tried", render(results)
                      + (f"\n\n{args.note}" if args.note else ""))


if __name__ == "__main__":
    main()
