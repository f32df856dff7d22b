"""Issue 8 in one command: build, calibrate and validate GPU latency tables into one folder.

For every space (mobilenet_v3, mobilenet_v2, efficientnet) x batch (1, 64) x dtype (float32,
float16): ``nas lut build`` with the CUDA backend for the ImageNet config (224 px, 3 channels,
1000 classes) and the quickstart config (32 px, 1 channel, 10 classes) into one table, fit its
calibration on whole networks, then validate it on held-out networks (``--n`` per config) on the
same GPU. Everything lands in OUT_DIR::

    OUT_DIR/tables/<id>.json           the tables (device fingerprint: GPU, driver, CUDA, torch)
    OUT_DIR/validation/<id>.json|csv|png
    OUT_DIR/summary.json, summary.md   accuracy per resolution, build/calibration/validation s
    experiments/RESULTS.md             its gpu_tables section (CUDA runs), from summary.md

Then copy the tables you keep into latency_tables/ (ids ``cuda_torch_<space>_b<B>_<dtype>``).

Resumable: finished steps are skipped on a rerun (a killed build loses at most one chunk of
keys), so under a per-command time limit rerun the same command until ``summary.md`` lists all
12 tables; ``--spaces``/``--batches``/``--dtypes`` select a part. On a machine without a GPU, check it
with the CPU and tiny spaces (a few keys, a few networks)::

    python experiments/gpu_tables.py /tmp/gpu_check --device cpu --tiny
    python experiments/gpu_tables.py results/gpu_h100            # on the GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

# Runnable from a bare checkout (nas not pip-installed) on the GPU machine.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPACES = ("mobilenet_v3", "mobilenet_v2", "efficientnet")
# (resolution, in_channels, classes): ImageNet, and the quickstart's 32x32 grayscale digits.
CONFIGS = ((224, 3, 1000), (32, 1, 10))
TINY_CONFIGS = ((64, 3, 1000), (32, 1, 10))
GPU_TIMING = {"rounds": 5, "round_ms": 5.0, "min_reps": 3, "max_reps": 200, "warmup_ms": 20.0}
GPU_NET_TIMING = {"rounds": 5, "round_ms": 10.0, "min_reps": 3, "max_reps": 50, "warmup_ms": 30.0}
TINY_TIMING = {"rounds": 2, "round_ms": 1.0, "min_reps": 2, "max_reps": 20, "warmup_ms": 2.0}
TINY_NET_TIMING = {"rounds": 2, "round_ms": 2.0, "min_reps": 2, "max_reps": 5, "warmup_ms": 2.0}


def tiny_space_file(name: str, folder: Path) -> str:
    """Write a reduced copy of space ``name`` (first choices only, two kernels) as ``NAME_tiny``."""
    from nas.space import get_space

    data = yaml.safe_load(Path(get_space(name).path).read_text())
    data["name"] = f"{name}_tiny"
    data["description"] = f"tiny subset of {name} for checking scripts on a CPU"
    for stage in data["stages"]:
        for key, keep in (("out", 1), ("depth", 2), ("kernel", 2), ("expand", 1), ("se", 1),
                          ("ops", 2)):
            if isinstance(stage.get(key), list):
                stage[key] = stage[key][:keep]
    if "scaling" in data:
        first = next(iter(data["scaling"]))
        data["scaling"] = {first: data["scaling"][first]}
    else:
        data["resolution"] = [TINY_CONFIGS[0][0]]
        if isinstance(data.get("width"), list):
            data["width"] = data["width"][:1]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}_tiny.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return f"{name}_tiny"


def run_one(space_name: str, batch: int, dtype: str, args: argparse.Namespace, out: Path
            ) -> dict[str, Any]:
    from nas.latency import read_table
    from nas.latency._build import build_table
    from nas.latency._networks import calibrate_and_write
    from nas.latency._settings import Settings
    from nas.latency._validate import validate_table
    from nas.space import get_space

    timing = TINY_TIMING if args.tiny else GPU_TIMING if args.device == "cuda" else {}
    net_timing = TINY_NET_TIMING if args.tiny else GPU_NET_TIMING if args.device == "cuda" else None
    settings = Settings(device=args.device, backend="torch", threads=1, batch=batch, dtype=dtype,
                        **timing)
    tid = f"{args.device}_torch_{space_name}_b{batch}_{dtype}"
    path = out / "tables" / f"{tid}.json"
    space = get_space(space_name)
    for res, cin, classes in TINY_CONFIGS if args.tiny else CONFIGS:
        report = build_table(space, settings, path, resolutions=[res], classes=classes,
                             in_channels=cin, progress=not args.no_progress)
        print(f"{tid}: r{res} {report.measured} keys measured, {report.skipped} kept", flush=True)
    table = read_table(path)
    if table.calibration is None:
        calibrate_and_write(table, path, n=args.cal_n, seed=0, timing=net_timing,
                            progress=not args.no_progress)  # resumes an interrupted calibration
        print(f"{tid}: calibrated on {len(table.calibration.samples)} networks", flush=True)
    val_json = out / "validation" / f"{tid}.json"
    if val_json.is_file():
        val = json.loads(val_json.read_text())
    else:
        val = validate_table(table, n=args.n, seed=1, out_dir=out / "validation",
                             timing=net_timing, progress=not args.no_progress)
        val_json.write_text(json.dumps(val, indent=1) + "\n")
    print(f"{tid}: within ±10% {val['within_10pct']:.0%}, tau {val['kendall_tau']}", flush=True)
    cal = table.calibration
    return {"table": tid, "space": space_name, "batch": batch, "dtype": dtype,
            "device": table.device.get("name"), "entries": len(table),
            "content_hash": table.content_hash,
            "build_seconds": table.measurement.get("build_seconds"),
            "calibration_seconds": cal.meta.get("seconds") if cal else None,
            "validation_seconds": val.get("seconds"),
            "per_resolution": val["per_resolution"]}


def _tau(m: dict[str, Any]) -> str:
    return "—" if m.get("kendall_tau") is None else f"{m['kendall_tau']:.3f}"


def summary_md(rows: list[dict[str, Any]], fingerprint: dict[str, Any], seconds: float) -> str:
    lines = [f"GPU tables on {fingerprint.get('name')} (driver {fingerprint.get('driver')}, "
             f"CUDA {fingerprint.get('cuda')}, torch {fingerprint.get('torch_version')}); "
             f"script run time {seconds:.0f} s.", "",
             "| table | res | n | within ±10% | Kendall τ | MAPE % | naive within ±10% | "
             "FLOPs baseline within ±10% / τ | build s | calibration s | validation s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for res, g in r["per_resolution"].items():
            m, nv, fb = g["model"], g["naive_sum"], g["baseline_flops"]
            lines.append(
                f"| `{r['table']}` | {res} | {m['n']} | {m['within_10pct']:.0%} | "
                f"{_tau(m)} | {m['mape']:.1f} | {nv['within_10pct']:.0%} | "
                f"{fb['within_10pct']:.0%} / {_tau(fb)} | {r['build_seconds']:.0f} | "
                f"{r['calibration_seconds']:.0f} | {r['validation_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def write_results_section(body: str, out: Path) -> None:
    """Replace only the ``gpu_tables`` section of experiments/RESULTS.md."""
    import re

    path = Path(__file__).resolve().parent / "RESULTS.md"
    text = (f"<!-- BEGIN gpu_tables -->\n## GPU latency tables (`experiments/gpu_tables.py`)\n\n"
            f"{body}\nTables, validation CSV/PNG and JSON: `{out}`.\n<!-- END gpu_tables -->")
    old = path.read_text() if path.is_file() else "# Benchmark results\n"
    pattern = re.compile(r"<!-- BEGIN gpu_tables -->.*?<!-- END gpu_tables -->", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip() + "\n\n" + text
    path.write_text(new.rstrip() + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out", help="folder for tables, validation files and the summary")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--tiny", action="store_true", help="tiny spaces, few networks (checks)")
    ap.add_argument("--spaces", nargs="+", default=list(SPACES))
    ap.add_argument("--batches", nargs="+", type=int)
    ap.add_argument("--dtypes", nargs="+", choices=("float32", "float16"))
    ap.add_argument("--n", type=int, help="validation networks per config (default 50; tiny 4)")
    ap.add_argument("--cal-n", type=int, help="calibration networks per config (default 40)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--no-results", action="store_true",
                    help="do not write the gpu_tables section of experiments/RESULTS.md "
                         "(written after CUDA runs)")
    args = ap.parse_args()
    args.batches = args.batches or ([1, 2] if args.tiny else [1, 64])
    args.dtypes = args.dtypes or (["float32"] if args.device == "cpu" else ["float32", "float16"])
    args.n = args.n or (4 if args.tiny else 50)
    args.cal_n = args.cal_n or (6 if args.tiny else 40)
    out = Path(args.out)
    (out / "validation").mkdir(parents=True, exist_ok=True)
    if args.tiny:
        folder = out / "spaces"
        args.spaces = [tiny_space_file(s, folder) for s in args.spaces]
        os.environ["HWNAS_SPACE_PATH"] = os.pathsep.join(
            [str(folder.resolve()), *filter(None, [os.environ.get("HWNAS_SPACE_PATH")])])
    from nas.latency._backends import check_available
    from nas.latency._fingerprint import device_fingerprint
    from nas.latency._settings import Settings

    probe = Settings(device=args.device)
    check_available(probe)
    t0 = time.perf_counter()
    rows = [run_one(s, b, d, args, out) for s in args.spaces for b in args.batches
            for d in args.dtypes]
    seconds = time.perf_counter() - t0
    fp = device_fingerprint(probe)
    old = json.loads((out / "summary.json").read_text())["rows"] if (
        out / "summary.json").is_file() else []
    merged = {r["table"]: r for r in [*old, *rows]}
    all_rows = [merged[k] for k in sorted(merged)]
    (out / "summary.json").write_text(json.dumps({"device": fp, "seconds_last_run": seconds,
                                                  "rows": all_rows}, indent=1) + "\n")
    (out / "summary.md").write_text(summary_md(all_rows, fp, seconds))
    if args.device == "cuda" and not args.tiny and not args.no_results:
        write_results_section(summary_md(all_rows, fp, seconds), out)
    print(f"done in {seconds:.0f} s: {out / 'summary.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
