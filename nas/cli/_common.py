"""Shared CLI helpers: output (aligned tables for people, ``--json`` for programs) and
arch/space resolution.

Every command prints a human-readable view by default, built from :func:`table` and
:func:`fields` so that all commands look alike, and with ``--json`` the JSON document it has
always printed. Bold headers only when stdout is a terminal (and ``$NO_COLOR`` is unset), so
piped output is plain text.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from nas.arch import Arch, load_arch
from nas.space import SearchSpace, get_space


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


JSON_HELP = "print JSON (for scripts) instead of the table"
DASH = "—"


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help=JSON_HELP)


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> None:
    """``data`` as JSON with ``--json``, else the human-readable view ``human`` prints."""
    if getattr(args, "json", False):
        print_json(data)
    else:
        human()


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"nas: warning: {message}", file=sys.stderr)


def _styled() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _bold(text: str) -> str:
    return f"\033[1m{text}\033[0m" if _styled() else text


def _numeric(cell: str) -> bool:
    if ", " in cell:
        return False
    head = cell.split(" ", 1)[0].rstrip("%x")
    try:
        float(head.replace(",", ""))
    except ValueError:
        return False
    return True


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table: numbers right-aligned, text left-aligned, two spaces between columns."""
    cells = [[DASH if c is None else str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    right = [bool(cells) and all(_numeric(r[i]) or r[i] == DASH for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)]
        return "  ".join(parts).rstrip()

    head = line(list(headers))
    return "\n".join([_bold(head), *(line(r) for r in cells)])


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """Print :func:`render_table` (after an optional title line)."""
    if title:
        print(title)
    print(render_table(headers, rows))


def fields(pairs: Sequence[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print ``name  value`` lines with the values aligned (``None`` values are left out)."""
    kept = [(k, v) for k, v in pairs if v is not None]
    if title:
        print(_bold(title))
    width = max((len(k) for k, _ in kept), default=0)
    for k, v in kept:
        print(f"{k.ljust(width)}  {v}")


# -- units -------------------------------------------------------------------------------------

def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def ms(x: Any, digits: int = 3) -> str | None:
    return f"{x:.{digits}f} ms" if _finite(x) else None


def mega(x: Any, unit: str) -> str | None:
    """``7041184`` -> ``7.04 M MACs`` (``unit``: MACs, params)."""
    return f"{x / 1e6:.2f} M {unit}" if _finite(x) else None


def size(n: Any) -> str | None:
    """Bytes as B, KiB or MiB."""
    if not _finite(n):
        return None
    if n < 1024:
        return f"{int(n)} B"
    if n < 1024 ** 2:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 ** 2:.1f} MiB"


def pct(x: Any, digits: int = 1) -> str | None:
    """A fraction as a percentage."""
    return f"{100 * x:.{digits}f}%" if _finite(x) else None


def num(x: Any, digits: int = 4) -> str | None:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}g}" if _finite(x) else (None if x is None else str(x))


def listed(xs: Any) -> str:
    """Items joined by commas; a dash for none."""
    items = [str(x) for x in xs]
    return ", ".join(items) if items else DASH


def spread(xs: Sequence[Any]) -> str:
    """A sorted list of numbers, evenly spaced runs of 4 or more written ``128–224 /4``."""
    xs = list(xs)
    if len(xs) >= 4:
        steps = {b - a for a, b in itertools.pairwise(xs)}
        if len(steps) == 1:
            return f"{xs[0]}–{xs[-1]} /{steps.pop()}"
    return listed(xs)


def yes_no(x: Any) -> str:
    return DASH if x is None else ("yes" if x else "no")


def plain(value: Any) -> str | None:
    """Any JSON value as one short line: numbers in 4 significant digits, short lists joined,
    long ones and lists of objects counted (``--json`` has them in full)."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return num(value)
    if isinstance(value, list | tuple):
        if any(isinstance(v, dict | list) for v in value) or len(value) > 8:
            return f"{len(value)} items (--json lists them)"
        return listed([plain(v) for v in value])
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items())
    return str(value)


def flat_fields(data: dict[str, Any], *, title: str | None = None, prefix: str = "") -> None:
    """A JSON object as aligned ``name  value`` lines; nested objects become ``outer.inner``."""
    pairs: list[tuple[str, Any]] = []

    def walk(d: dict[str, Any], pre: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict) and v:
                walk(v, f"{pre}{k}.")
            else:
                pairs.append((f"{pre}{k}", plain(v)))

    walk(data, prefix)
    fields(pairs, title=title)


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
