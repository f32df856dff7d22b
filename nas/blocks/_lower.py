"""The one function that turns an arch into its ordered block list."""

from __future__ import annotations

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks._block import Block
from nas.space import SearchSpace, get_space, make_divisible


def arch_to_blocks(
    arch: Arch,
    space: SearchSpace | None = None,
    *,
    classes: int = 1000,
    in_channels: int = 3,
) -> list[Block]:
    """Ordered blocks of ``arch`` for ``classes`` outputs and ``in_channels`` input channels.

    Identity skips produce no block. The builder, the cost model and the latency tables all use
    this list, so what is timed, counted and built is the same network.

    Args:
        arch: the architecture.
        space: its space; looked up by ``arch.space`` when omitted.
        classes: classifier outputs.
        in_channels: image channels.
    """
    if classes < 1 or in_channels < 1:
        raise NasError(f"classes and in_channels must be >= 1, got {classes}, {in_channels}")
    space = space or get_space(arch.space)
    if len(arch.stages) != len(space.stages):
        raise NasError(f"arch has {len(arch.stages)} stages, space {space.name} has {len(space.stages)}")

    def width(c: int) -> int:
        return make_divisible(c * arch.width, space.channel_divisor)

    se_conv = space.se
    hw, c = arch.resolution, in_channels
    stem = space.stem
    blocks = [Block("conv", c, width(stem.out), hw, stem.kernel, stem.stride, stem.act)]
    c, hw = blocks[-1].cout, blocks[-1].out_hw
    for i, (spec, stage) in enumerate(zip(space.stages, arch.stages, strict=True)):
        cout = width(stage.channels)
        for j, layer in enumerate(stage.layers):
            stride = spec.stride if j == 0 else 1
            if layer.skip:
                if stride == 1 and c == cout:
                    continue
                if not space.skip_projection:
                    raise NasError(f"stage {i} layer {j}: skip changes the shape and space "
                                   f"{space.name} has no projection skips")
                blocks.append(Block("conv", c, cout, hw, 1, stride, spec.act))
            else:
                expand_conv = layer.expand != 1 or space.expand_conv_at_e1
                mid = make_divisible(c * layer.expand, space.channel_divisor) if expand_conv else c
                if c % layer.groups or mid % layer.groups or cout % layer.groups:
                    raise NasError(f"stage {i} layer {j}: groups {layer.groups} do not divide "
                                   f"channels {c}/{mid}/{cout}")
                se = 0
                if layer.se:
                    base = mid if se_conv.base == "mid" else c
                    se = (make_divisible(base * se_conv.ratio, se_conv.divisor) if se_conv.divisor > 1
                          else max(1, int(base * se_conv.ratio)))
                blocks.append(Block(
                    "mbconv", c, cout, hw, layer.kernel, stride, spec.act, mid=mid,
                    groups=layer.groups, se=se,
                    se_gate=se_conv.gate if se else "none", se_act=se_conv.act if se else "none",
                    expand_conv=expand_conv, residual=stride == 1 and c == cout,
                ))
            c, hw = blocks[-1].cout, blocks[-1].out_hw
    for h in space.head:
        if h.kind == "conv":
            blocks.append(Block("conv", c, width(h.out) if h.scale else h.out, hw, 1, 1, h.act))
        elif h.kind == "pool":
            blocks.append(Block("pool", c, c, hw))
        elif h.kind == "fc":
            blocks.append(Block("fc", c, width(h.out) if h.scale else h.out, 1, act=h.act))
        else:
            blocks.append(Block("fc", c, classes, 1))
        c, hw = blocks[-1].cout, blocks[-1].out_hw
    return blocks
