"""``nas train EXPORT_DIR --data ...``: train an exported architecture (see :mod:`nas.train`)."""

from __future__ import annotations

import argparse
from typing import Any

from nas.cli._common import add_json_flag, emit, fields, ms, pct, table, warn


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an exported architecture (standard recipe, resumable)",
                       description="Train the architecture of a `nas export` folder with the recipe "
                                   "in its train.yaml; writes metrics.csv, learning_curve.png, "
                                   "checkpoint.pt, model.pt and result.json into --out, and the "
                                   "trained weights back into the export folder.")
    p.add_argument("export_dir", help="folder written by `nas export`")
    p.add_argument("--data", help="digits | cifar10:PATH | imagefolder:PATH (default: train.yaml's)")
    p.add_argument("--epochs", type=int, help="epochs (default: train.yaml's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--out", help="output folder (default EXPORT_DIR/train)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--latency-runs", type=int, default=200,
                   help="timed runs for the final CPU latency measurement (default 200)")
    p.add_argument("--no-update-export", action="store_true",
                   help="leave the export's model.pt / model.onnx untouched")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.add_argument("--from-scratch", action="store_true",
                   help="ignore supernet-inherited weights in the export's model.pt")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from nas.export import train_export

    result = train_export(args.export_dir, data=args.data, epochs=args.epochs, device=args.device,
                   resume=args.resume, out=args.out, progress=not args.no_progress,
                   latency_runs=args.latency_runs, update_export=not args.no_update_export,
                   threads=args.threads, from_scratch=args.from_scratch)
    for message in result.get("warnings", []):
        warn(message)
    latency = result["latency"]
    path = f"{args.out or args.export_dir + '/train'}/result.json"
    emit(args, {
        "final_test_acc": result["final_test_acc"],
        "best_test_acc": result["best_test_acc"],
        "best_epoch": result["best_epoch"],
        "train_time_s": result["train_time_s"],
        "latency_measured_ms": latency["measured"]["median_ms"],
        "latency_predicted": latency["predicted"],
        "result": path,
    }, lambda: _human(result, path))
    return 0


def _human(result: dict[str, Any], path: str) -> None:
    raw = result.get("raw_final_test_acc")
    latency = result["latency"]
    fields([
        ("arch", result["arch"]),
        ("dataset", f"{result['dataset']}, {result['epochs']} epoch{'s' if result['epochs'] != 1 else ''} "
                    f"on {result['device']}"),
        ("test accuracy", f"{pct(result['final_test_acc'])} ({result['evaluated']} weights, final epoch)"),
        ("raw weights", pct(raw) if result["evaluated"] == "ema" else None),
        ("best", f"{pct(result['best_test_acc'])} at epoch {result['best_epoch']}"),
        ("train time", f"{result['train_time_s']:.1f} s"),
        ("latency here", f"{ms(latency['measured']['median_ms'])} (torch, median)"),
        ("result", path),
    ])
    predicted = latency.get("predicted") or []
    if predicted:
        print()
        table(["table", "predicted", "measured", "measured/predicted", "comparable"],
              [[p.get("table"), ms(p.get("predicted_ms")), ms(p.get("measured_ms")),
                f"{p['measured_over_predicted']:.2f}x" if p.get("measured_over_predicted") else None,
                "yes" if p.get("comparable") else "no"] for p in predicted])
