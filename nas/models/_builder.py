"""arch -> ``torch.nn.Module``, built block by block from :func:`nas.blocks.arch_to_blocks`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas.arch import Arch
from nas.blocks import Block, arch_to_blocks
from nas.models._layers import make_block
from nas.space import SearchSpace


class NASNet(nn.Sequential):
    """A network as a sequence of blocks; ``self.blocks`` keeps their keys in order."""

    def __init__(self, blocks: Sequence[Block], *, dropout: float = 0.0) -> None:
        last = len(blocks) - 1
        super().__init__(*(make_block(b, dropout=dropout if i == last else 0.0)
                           for i, b in enumerate(blocks)))
        self.blocks = tuple(blocks)
        init_weights(self)


def init_weights(model: nn.Module) -> None:
    """Kaiming (fan-out) convs, unit BN, small-normal linear layers, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def build_model(
    arch: Arch,
    space: SearchSpace | None = None,
    *,
    classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.2,
) -> NASNet:
    """Build ``arch`` as a trainable module (input ``(N, in_channels, R, R)``, output ``(N, classes)``)."""
    return NASNet(arch_to_blocks(arch, space, classes=classes, in_channels=in_channels),
                  dropout=dropout)


def layers_source() -> str:
    """The source of the layer module, which ``nas export`` copies into a standalone ``model.py``."""
    import inspect

    from nas.models import _layers

    return inspect.getsource(_layers)


def example_input(arch: Arch, *, batch: int = 1, in_channels: int = 3) -> torch.Tensor:
    return torch.randn(batch, in_channels, arch.resolution, arch.resolution)
