"""The ``nas`` command: one argparse tree; each command module adds its subparsers.

User errors (:class:`nas.NasError`) print one line and exit 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nas import __version__
from nas._errors import NasError

# Modules with an ``add_parsers(subparsers)`` function, in help order.
COMMAND_MODULES = [
    "nas.cli._arch",
    "nas.cli._lut",
    "nas.cli._lutkit",
    "nas.cli._export",
    "nas.cli._train",
    "nas.cli._search",
    "nas.cli._supernet",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"nas: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas", description="hwnas: hardware-aware neural architecture search")
    parser.add_argument("--version", action="version", version=f"hwnas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NasError as exc:
        print(f"nas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
