"""Block keys (hashable, with shapes and costs) and the arch -> block list lowering."""

from __future__ import annotations

from nas.blocks._block import KINDS, Block
from nas.blocks._lower import arch_to_blocks

__all__ = ["KINDS", "Block", "arch_to_blocks"]
