"""Analytic cost model: MACs, parameters and peak activation memory, no forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import Block, arch_to_blocks
from nas.space import SearchSpace

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


@dataclass(frozen=True)
class Cost:
    """Costs of one network for one input (``macs``, ``params``) and at a batch and dtype (memory)."""

    macs: int
    params: int
    peak_activation_bytes: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def dtype_bytes(dtype: str) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise NasError(f"dtype {dtype!r} is not one of {', '.join(DTYPE_BYTES)}") from None


def blocks_cost(blocks: Sequence[Block], *, batch: int = 1, dtype: str = "float32") -> Cost:
    """Sum MACs and params over ``blocks``; peak memory is the largest block peak."""
    if batch < 1:
        raise NasError(f"batch must be >= 1, got {batch}")
    size = dtype_bytes(dtype)
    return Cost(
        macs=sum(b.macs for b in blocks),
        params=sum(b.params for b in blocks),
        peak_activation_bytes=max(b.peak_activations for b in blocks) * batch * size,
    )


def arch_cost(
    arch: Arch,
    space: SearchSpace | None = None,
    *,
    classes: int = 1000,
    in_channels: int = 3,
    batch: int = 1,
    dtype: str = "float32",
) -> Cost:
    """Costs of ``arch`` (see :func:`nas.blocks.arch_to_blocks` for the arguments)."""
    blocks = arch_to_blocks(arch, space, classes=classes, in_channels=in_channels)
    return blocks_cost(blocks, batch=batch, dtype=dtype)
