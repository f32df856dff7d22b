"""Nearest-neighbour answers for block keys a table lacks (only when the caller asks for them)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from nas._errors import NasError
from nas.blocks import Block
from nas.latency._entry import Entry


def _signature(b: Block) -> tuple[object, ...]:
    """Everything but the sizes: blocks with equal signatures differ only in channels and side."""
    return (b.kind, b.kernel, b.stride, b.act, b.groups, b.se > 0, b.se_gate, b.se_act,
            b.expand_conv, b.residual)


def _distance(a: Block, b: Block) -> float:
    sizes = ((a.cin, b.cin), (a.cout, b.cout), (a.hw, b.hw), (a.mid + 1, b.mid + 1),
             (a.se + 1, b.se + 1))
    return math.fsum(math.log(x / y) ** 2 for x, y in sizes)


def _work(b: Block) -> float:
    return float(b.macs) if b.macs > 0 else float(b.cin * b.hw * b.hw)


def nearest_estimate(block: Block, entries: Mapping[Block, Entry], where: str,
                     statistic: str = "median") -> tuple[float, str]:
    """Estimate ``block``'s ms from its nearest measured neighbour, scaled by MACs.

    The neighbour is the closest (in log channel/side sizes) entry with the same structure
    (kind, kernel, stride, activation, SE, residual); failing that, the closest of the same kind.

    Returns:
        ``(ms, neighbour key)``.

    Raises:
        NasError: the table has no entry of the block's kind.
    """
    same_kind = [b for b in entries if b.kind == block.kind]
    if not same_kind:
        raise NasError(f"{where}: cannot approximate block {block.key}: the table has no "
                       f"{block.kind!r} entries")
    sig = _signature(block)
    pool = [b for b in same_kind if _signature(b) == sig] or same_kind
    best = min(pool, key=lambda b: (_distance(block, b), b.key))
    return entries[best].value(statistic) * _work(block) / _work(best), best.key
