"""``nas supernet train CONFIG --out DIR`` and ``nas supernet eval DIR ARCH...``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas.cli._common import command_group, print_json


def add_parsers(sub: argparse._SubParsersAction) -> None:
    group = command_group(sub, "supernet", "train a weight-sharing supernet; score subnets with it")
    p = group.add_parser(
        "train", help="train a supernet (sandwich rule, in-place distillation, resumable)",
        description="Train the supernet of CONFIG's space on its dataset; writes checkpoint.pt "
                    "(every epoch, atomically), supernet.yaml, metrics.csv and accuracy.png into "
                    "--out. See experiments/supernet_digits.yaml for the fields.")
    p.add_argument("config", help="supernet recipe (YAML)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="one line per epoch, no bar")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.set_defaults(func=cmd_train)
    e = group.add_parser(
        "eval", help="accuracy of subnets with inherited weights (BN recalibrated)",
        description="Extract each ARCH from the supernet in DIR with its inherited weights, "
                    "recalibrate BatchNorm on a fixed subset of training images and report its "
                    "accuracy on minival (or --split test).")
    e.add_argument("dir", help="supernet folder (from `nas supernet train`)")
    e.add_argument("archs", nargs="+", metavar="ARCH",
                   help="canonical arch text, reference name or arch JSON file")
    e.add_argument("--split", choices=("minival", "test"), default="minival",
                   help="minival (default; for ranking) or test (for final figures)")
    e.add_argument("--bn-images", type=int, help="BN recalibration images (default: the recipe's)")
    e.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    e.add_argument("--json", action="store_true", help="JSON: one object per arch")
    e.set_defaults(func=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from nas.supernet import SupernetConfig, train_supernet

    config = SupernetConfig.load(args.config)
    result = train_supernet(config, args.out, resume=args.resume,
                            progress=False if args.no_progress else None)
    if args.json:
        print_json(result)
    else:
        print(f"supernet: {result['epochs_done']}/{result['epochs']} epochs; minival largest "
              f"{result.get('largest_acc', float('nan')):.4f}, smallest "
              f"{result.get('smallest_acc', float('nan')):.4f}; {Path(args.out) / 'checkpoint.pt'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from nas.cost import arch_cost
    from nas.supernet import SubnetScorer

    scorer = SubnetScorer(args.dir, split=args.split, bn_images=args.bn_images, threads=args.threads)
    archs = [scorer.arch(a) for a in args.archs]  # every arch checked before any is scored
    sn = scorer.supernet
    rows = []
    for a in archs:
        s = scorer.score_timed(a)
        macs = arch_cost(a, sn.space, classes=sn.classes, in_channels=sn.in_channels).macs
        rows.append({"arch": s.arch, "accuracy": s.accuracy, "split": args.split, "macs": macs,
                     "seconds": round(s.seconds, 3)})
    if args.json:
        print_json(rows)
        return 0
    print(f"{'accuracy':>8}  {'MACs':>10}  {'s':>6}  arch ({args.split}, {sn.path})")
    for r in rows:
        print(f"{r['accuracy']:8.4f}  {r['macs']:10d}  {r['seconds']:6.2f}  {r['arch']}")
    return 0


_SCORERS: dict[str, object] = {}


def inherit_weights(export_dir: Path, supernet_dir: str) -> dict[str, Any]:
    """Replace an export's ``model.pt`` with the weights its arch inherits from a supernet
    (BN recalibrated as ``nas supernet eval`` does); returns the updated ``arch.json`` content."""
    from nas._errors import NasError
    from nas.export import read_export, update_weights
    from nas.supernet import SubnetScorer

    key = str(Path(supernet_dir).resolve())
    scorer = _SCORERS.get(key)
    if not isinstance(scorer, SubnetScorer):
        scorer = SubnetScorer(supernet_dir)
        _SCORERS[key] = scorer
    sn = scorer.supernet
    info, arch, _space = read_export(export_dir)
    if (info["classes"], info["in_channels"]) != (sn.classes, sn.in_channels):
        raise NasError(f"--from-supernet {supernet_dir}: the supernet has {sn.classes} classes and "
                       f"{sn.in_channels} input channels, the export {export_dir} "
                       f"{info['classes']} and {info['in_channels']}")
    model = scorer.model(arch)
    accuracy = scorer.score(arch)
    return update_weights(export_dir, model.state_dict(), dropout=sn.dropout, weights_info={
        "state": "supernet", "supernet": key, "dataset": sn.dataset,
        "supernet_epochs": sn.epochs_done, "minival_acc": accuracy, "bn_recalibrated": True,
        "note": "inherited from the supernet; `nas train` fine-tunes them (--from-scratch: not)"})
