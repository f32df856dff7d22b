"""``nas spaces`` and ``nas arch show|sample``."""

from __future__ import annotations

import argparse

import numpy as np

from nas.arch import REFERENCES
from nas.cli._common import (
    add_json_flag,
    command_group,
    emit,
    fields,
    listed,
    mega,
    resolve_arch,
    size,
    spread,
    table,
)
from nas.space import get_space, list_spaces


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list the search spaces")
    add_json_flag(p)
    p.set_defaults(func=cmd_spaces)

    arch = command_group(sub, "arch", "show or sample architectures")
    show = arch.add_parser("show", help="costs and blocks of one arch")
    show.add_argument("arch", help="reference name, canonical arch text, or arch JSON file")
    show.add_argument("--space", help="space the arch must belong to")
    show.add_argument("--resolution", type=int, help="input resolution (overrides the arch's)")
    show.add_argument("--classes", type=int, default=1000)
    show.add_argument("--in-channels", type=int, default=3)
    show.add_argument("--batch", type=int, default=1, help="batch for peak activation memory")
    show.add_argument("--dtype", default="float32", help="dtype for peak activation memory")
    show.add_argument("--blocks", action="store_true", help="include the block list")
    add_json_flag(show)
    show.set_defaults(func=cmd_show)

    sample = arch.add_parser("sample", help="sample archs from a space")
    sample.add_argument("--space", required=True)
    sample.add_argument("--n", type=int, default=1)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--resolution", type=int,
                        help="input resolution of the samples (default: the space's; any size >= 8, "
                             "as a search config's 'resolutions' may set)")
    add_json_flag(sample)
    sample.set_defaults(func=cmd_sample)


def cmd_spaces(args: argparse.Namespace) -> int:
    rows = [get_space(name).summary() for name in list_spaces()]
    emit(args, rows, lambda: table(
        ["space", "stages", "genes", "resolutions", "widths", "size", "description"],
        [[r["name"], r["stages"], r["genes"], spread(r["resolutions"]), listed(r["widths"]),
          f"{float(r['size']):.2e}", r["description"]] for r in rows]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nas.blocks import arch_to_blocks
    from nas.cost import blocks_cost

    arch, space = resolve_arch(args.arch, args.space, args.resolution)
    blocks = arch_to_blocks(arch, space, classes=args.classes, in_channels=args.in_channels)
    cost = blocks_cost(blocks, batch=args.batch, dtype=args.dtype)
    why = space.check_any_resolution(arch)
    out = {
        "arch": arch.text,
        "hash": arch.hash,
        "space": space.name,
        "in_space": not why,
        "not_in_space_because": why,
        "resolution": arch.resolution,
        "space_resolutions": list(space.resolutions),
        "classes": args.classes,
        "macs": cost.macs,
        "params": cost.params,
        "peak_activation_bytes": cost.peak_activation_bytes,
        "batch": args.batch,
        "dtype": args.dtype,
        "n_blocks": len(blocks),
    }
    if args.arch in REFERENCES:
        out["reference"] = args.arch
    if args.blocks:
        out["blocks"] = [{"key": b.key, "macs": b.macs, "params": b.params,
                          "out_shape": list(b.out_shape)} for b in blocks]

    def human() -> None:
        resolution = f"{arch.resolution} px"
        if arch.resolution not in space.resolutions:
            resolution += f" (the space's defaults: {spread(space.resolutions)}; a search may set any size)"
        fields([
            ("arch", arch.text),
            ("reference", out.get("reference")),
            ("hash", arch.hash),
            ("space", space.name),
            ("in space", "yes" if not why else "no: " + "; ".join(why)),
            ("resolution", resolution),
            ("classes", args.classes),
            ("MACs", mega(cost.macs, "MACs")),
            ("params", mega(cost.params, "params")),
            ("peak activations", f"{size(cost.peak_activation_bytes)} (batch {args.batch}, {args.dtype})"),
            ("blocks", len(blocks)),
        ])
        if args.blocks:
            print()
            table(["#", "block", "MACs (M)", "params (M)", "out shape"],
                  [[i, b.key, f"{b.macs / 1e6:.3f}", f"{b.params / 1e6:.4f}",
                    "x".join(str(d) for d in b.out_shape)] for i, b in enumerate(blocks)])

    emit(args, out, human)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from nas._errors import NasError

    if args.n < 1:
        raise NasError(f"--n must be >= 1, got {args.n}")
    space = get_space(args.space)
    if args.resolution is not None:
        if args.resolution < 8:
            raise NasError(f"--resolution must be an integer >= 8, got {args.resolution}")
        space = space.with_resolutions([args.resolution])
    rng = np.random.default_rng(args.seed)
    texts = [space.sample(rng).text for _ in range(args.n)]
    emit(args, texts, lambda: print("\n".join(texts)))
    return 0
