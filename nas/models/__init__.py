"""PyTorch modules for blocks and whole networks."""

from __future__ import annotations

from nas.models._builder import NASNet, build_model, example_input, init_weights, layers_source
from nas.models._layers import (
    ChannelShuffle,
    ConvBNAct,
    GlobalPool,
    InvertedResidual,
    LinearAct,
    SqueezeExcite,
    make_act,
    make_block,
)

__all__ = [
    "ChannelShuffle",
    "ConvBNAct",
    "GlobalPool",
    "InvertedResidual",
    "LinearAct",
    "NASNet",
    "SqueezeExcite",
    "build_model",
    "example_input",
    "init_weights",
    "layers_source",
    "make_act",
    "make_block",
]
