"""``nas export``: write chosen architectures (from a run, or a given arch) for training elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from nas.cli._common import add_json_flag, emit, mega, table, yes_no


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export archs of a run (or one arch) as model.py, weights, ONNX, timm, train.yaml",
        description="TARGET is a run folder (from `nas search`) with --trial N, --pareto or --best "
                    "OBJECTIVE; or a reference name / canonical arch text / arch JSON file.")
    p.add_argument("target", help="run folder, reference name, canonical arch text, or arch JSON file")
    p.add_argument("--out", required=True, help="output folder (DIR/trial_N per arch for several)")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument("--trial", type=int, help="export this trial of the run")
    pick.add_argument("--pareto", action="store_true", help="export every feasible Pareto trial")
    pick.add_argument("--best", metavar="OBJECTIVE", help="export the best feasible trial by this score")
    p.add_argument("--where", action="append", default=[], metavar="EXPR",
                   help="filter for --best/--pareto, e.g. 'latency:cpu_torch_mobilenet_v3<=12' "
                        "(repeatable; all must hold)")
    p.add_argument("--classes", type=int, help="classifier outputs (arch target; default 1000)")
    p.add_argument("--in-channels", type=int, help="image channels (arch target; default 3)")
    p.add_argument("--resolution", type=int, help="input resolution (arch target; default the arch's)")
    p.add_argument("--data", help="dataset for train.yaml (arch target; a run's dataset by default)")
    p.add_argument("--table", action="append", default=[], metavar="TABLE",
                   help="latency table whose prediction goes into arch.json (arch target; repeatable)")
    p.add_argument("--no-onnx", action="store_true", help="skip model.onnx")
    p.add_argument("--onnx-exporter", default="torchscript", choices=("torchscript", "dynamo"),
                   help="torch.onnx exporter (default torchscript: several times faster here)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights in model.pt")
    add_json_flag(p)
    p.add_argument("--from-supernet", metavar="DIR",
                   help="write the weights inherited from this supernet (BN recalibrated) into "
                        "model.pt; `nas train` then fine-tunes them (default for a run scored by a "
                        "supernet or predictor evaluator: its checkpoint)")
    p.set_defaults(func=cmd_export)


def _summary(out: Path, info: dict[str, Any]) -> dict[str, Any]:
    onnx = info.get("onnx") or {}
    return {
        "dir": str(out),
        "arch": info["arch"],
        "trial": info["provenance"].get("trial"),
        "params": info["cost"]["params"],
        "macs": info["cost"]["macs"],
        "params_macs_match": info["checks"]["params"]["equal"] and info["checks"]["macs"]["equal"],
        "model_py_ok": info["checks"]["model_py"]["passed"],
        "onnx_ok": onnx.get("check", {}).get("passed") if onnx else None,
        "timm_expressible": info["timm"]["expressible"],
    }


def _print(args: argparse.Namespace, rows: list[dict[str, Any]], data: Any) -> None:
    emit(args, data, lambda: table(
        ["folder", "trial", "MACs", "params", "costs match", "model.py", "ONNX", "timm", "arch"],
        [[r["dir"], r["trial"], mega(r["macs"], "MACs"), mega(r["params"], "params"),
          yes_no(r["params_macs_match"]), "ok" if r["model_py_ok"] else "FAILED",
          {None: "—", True: "ok", False: "FAILED"}[r["onnx_ok"]], yes_no(r["timm_expressible"]),
          r["arch"]] for r in rows]))


def _not_a_run(target: Path, flag: str) -> NoReturn:
    """The error for a run-only option whose TARGET is no run folder."""
    from nas._errors import NasError
    from nas.arch import load_arch

    need = f"{flag} needs a run folder written by `nas search` as TARGET"
    try:
        import nas.lutkit  # noqa: F401 - registers the net.config arch format with load_arch

        arch = load_arch(str(target))
    except NasError:
        raise NasError(f"{target}: no such run folder ({need})") from None
    raise NasError(f"{need}, got the arch {arch.text}")


def _run_supernet(run_dir: Path) -> str | None:
    """The checkpoint of a run scored by a ``supernet`` or ``predictor`` evaluator."""
    from nas.search import load_run

    evaluator = load_run(run_dir).info["config"].get("evaluator") or {}
    return evaluator.get("checkpoint") if evaluator.get("kind") in ("supernet", "predictor") else None


def _supernet_info(directory: str) -> dict[str, Any]:
    from nas.supernet import read_checkpoint

    ckpt = read_checkpoint(directory)
    return {k: ckpt[k] for k in ("classes", "in_channels", "dataset")}


def cmd_export(args: argparse.Namespace) -> int:
    from nas._errors import NasError
    from nas.export import arch_export_source, export_arch, export_run, is_run_dir

    onnx = dict(onnx=not args.no_onnx, onnx_exporter=args.onnx_exporter, seed=args.seed)
    target = Path(args.target)
    if is_run_dir(target):
        for flag, value in (("--classes", args.classes), ("--in-channels", args.in_channels),
                            ("--resolution", args.resolution), ("--data", args.data)):
            if value is not None:
                raise NasError(f"{flag}: a run fixes it; give it only with an arch target")
        if args.table:
            raise NasError("--table: a run records its own latency tables; give it only with an arch")
        if args.trial is None and not args.pareto and args.best is None:
            raise NasError(f"{target} is a run folder: choose with --trial N, --pareto or --best OBJECTIVE")
        if args.where and args.trial is not None:
            raise NasError("--where filters --best and --pareto, not --trial")
        results = export_run(target, args.out, trial=args.trial, pareto=args.pareto, best=args.best,
                             where=args.where, **onnx)
        supernet = args.from_supernet or _run_supernet(target)
        if supernet:
            from nas.cli._supernet import inherit_weights

            results = [(out, inherit_weights(out, supernet)) for out, _ in results]
        rows = [_summary(out, info) for out, info in results]
        _print(args, rows, rows)
        return 0
    if target.is_dir():
        raise NasError(f"{target}: a folder without run.json; expected a run folder from "
                       "`nas search`, a reference name, canonical arch text or an arch JSON file")
    for flag, given in (("--trial", args.trial is not None), ("--best", args.best is not None),
                        ("--pareto", args.pareto), ("--where", bool(args.where))):
        if given:
            _not_a_run(target, flag)
    sn = _supernet_info(args.from_supernet) if args.from_supernet else {}
    src = arch_export_source(args.target,
                             classes=sn.get("classes", 1000) if args.classes is None else args.classes,
                             in_channels=(sn.get("in_channels", 3) if args.in_channels is None
                                          else args.in_channels),
                             resolution=args.resolution,
                             dataset=args.data or sn.get("dataset", ""), tables=args.table)
    info = export_arch(src, args.out, **onnx)
    if args.from_supernet:
        from nas.cli._supernet import inherit_weights

        info = inherit_weights(Path(args.out), args.from_supernet)
    row = _summary(Path(args.out), info)
    _print(args, [row], row)
    return 0
