"""On-device kit round trip on this machine, with onnxruntime's CPU provider as "the device".

``nas lut kit`` -> ``run_kit.py`` (the standalone runner, as a user runs it on a phone) ->
``nas lut import-kit`` -> ``nas lut validate`` (held-out whole networks measured end-to-end with
onnxruntime, 1 thread) for the raw kit table, then ``nas lut calibrate`` on separate networks and
``nas lut validate`` again.

Run in a quiet window (it times things): ``python experiments/bench_fit_kit.py`` (defaults:
mobilenet_v3 at 224x224, 1000 classes, width 1.0, 30 validation networks; the table predicts
from each block's fastest run, ``--statistic median`` for the median). ``--quick`` is a reduced
smoke run whose figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import write_section

from nas.latency import load_table
from nas.latency._validate import validate_table
from nas.lutkit import import_kit_results, write_kit
from nas.space import get_space


def row(name: str, r: dict) -> str:  # type: ignore[type-arg]
    return (f"| {name} | {r['n']} | {r['mape']:.1f} | {r['within_10pct']:.2f} "
            f"| {r['kendall_tau']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default="mobilenet_v3")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--n", type=int, default=30, help="validation networks")
    ap.add_argument("--calibrate", type=int, default=30, help="calibration networks")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--statistic", choices=("median", "min"), default="min",
                    help="import-kit --statistic (min: steadier on this shared VM)")
    ap.add_argument("--quick", action="store_true", help="reduced smoke run (noisy figures)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.calibrate, args.repeats, args.rounds = 8, 8, 5, 2
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        manifest = write_kit(get_space(args.space), root / "kit", resolutions=[args.resolution],
                             widths=[args.width], classes=args.classes)
        t_kit = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(root / "kit" / "run_kit.py"), "--threads", "1",
                        "--repeats", str(args.repeats), "--rounds", str(args.rounds),
                        "--out", str(root / "results.csv")], check=True)
        t_run = time.perf_counter() - t0
        table, _ = import_kit_results(root / "results.csv", root / "kit",
                                      statistic=args.statistic)
        path = table.write(root / "kit_table.json")
        raw = validate_table(load_table(path), n=args.n, seed=1, progress=False)
        subprocess.run([sys.executable, "-m", "nas", "lut", "calibrate", str(path), "--n",
                        str(args.calibrate), "--no-progress"], check=True, capture_output=True)
        cal = validate_table(load_table(path), n=args.n, seed=1, progress=False)
    body = "\n".join([
        f"`python experiments/bench_fit_kit.py{' --quick' if args.quick else ''}`: space "
        f"{args.space}, {args.resolution}x{args.resolution}, width {args.width:g}, "
        f"{args.classes} classes; {len(manifest['blocks'])} block models exported in "
        f"{t_kit:.0f} s; the runner (onnxruntime CPUExecutionProvider, 1 thread, "
        f"{args.rounds} rounds x {args.repeats} calls, wall clock) took {t_run:.0f} s; "
        f"`import-kit --statistic {args.statistic}`. Validation: "
        f"{args.n} held-out networks measured end-to-end here (`nas lut validate`, seed 1); "
        f"calibration (`nas lut calibrate`) on {args.calibrate} other networks."
        + f" 1-min load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
        "(above ~0.5, other jobs shared the cores and the timings are not clean)."
        + (" **Quick run: figures are noisy.**" if args.quick else ""),
        "", "| table | n | MAPE % | within ±10% | Kendall τ |", "|---|---|---|---|---|",
        row("kit table, sum of blocks", raw), row("kit table + calibration", cal),
        row("FLOPs-proportional baseline", cal["baseline_flops"]),
    ])
    print(json.dumps({"raw": raw, "calibrated": cal}, indent=1, default=str)[:2000])
    write_section("bench_fit_kit", "On-device kit round trip (onnxruntime CPU as the device)", body)


if __name__ == "__main__":
    main()
