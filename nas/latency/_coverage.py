"""Which spaces, widths and resolutions a table can price: measured keys plus its kernel model.

``nas lut list`` states this per table, so that a table never claims a space it cannot price.
A kernel model prices every kernel up to a bound on its work (:meth:`KernelModel.why_not`), and a
space's largest kernels grow with width and resolution, so the priced region is a box: every
width up to ``w`` at every resolution up to ``r``. This module finds the largest ``(w, r)`` on a
fixed grid by checking, per grid point, the few blocks holding each kernel group's largest
kernel (not every block of the space).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from nas._errors import NasError
from nas.blocks import Block, block_ops
from nas.latency._enumerate import enumerate_blocks
from nas.latency._kernels import op_group
from nas.latency._table import LatencyTable
from nas.space import get_space, list_spaces

# The grid the claimed range is stated on: the widths and resolutions published nets use.
WIDTH_GRID = (0.35, 0.5, 0.75, 1.0, 1.2, 1.4, 2.0)
RESOLUTION_GRID = (96, 128, 160, 192, 224, 256, 320)


@functools.lru_cache(maxsize=512)
def extreme_blocks(space: str, width: float, resolution: int, classes: int = 1000,
                   in_channels: int = 3) -> tuple[Block, ...]:
    """Blocks of ``space`` at one width and resolution holding, per kernel group, the kernel
    with the most work and the one with the largest side: if a kernel model prices these, it
    prices every block there."""
    # the space's own width/resolution choices (or compound-scaling points) set where a search
    # goes, not where its blocks can be priced: enumerate the point itself
    sp = dataclasses.replace(get_space(space), scales=(), widths=(width,),
                             resolutions=(resolution,))
    blocks = enumerate_blocks(sp, resolutions=[resolution], widths=[width], classes=classes,
                              in_channels=in_channels)
    best: dict[tuple[str, str], tuple[int, Block]] = {}
    for b in blocks:
        for op in block_ops(b):
            g = op_group(op)
            for what, v in (("work", max(op.macs, op.in_elems)), ("side", op.hw)):
                if (g, what) not in best or v > best[(g, what)][0]:
                    best[(g, what)] = (v, b)
    return tuple(dict.fromkeys(b for _, b in best.values()))


def _why_not_at(table: LatencyTable, space: str, width: float, resolution: int) -> str | None:
    # the classes and input channels the table measured the space for (ImageNet otherwise)
    config = next((c for c in table.configs if c.get("space") == space), {})
    for b in extreme_blocks(space, width, resolution, int(config.get("classes", 1000)),
                            int(config.get("in_channels", 3))):
        reason = table.why_not(b)
        if reason is not None:
            return f"block {b.key}: {reason}"
    return None


def kernel_coverage(table: LatencyTable, spaces: list[str] | None = None) -> dict[str, Any]:
    """Per space, where the table prices every arch (measured keys, else its kernel model):
    ``{"resolution": r, "width": w, "width_at": r2}``: every width up to 1 at every resolution
    up to ``r``, and every width up to ``w`` at resolutions up to ``r2`` (224 px, or ``r`` when
    smaller); or ``{"reason": ...}``: why it prices none (checked at width 1 and the smallest
    resolution of the grid and of the table's own)."""
    grid = sorted({*RESOLUTION_GRID, *table.resolutions})
    out: dict[str, Any] = {}
    for space in spaces if spaces is not None else list_spaces():
        try:
            reason = _why_not_at(table, space, 1.0, grid[0])
        except NasError as exc:
            out[space] = {"reason": str(exc)}
            continue
        if reason is not None:
            out[space] = {"reason": reason}
            continue
        # kernels only grow with width and resolution: the first priced point from the top
        r_max = next(r for r in reversed(grid) if _why_not_at(table, space, 1.0, r) is None)
        at = min(r_max, 224)
        w_max = next((w for w in reversed(WIDTH_GRID)
                      if w <= 1.0 or _why_not_at(table, space, w, at) is None), 1.0)
        out[space] = {"resolution": r_max, "width": w_max, "width_at": at}
    return out


def coverage_text(cov: dict[str, Any]) -> str:
    """``mobilenet_v2 r≤320, w≤1.4@224`` per priced space, comma-separated (``—`` if none)."""
    parts = [f"{s} r≤{c['resolution']}, w≤{c['width']:g}@{c['width_at']}"
             for s, c in cov.items() if "reason" not in c]
    return "; ".join(parts) or "—"
