"""``nas spaces`` and ``nas arch show|sample``."""

from __future__ import annotations

import argparse

import numpy as np

from nas.arch import REFERENCES
from nas.cli._common import command_group, print_json, resolve_arch
from nas.space import get_space, list_spaces


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list the search spaces")
    p.add_argument("--json", action="store_true", help="JSON output (the default)")
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
    show.add_argument("--json", action="store_true", help="JSON output (the default)")
    show.set_defaults(func=cmd_show)

    sample = arch.add_parser("sample", help="sample archs from a space")
    sample.add_argument("--space", required=True)
    sample.add_argument("--n", type=int, default=1)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=cmd_sample)


def cmd_spaces(args: argparse.Namespace) -> int:
    print_json([get_space(name).summary() for name in list_spaces()])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nas.blocks import arch_to_blocks
    from nas.cost import blocks_cost

    arch, space = resolve_arch(args.arch, args.space, args.resolution)
    blocks = arch_to_blocks(arch, space, classes=args.classes, in_channels=args.in_channels)
    cost = blocks_cost(blocks, batch=args.batch, dtype=args.dtype)
    out = {
        "arch": arch.text,
        "hash": arch.hash,
        "space": space.name,
        "in_space": space.contains(arch),
        "not_in_space_because": space.check(arch),
        "resolution": arch.resolution,
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
    print_json(out)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from nas._errors import NasError

    if args.n < 1:
        raise NasError(f"--n must be >= 1, got {args.n}")
    space = get_space(args.space)
    rng = np.random.default_rng(args.seed)
    for _ in range(args.n):
        print(space.sample(rng).text)
    return 0


