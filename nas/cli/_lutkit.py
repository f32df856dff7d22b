"""``nas lut import|fit|eval|kit|import-kit|kernels``: tables for devices we cannot hold, and
kernel models for the keys a table lacks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.cli._common import add_json_flag, command_group, emit, flat_fields


def add_parsers(sub: argparse._SubParsersAction) -> None:
    lut = command_group(sub, "lut", "latency lookup tables")

    p = lut.add_parser("import", help="convert a published per-block table into our format")
    p.add_argument("src", help="the published file, or the folder holding it")
    p.add_argument("--format", required=True, help="ofa | proxylessnas | nnmeter | dpu-csv")
    p.add_argument("--device-name", help="device name to record (default: the source's)")
    p.add_argument("--space", help="map onto this space instead of the format's own")
    p.add_argument("--assume", action="append", default=[], metavar="KEY=MS",
                   help="an entry the source does not time, recorded as an assumption")
    p.add_argument("--out", required=True, help="table file to write (.json)")
    add_json_flag(p)
    p.set_defaults(func=cmd_import)

    p = lut.add_parser("fit", help="fit a table from whole-network latencies")
    _measurement_args(p)
    p.add_argument("--out", required=True, help="table file to write (.json)")
    p.add_argument("--model", default="auto", help="auto | keys | features")
    p.add_argument("--loss", default="huber", help="huber | l2 (relative residuals)")
    p.add_argument("--tune-scale", action="store_true",
                   help="fit a multiplicative correction maximizing training rows within 10%%")
    p.add_argument("--resolution-scale", default="auto",
                   help="one scale per input resolution: auto (kept when cross-validation on "
                        "the training rows says it helps) | on | off")
    p.add_argument("--device-name", help="device name to record")
    _drift_arg(p)
    p.set_defaults(func=cmd_fit)

    p = lut.add_parser("eval", help="score a table on measured whole networks")
    p.add_argument("table", help="table id or path")
    _measurement_args(p, split_default=None)
    p.add_argument("--approximate", action="store_true",
                   help="price keys the table lacks with its kernel model")
    _drift_arg(p)
    p.set_defaults(func=cmd_eval)

    p = lut.add_parser("kernels", help="fit a table's kernel model (prices keys it lacks) and "
                                       "report its held-out error")
    p.add_argument("table", help="table id or path")
    p.add_argument("--nnmeter", nargs="+", default=[], metavar="JSON",
                   help="nn-Meter <phone>_lut_ln_v3.json files of the table's phone: thousands "
                        "of measured blocks to fit the kernels' shape dependence on")
    p.add_argument("--tflite-profile", nargs=2, action="append", default=[],
                   metavar=("PROFILE", "ARCH"),
                   help="a TFLite benchmark_model per-op profile of ARCH (reference name, arch "
                        "text or file) on the table's device and runtime: its kernels count as "
                        "the table's own measurements (repeatable)")
    p.add_argument("--folds", type=int, default=5, help="k of the k-fold held-out error")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", action="store_true",
                   help="store the model in the table file (else only report)")
    add_json_flag(p)
    p.set_defaults(func=cmd_kernels)

    p = lut.add_parser("kit", help="write an on-device kit: one ONNX model per block + runner")
    p.add_argument("--space", required=True)
    p.add_argument("--resolution", type=int, nargs="+", required=True)
    p.add_argument("--width", type=float, nargs="+", help="width multipliers (default: all)")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--format", default="onnx", help="onnx (the only one)")
    p.add_argument("--limit", type=int, help="only the first N keys (a smoke test)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True, help="kit folder to write")
    add_json_flag(p)
    p.set_defaults(func=cmd_kit)

    p = lut.add_parser("import-kit", help="turn a kit runner's results CSV into a table")
    p.add_argument("results", help="results CSV written by the kit's run_kit.py")
    p.add_argument("--kit", required=True, help="the kit folder (its manifest.json)")
    p.add_argument("--device-name", help="device name to record (default: the runner's)")
    p.add_argument("--statistic", choices=("median", "min"), default="median",
                   help="what the table predicts from: each block's median time (default), or "
                        "its fastest (steadier on a shared or throttling device)")
    p.add_argument("--out", required=True, help="table file to write (.json)")
    add_json_flag(p)
    p.set_defaults(func=cmd_import_kit)


def _measurement_args(p: argparse.ArgumentParser, split_default: float | None = 0.2) -> None:
    p.add_argument("measurements", help="whole-network latency file")
    p.add_argument("--format", required=True, help="help-fbnet | help-ofa | csv")
    p.add_argument("--column", required=True, help="device column (e.g. pixel3, 2080ti_1)")
    p.add_argument("--space", help="space of the archs (csv: default from the arch text)")
    p.add_argument("--classes", type=int, help="classifier outputs (default per format)")
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--test-fraction", type=float, default=split_default,
                   help="rows held out (seeded split)" + (
                       "" if split_default is not None else "; default: score every row"))
    p.add_argument("--seed", type=int, default=0, help="seed of the split")
    p.add_argument("--split", default="random",
                   help="random | tail: which rows are held out: a seeded random share "
                        "(default), or the last rows in file order (networks timed last: the "
                        "session's drift counts against the fit)")
    add_json_flag(p)


def _drift_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drift-window", default=0, metavar="K|auto",
                   help="model the device's drift over the session: per row, the median "
                        "measured/predicted of training rows within K rows in file order "
                        "(0: off; auto: K chosen on the training rows)")


def _out(path: str) -> Path:
    out = Path(path)
    if out.suffix != ".json":
        raise NasError(f"--out {path}: a table file must end in .json")
    return out


def _read(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from nas.lutkit import read_measurements

    return read_measurements(args.measurements, args.format, space=args.space,
                             classes=args.classes, in_channels=args.in_channels)


def _show(args: argparse.Namespace, data: dict[str, Any]) -> None:
    emit(args, data, lambda: flat_fields(data))


def cmd_import(args: argparse.Namespace) -> int:
    from nas.lutkit import import_table

    out = _out(args.out)
    table, summary = import_table(args.src, args.format, device_name=args.device_name,
                                  space=args.space, assume=args.assume)
    table.write(out)
    _show(args, {"out": str(out), "id": table.id, "content_hash": table.content_hash, **summary})
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from nas.lutkit import FitOptions, fit_table

    out = _out(args.out)
    options = FitOptions(model=args.model, loss=args.loss, scale=args.tune_scale,
                         drift_window=args.drift_window, resolution_scale=args.resolution_scale)
    result = fit_table(_read(args), args.column, test_fraction=args.test_fraction,
                       seed=args.seed, options=options, device_name=args.device_name,
                       split=args.split)
    result.table.write(out)
    _show(args, {"out": str(out), "id": result.table.id,
                 "content_hash": result.table.content_hash, **result.summary})
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from nas.latency import load_table
    from nas.lutkit import evaluate

    _show(args, evaluate(load_table(args.table), _read(args), args.column,
                         test_fraction=args.test_fraction, seed=args.seed, split=args.split,
                         approximate=args.approximate, drift_window=args.drift_window))
    return 0


def cmd_kernels(args: argparse.Namespace) -> int:
    from nas.cli._common import pct, resolve_arch
    from nas.cli._common import table as print_table
    from nas.latency import find_table, read_table
    from nas.lutkit import fit_table_kernels

    path = find_table(args.table)
    table = read_table(path)
    profiles = [(prof, resolve_arch(arch, None, None)[0]) for prof, arch in args.tflite_profile]
    model = fit_table_kernels(table, args.nnmeter, profiles=profiles, folds=args.folds,
                              seed=args.seed)
    if args.write:
        table.write(path)
    out = {"table": table.id, "path": str(path), "written": bool(args.write),
           **model.to_dict()}

    def human() -> None:
        print(f"{table.id}: kernel model family {model.family!r} (held-out, {args.folds}-fold)"
              + (f", written to {path}" if args.write else " (not written: --write)"))
        print_table(["family", "keys", "MAPE", "WAPE", "within ±10%", "extra MAPE"],
                    [[f + (" (chosen)" if f == model.family else ""), h.get("n"),
                      pct(_frac(h.get("mape_pct"))), pct(_frac(h.get("wape_pct"))),
                      pct(h.get("within10")), pct(_frac(h.get("extra_mape_pct")))]
                     for f, h in model.held_out.items()])
        print("sources: " + "; ".join(model.sources))

    emit(args, out, human)
    return 0


def _frac(percent: float | None) -> float | None:
    return None if percent is None else percent / 100


def cmd_kit(args: argparse.Namespace) -> int:
    from nas.lutkit import write_kit
    from nas.space import get_space

    if args.format != "onnx":
        raise NasError(f"--format {args.format!r}: only onnx kits are written")
    manifest = write_kit(get_space(args.space), args.out, resolutions=args.resolution,
                         widths=args.width, classes=args.classes, in_channels=args.in_channels,
                         batch=args.batch, limit=args.limit, progress=not args.no_progress)
    _show(args, {"out": args.out, "models": len(manifest["blocks"]),
                 "configs": manifest["configs"], "runner": manifest["runner"]})
    return 0


def cmd_import_kit(args: argparse.Namespace) -> int:
    from nas.lutkit import import_kit_results

    out = _out(args.out)
    table, summary = import_kit_results(args.results, args.kit, device_name=args.device_name,
                                        statistic=args.statistic)
    table.write(out)
    _show(args, {"out": str(out), "id": table.id, "content_hash": table.content_hash, **summary})
    return 0
