"""Analytic cost model over block lists."""

from __future__ import annotations

from nas.cost._cost import DTYPE_BYTES, Cost, arch_cost, blocks_cost, dtype_bytes

__all__ = ["DTYPE_BYTES", "Cost", "arch_cost", "blocks_cost", "dtype_bytes"]
