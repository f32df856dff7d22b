"""Export and train: export time per arch, digits accuracy reached, training time, and the
trained model's measured CPU latency beside the latency table's prediction.

Run (quiet machine; a few minutes per arch at the default 20 epochs on 2 cores):

    python experiments/bench_export_train.py                 # writes its RESULTS.md section
    python experiments/bench_export_train.py --epochs 3 --n-archs 1 --no-write   # smoke test

Digits archs come from the ``mobilenet_v3`` space at 32x32 (the quickstart's setting) with the
default digits recipe of ``nas export`` (AdamW, cosine, label smoothing, EMA). Reference archs
(224x224, 1000 classes) are only exported, to time the export (model.py + ONNX + checks).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _results import write_section

from nas._errors import NasError
from nas.arch import REFERENCES
from nas.export import arch_export_source, export_arch, train_export
from nas.space import get_space

TABLE = "cpu_torch_mobilenet_v3"


def digits_archs(n: int) -> list[str]:
    space = get_space("mobilenet_v3")
    rng = np.random.default_rng(0)
    return [space.sample(rng).replace(resolution=32).text for _ in range(n)]


def export_one(spec: str, out: Path, **kw: Any) -> tuple[dict[str, Any], float, str]:
    """Export with the CPU table's prediction when the table covers the arch."""
    note = ""
    t0 = time.perf_counter()
    try:
        src = arch_export_source(spec, tables=[TABLE], **kw)
    except NasError as exc:
        note = f"no table prediction ({exc})"
        src = arch_export_source(spec, **kw)
    info = export_arch(src, out)
    return info, time.perf_counter() - t0, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--n-archs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for training")
    ap.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = ap.parse_args()
    rows, export_rows, notes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(digits_archs(args.n_archs)):
            out = Path(tmp) / f"digits_{i}"
            info, export_s, note = export_one(spec, out, classes=10, in_channels=1, dataset="digits")
            if note:
                notes.append(f"arch {i}: {note}")
            result = train_export(out, epochs=args.epochs, progress=False, threads=args.threads)
            lat = result["latency"]
            pred = lat["predicted"][0] if lat["predicted"] else None
            rows.append([
                "`" + spec.replace("|", "\\|") + "`", f"{info['cost']['params'] / 1e6:.2f}M",
                f"{info['cost']['macs'] / 1e6:.1f}M",
                f"{export_s:.1f}", str(args.epochs), f"{result['train_time_s'] / args.epochs:.1f}",
                f"{result['final_test_acc']:.3f}", f"{result['best_test_acc']:.3f}",
                f"{lat['measured']['median_ms']:.2f}",
                f"{pred['measured_ms']:.2f} ({pred['compared_as']})" if pred else "—",
                f"{pred['predicted_ms']:.2f}" if pred else "—",
                f"{pred['measured_over_predicted']:.2f}" if pred else "—",
                f"{pred['anchor']['drift']:.2f}" if pred and "anchor" in pred else "—",
                f"{pred['measured_over_predicted_drift_corrected']:.2f}"
                if pred and "anchor" in pred else "—",
            ])
            print(rows[-1], flush=True)
        for name in REFERENCES:
            info, export_s, _ = export_one(name, Path(tmp) / name, classes=1000, in_channels=3)
            onnx = info["onnx"]["check"]
            export_rows.append([name, f"{export_s:.1f}", f"{onnx['max_abs_diff']:.1e}",
                                "yes" if info["timm"]["expressible"] else "no"])
            print(export_rows[-1], flush=True)
    body = [
        f"Digits (1,797 8x8 images upsampled to 32x32, 20% held out), default digits recipe of "
        f"`nas export` for {args.epochs} epochs, EMA weights evaluated. Latency of the trained "
        f"model: torch eager, 1 thread, batch 1, 200 runs after 20 warm-up runs; 'measured' is "
        f"the wall-clock median, 'measured like table' uses the table's clock and statistic "
        f"(thread-CPU time is not inflated by other processes on shared cores); prediction from "
        f"table `{TABLE}` when it covers the arch. The table's anchor network is timed in the "
        f"same rounds as the trained model; 'anchor drift' is its time now over its time at the "
        f"table's build (the machine's speed), and the last column divides it out, as "
        f"`nas lut validate` does. Training threads: {args.threads or torch.get_num_threads()}.",
        "",
        "| arch | params | MACs | export s | epochs | s/epoch | final acc | best acc | "
        "measured ms | measured like table ms | predicted ms | like-table/predicted | "
        "anchor drift | like-table/predicted, drift divided out |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "Export of the reference archs (224x224, 1000 classes): model.py + model.pt + ONNX "
        "(TorchScript exporter, opset 17) + onnxruntime check + timm arch_def.",
        "",
        "| reference | export s | ONNX max abs diff | timm arch_def |",
        "|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in export_rows),
        *(["", *notes] if notes else []),
    ]
    text = "\n".join(body)
    if args.no_write:
        print(text)
    else:
        write_section("export_train", "Export and training (digits)", text)


if __name__ == "__main__":
    main()
