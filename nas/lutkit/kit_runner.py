#!/usr/bin/env python3
"""Time every block model of an hwnas latency kit on this device with onnxruntime.

Standalone: needs only Python 3.8+, numpy and onnxruntime (e.g. on an Android phone's Python,
in Termux, or on a board). Copied into each kit as ``run_kit.py`` by ``nas lut kit``.

    python run_kit.py --provider CPUExecutionProvider --threads 1 --repeats 20 --out results.csv
    python run_kit.py --provider NNAPIExecutionProvider --out results_nnapi.csv
    python run_kit.py --provider QNNExecutionProvider --provider-option backend_path=libQnnHtp.so

Every model is timed in ``--rounds`` rounds; in each round the models of a chunk run in a fresh
random order, each ``--repeats`` times after its warm-up, so slow drifts (thermal throttling,
other load) spread over all blocks instead of a few. The results CSV starts with ``#`` lines
holding the device fingerprint (platform, processor, onnxruntime version, provider, threads) and
the kit id, then one row per block: key, samples, median/mean/p90/std/min in ms, and the
execution providers onnxruntime actually used (a node an NPU provider rejects runs on the CPU).
Turn it into a table with ``nas lut import-kit results.csv --kit KIT --out table.json``.

Resumable: rows go to ``OUT.tmp`` chunk by chunk and the file becomes ``OUT`` at the end. Killed
(a phone's OS stopping the app, a reboot), the same command again keeps the models that file
already holds and times only the rest; a partial file from other settings is refused, not lost.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

RESULTS_FORMAT = "hwnas-kit-results"
RESULTS_VERSION = 1
COLUMNS = ["key", "file", "n", "median_ms", "mean_ms", "p90_ms", "std_ms", "min_ms", "providers"]


def cpu_model() -> str:
    """CPU model name: /proc/cpuinfo 'model name' (x86) or 'Hardware' (ARM), else platform."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        lines = info.read_text(errors="replace").splitlines()
        for field in ("model name", "hardware", "processor"):
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == field and value.strip() and not value.strip().isdigit():
                    return value.strip()
    return platform.processor() or platform.machine() or "unknown cpu"


def android_model() -> str | None:
    exe = shutil.which("getprop")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "ro.product.model"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def fingerprint(args: argparse.Namespace, kit_id: str) -> dict:
    return {
        "format": RESULTS_FORMAT, "version": RESULTS_VERSION, "kit_id": kit_id,
        "platform": platform.platform(), "machine": platform.machine(),
        "processor": platform.processor(), "cpu_model": cpu_model(),
        "android_model": android_model(), "cores": os.cpu_count(),
        "python": platform.python_version(), "onnxruntime": ort.__version__,
        "numpy": np.__version__, "provider": args.provider,
        "provider_options": dict(args.provider_option), "threads": args.threads,
        "repeats": args.repeats, "rounds": args.rounds, "warmup": args.warmup,
        # timezone.utc, not datetime.UTC: the runner must work on Python 3.8 (phones, boards)
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),  # noqa: UP017
    }


def make_session(path: Path, args: argparse.Namespace) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers: list = [(args.provider, dict(args.provider_option))]
    if args.provider != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")  # nodes the accelerator rejects
    return ort.InferenceSession(str(path), so, providers=providers)


def time_chunk(items: list, args: argparse.Namespace, rng: random.Random) -> dict:
    """Samples (ms) per key for one chunk of (key, session, feed) items, interleaved."""
    samples: dict = {key: [] for key, _, _ in items}
    for _, sess, feed in items:
        for _ in range(args.warmup):
            sess.run(None, feed)
    for _ in range(args.rounds):
        order = list(items)
        rng.shuffle(order)
        for key, sess, feed in order:
            for _ in range(args.repeats):
                t0 = time.perf_counter_ns()
                sess.run(None, feed)
                samples[key].append((time.perf_counter_ns() - t0) / 1e6)
    return samples


