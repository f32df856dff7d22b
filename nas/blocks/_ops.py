"""A block's kernels: the operators an inference runtime executes for it, each with its shape.

Kernel-level latency models (nn-Meter's approach) price an operator type as a function of its
shape, so a block none of whose siblings was measured is still priced from the kernels it is
made of. :func:`block_ops` is the one lowering of a :class:`Block` to :class:`Op` keys; the
latency models, their features and their range checks all read it.

Op kinds: ``conv`` (a full k x k convolution, k > 1), ``pw`` (1x1 convolution), ``dw``
(depthwise k x k), ``se`` (squeeze-excite: pool, two small linears, gate, multiply), ``pool``
(global average pool), ``fc`` (linear), ``act`` (an activation that runtimes do not fuse into
the convolution before it: hswish, swish, sigmoid and hsigmoid cost a pass over the tensor;
relu/relu6 are fused and get no op) and ``add`` (the residual).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nas.blocks._block import Block

OP_KINDS = ("conv", "pw", "dw", "se", "pool", "fc", "act", "add")
# Activations runtimes fuse into the convolution before them (TFLite, XNNPACK, oneDNN): no op.
FUSED_ACTS = frozenset({"none", "relu", "relu6"})


@dataclass(frozen=True)
class Op:
    """One kernel of a block: hashable, with its input side and channel counts.

    ``hw`` is the input side (square); ``cout`` the output channels (for ``se`` the squeezed
    width, for ``act`` and ``add`` equal to ``cin``); ``act`` names the activation of an ``act``
    op and is ``none`` elsewhere.
    """

    kind: str
    cin: int
    cout: int
    hw: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    act: str = "none"

    @property
    def out_hw(self) -> int:
        if self.kind in ("pool", "fc"):
            return 1
        return -(-self.hw // self.stride)

    @cached_property
    def macs(self) -> int:
        """Multiply-accumulates per sample (the same counts as :attr:`Block.macs`)."""
        o2 = self.out_hw ** 2
        if self.kind in ("conv", "pw"):
            return self.cout * o2 * (self.cin // self.groups) * self.kernel ** 2
        if self.kind == "dw":
            return self.cin * o2 * self.kernel ** 2
        if self.kind == "se":
            return 2 * self.cin * self.cout
        if self.kind == "fc":
            return self.cin * self.cout
        return 0

    @property
    def in_elems(self) -> int:
        """Input activation elements per sample."""
        return self.cin * self.hw * self.hw

    @property
    def out_elems(self) -> int:
        """Output activation elements per sample (``se`` rescales its whole input)."""
        if self.kind in ("pool", "fc"):
            return self.cout
        if self.kind == "se":
            return self.in_elems
        return self.cout * self.out_hw ** 2

    @property
    def weights(self) -> int:
        if self.kind in ("conv", "pw"):
            return self.cout * (self.cin // self.groups) * self.kernel ** 2
        if self.kind == "dw":
            return self.cin * self.kernel ** 2
        if self.kind in ("se", "fc"):
            return self.macs
        return 0

    @property
    def key(self) -> str:
        text = f"{self.kind}(cin={self.cin},cout={self.cout},hw={self.hw}"
        if self.kind in ("conv", "dw"):
            text += f",k={self.kernel},s={self.stride}"
        if self.groups != 1:
            text += f",g={self.groups}"
        if self.kind == "act":
            text += f",act={self.act}"
        return text + ")"


def _act(c: int, hw: int, act: str) -> list[Op]:
    return [] if act in FUSED_ACTS else [Op("act", c, c, hw, act=act)]


def block_ops(b: Block) -> tuple[Op, ...]:
    """The kernels of ``b`` in execution order (see the module docstring for the kinds)."""
    if b.kind == "pool":
        return (Op("pool", b.cin, b.cin, b.hw),)
    if b.kind == "fc":
        return (Op("fc", b.cin, b.cout, 1), *_act(b.cout, 1, b.act))
    if b.kind == "conv":
        kind = "pw" if b.kernel == 1 and b.stride == 1 else "conv"
        if b.groups == b.cin == b.cout and b.kernel > 1:
            kind = "dw"
        return (Op(kind, b.cin, b.cout, b.hw, b.kernel, b.stride, 1 if kind == "dw" else b.groups),
                *_act(b.cout, b.out_hw, b.act))
    ops: list[Op] = []
    if b.expand_conv:
        ops += [Op("pw", b.cin, b.mid, b.hw, groups=b.groups), *_act(b.mid, b.hw, b.act)]
    ops += [Op("dw", b.mid, b.mid, b.hw, b.kernel, b.stride), *_act(b.mid, b.out_hw, b.act)]
    if b.se:
        ops.append(Op("se", b.mid, b.se, b.out_hw))
    ops.append(Op("pw", b.mid, b.cout, b.out_hw, groups=b.groups))
    if b.residual:
        ops.append(Op("add", b.cout, b.cout, b.out_hw))
    return tuple(ops)
