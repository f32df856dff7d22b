"""Block keys (hashable, with shapes and costs), the arch -> block list lowering, and each
block's kernels (:func:`block_ops`)."""

from __future__ import annotations

from nas.blocks._block import KINDS, Block
from nas.blocks._lower import arch_to_blocks
from nas.blocks._ops import FUSED_ACTS, OP_KINDS, Op, block_ops

__all__ = ["FUSED_ACTS", "KINDS", "OP_KINDS", "Block", "Op", "arch_to_blocks", "block_ops"]
