"""Plain ``nn.Module`` blocks with explicit typed arguments, one per :class:`~nas.blocks.Block` kind."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nas._errors import NasError
from nas.blocks import Block


def make_act(name: str) -> nn.Module:
    """Activation by name: relu, relu6, hswish, swish, sigmoid, hsigmoid, none."""
    table: dict[str, Callable[[], nn.Module]] = {
        "relu": lambda: nn.ReLU(inplace=True),
        "relu6": lambda: nn.ReLU6(inplace=True),
        "hswish": lambda: nn.Hardswish(inplace=True),
        "swish": lambda: nn.SiLU(inplace=True),
        "sigmoid": nn.Sigmoid,
        "hsigmoid": lambda: nn.Hardsigmoid(inplace=True),
        "none": nn.Identity,
    }
    if name not in table:
        raise NasError(f"activation {name!r} is not one of {', '.join(table)}")
    return table[name]()


class ConvBNAct(nn.Sequential):
    """Convolution (no bias), batch norm, activation; 'same' padding."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: str = "relu") -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            make_act(act),
        )


class SqueezeExcite(nn.Module):
    """Squeeze-excite: pool, reduce (1x1 conv), act, expand (1x1 conv), gate, scale."""

    def __init__(self, channels: int, reduced: int, act: str = "relu", gate: str = "sigmoid") -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = make_act(act)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = make_act(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class ChannelShuffle(nn.Module):
    """ShuffleNet channel shuffle, used after grouped pointwise convs (FBNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 inverted residual with optional SE, grouped pointwise convs and shuffle."""

    def __init__(self, cin: int, cout: int, mid: int, kernel: int, stride: int, act: str,
                 expand_conv: bool, groups: int = 1, se: int = 0, se_act: str = "relu",
                 se_gate: str = "sigmoid", residual: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if expand_conv:
            layers.append(ConvBNAct(cin, mid, 1, 1, groups, act))
            if groups > 1:
                layers.append(ChannelShuffle(groups))
        layers.append(ConvBNAct(mid, mid, kernel, stride, mid, act))
        if se:
            layers.append(SqueezeExcite(mid, se, se_act, se_gate))
        layers.append(ConvBNAct(mid, cout, 1, 1, groups, "none"))
        self.body = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class GlobalPool(nn.Module):
    """Global average pool to a flat (N, C) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class LinearAct(nn.Sequential):
    """Linear layer with bias, optional dropout before it, optional activation after it."""

    def __init__(self, cin: int, cout: int, act: str = "none", dropout: float = 0.0) -> None:
        mods: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        super().__init__(*mods, nn.Linear(cin, cout), make_act(act))


def make_block(block: Block, *, dropout: float = 0.0) -> nn.Module:
    """The module for one block key (``dropout`` applies to fc blocks)."""
    if block.kind == "conv":
        return ConvBNAct(block.cin, block.cout, block.kernel, block.stride, block.groups, block.act)
    if block.kind == "mbconv":
        return InvertedResidual(block.cin, block.cout, block.mid, block.kernel, block.stride,
                                block.act, block.expand_conv, block.groups, block.se, block.se_act,
                                block.se_gate, block.residual)
    if block.kind == "pool":
        return GlobalPool()
    return LinearAct(block.cin, block.cout, block.act, dropout)
