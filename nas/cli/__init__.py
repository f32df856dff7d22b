"""Command-line interface (``nas``)."""

from __future__ import annotations

import sys

from nas.cli._main import COMMAND_MODULES, build_parser
from nas.cli._main import main as _main

__all__ = ["COMMAND_MODULES", "build_parser", "main"]


def main() -> None:
    sys.exit(_main())