def stats(x: list) -> dict:
    a = np.asarray(x, dtype=float)
    return {"n": int(a.size), "median_ms": float(np.median(a)), "mean_ms": float(a.mean()),
            "p90_ms": float(np.percentile(a, 90)), "std_ms": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min_ms": float(a.min())}


def _same_run(fp: dict) -> dict:
    """What must match for a partial file to be resumed (all but the date)."""
    return {k: v for k, v in fp.items() if k != "date"}


def resume(tmp: Path, fp: dict) -> tuple:
    """(fingerprint, rows) of an interrupted run of the same settings in ``tmp``, or
    ``(fp, [])`` when there is none. A torn last row (killed mid-write) is dropped."""
    if not tmp.is_file():
        return fp, []
    lines = tmp.read_text().splitlines()
    head = f"# {RESULTS_FORMAT} {RESULTS_VERSION}"
    try:
        old = json.loads(lines[1][len("# fingerprint "):]) if len(lines) > 1 else None
    except json.JSONDecodeError:
        old = None
    if not lines or lines[0] != head or not isinstance(old, dict):
        sys.exit(f"run_kit: {tmp}: not a partial results file of this runner; delete it")
    if _same_run(old) != _same_run(fp):
        diff = sorted(k for k in set(old) | set(fp) if k != "date" and old.get(k) != fp.get(k))
        sys.exit(f"run_kit: {tmp}: an interrupted run with other settings ({', '.join(diff)}); "
                 "rerun it with those to finish it, or delete the file to start this one")
    rows = []
    for row in csv.DictReader(lines[2:]):
        try:
            complete = all(row.get(c) not in (None, "") for c in COLUMNS)
            complete = complete and float(row["min_ms"]) >= 0
        except ValueError:
            complete = False
        if not complete:
            break  # only the last row can be torn; nothing after it was written
        rows.append({c: row[c] for c in COLUMNS})
    return old, rows


def parse_args(argv: list | None = None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kit", default=str(here), help="kit folder (default: this script's)")
    p.add_argument("--provider", default="CPUExecutionProvider",
                   help="onnxruntime execution provider, e.g. CPUExecutionProvider, "
                        "NNAPIExecutionProvider, QNNExecutionProvider, CoreMLExecutionProvider")
    p.add_argument("--provider-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the provider (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per model per round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per model first")
    p.add_argument("--chunk", type=int, default=16, help="models interleaved together")
    p.add_argument("--limit", type=int, help="only the first N models (a smoke test)")
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaving order")
    p.add_argument("--out", default="results.csv", help="results CSV to write")
    args = p.parse_args(argv)
    for name in ("threads", "repeats", "rounds", "chunk"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    bad = [o for o in args.provider_option if "=" not in o]
    if bad:
        p.error(f"--provider-option {bad[0]!r}: expected KEY=VALUE")
    args.provider_option = [tuple(o.split("=", 1)) for o in args.provider_option]
    if args.provider not in ort.get_available_providers():
        p.error(f"--provider {args.provider}: not in this onnxruntime build "
                f"({', '.join(ort.get_available_providers())})")
    return args


def main(argv: list | None = None) -> int:
    args = parse_args(argv)
    kit = Path(args.kit)
    manifest_path = kit / "manifest.json"
    if not manifest_path.is_file():
        sys.exit(f"run_kit: {manifest_path}: no kit manifest here (use --kit DIR)")
    manifest = json.loads(manifest_path.read_text())
    blocks = manifest["blocks"][: args.limit] if args.limit else manifest["blocks"]
    rng = random.Random(args.seed)
    feed_rng = np.random.default_rng(0)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    fp, kept = resume(tmp, fingerprint(args, manifest["kit_id"]))
    # Rewrite the partial file without a torn row (atomically), then append to it.
    fresh = tmp.with_name(tmp.name + ".new")
    with fresh.open("w", newline="") as fh:
        fh.write(f"# {RESULTS_FORMAT} {RESULTS_VERSION}\n")
        fh.write("# fingerprint " + json.dumps(fp, sort_keys=True) + "\n")
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(kept)
    os.replace(fresh, tmp)
    have = {row["key"] for row in kept}
    todo = [b for b in blocks if b["key"] not in have]
    if kept:
        print(f"run_kit: resuming {tmp}: {len(blocks) - len(todo)} of {len(blocks)} models "
              "already timed", file=sys.stderr)
    t_start = time.perf_counter()
    with tmp.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        for start in range(0, len(todo), args.chunk):
            items, used = [], {}
            for b in todo[start:start + args.chunk]:
                sess = make_session(kit / b["file"], args)
                inp = sess.get_inputs()[0]
                shape = [int(d) for d in b["input_shape"]]
                feed = {inp.name: feed_rng.standard_normal(shape).astype(np.float32)}
                items.append((b["key"], sess, feed))
                used[b["key"]] = (b["file"], "+".join(sess.get_providers()))
            for key, samples in time_chunk(items, args, rng).items():
                writer.writerow({"key": key, "file": used[key][0], **stats(samples),
                                 "providers": used[key][1]})
            fh.flush()
            done = len(blocks) - len(todo) + min(start + args.chunk, len(todo))
            print(f"run_kit: {done}/{len(blocks)} models, {time.perf_counter() - t_start:.0f} s",
                  file=sys.stderr)
    os.replace(tmp, out)
    print(f"run_kit: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
