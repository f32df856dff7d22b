"""Shared CLI helpers: JSON output and arch/space resolution."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nas.arch import Arch, load_arch
from nas.space import SearchSpace, get_space


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def resolve_arch(spec: str, space: str | None = None, resolution: int | None = None
                 ) -> tuple[Arch, SearchSpace]:
    """The arch named by ``spec`` and its space; ``--space`` must agree, ``--resolution`` overrides."""
    import nas.lutkit  # noqa: F401 - registers the net.config arch format with load_arch

    arch = load_arch(spec)
    sp = get_space(space) if space else get_space(arch.space)
    if arch.space != sp.name:
        from nas._errors import NasError

        raise NasError(f"--space {sp.name}: the arch belongs to space {arch.space!r}")
    if resolution is not None:
        arch = arch.replace(resolution=resolution)
    return arch, sp


def command_group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """The subparsers of command group ``name`` (``nas lut ...``), created on first use.

    Several command modules may add commands to one group without knowing about each other.
    """
    groups: dict[str, argparse._SubParsersAction] = sub.__dict__.setdefault("_nas_groups", {})
    if name not in groups:
        parser = sub.add_parser(name, help=help)
        groups[name] = parser.add_subparsers(dest=f"{name}_cmd", required=True,
                                             parser_class=type(parser))
    return groups[name]
