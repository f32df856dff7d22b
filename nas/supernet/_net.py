"""The weight-sharing supernet: one max-size module per layer position, subnets by slicing.

Storage is a plain :class:`nas.models.NASNet` built from the *max* block of every position of the
space (stem, each layer slot ``s{i}.l{j}``, each head entry), so its modules are exactly the
builder's modules (``ConvBNAct``, ``InvertedResidual``, ``SqueezeExcite``, ``LinearAct``). A subnet
is the builder's own ``NASNet`` for the arch (``build_model``), whose tensors are taken from the
storage:

* channels (expand ratio, stage width, width multiplier): the first ``n`` channels, after the
  importance sorting of :meth:`Supernet.sort_channels` for the expanded (``mid``) channels;
* depthwise kernel: the centre crop of the max kernel, passed through a learned per-layer
  ``k^2 x k^2`` transform per smaller kernel (Once-for-All's kernel transform), 7 -> 5 -> 3;
* depth: layer slots that the arch leaves out (fewer layers, or ``skip``) are not used;
* resolution: any, the network is fully convolutional.

Training runs a subnet with :meth:`Supernet.forward` (``torch.func.functional_call`` of the
builder's module with the sliced tensors, so gradients reach the shared weights); extraction
(:meth:`Supernet.extract`) loads the same sliced tensors into a fresh ``build_model`` network, so
both compute the same function.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nas._errors import NasError
from nas.arch import Arch, Layer
from nas.blocks import Block, arch_to_blocks
from nas.models import ConvBNAct, InvertedResidual, NASNet, SqueezeExcite, make_block
from nas.space import SearchSpace, get_space, make_divisible
from nas.supernet._config import SupernetConfig

_SKELETONS = 256  # meta-device module skeletons cached per arch text
GeneValue = int | float | str


def space_hash(space: SearchSpace) -> str:
    """A 16-hex-digit hash of a space's content (every field the space file sets, not its path)."""
    data = dataclasses.asdict(space)
    data.pop("path", None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Position:
    """A layer slot of the supernet: ``stem``, ``s{i}.l{j}`` or ``head{k}``, and its max block."""

    name: str
    block: Block
    kernels: tuple[int, ...] = ()  # elastic depthwise kernels (mbconv), ascending


def check_supported(space: SearchSpace) -> None:
    """Raise a :class:`NasError` naming what a space uses that the supernet does not support."""
    why: list[str] = []
    if space.scales:
        why.append("compound scaling ('scaling')")
    for i, spec in enumerate(space.stages):
        if any(op.groups != 1 for op in spec.ops):
            why.append(f"stages[{i}]: grouped pointwise convs (groups > 1)")
        if len({op.se for op in spec.ops}) > 1:
            why.append(f"stages[{i}]: squeeze-excite both on and off within a stage")
        if len({op.expand != 1 or space.expand_conv_at_e1 for op in spec.ops}) > 1:
            why.append(f"stages[{i}]: expand 1 (no expand conv) mixed with other expand ratios")
        if spec.skip and space.skip_projection:
            why.append(f"stages[{i}]: projection skips (skip_projection: true)")
    if why:
        raise NasError(f"space {space.name}: the supernet does not support " + "; ".join(why)
                       + " (supported: per-layer kernel/expand choices, depth, skip, channels, "
                       "width, resolution)")


def _positions(space: SearchSpace, classes: int, in_channels: int) -> list[Position]:
    """Max block of every slot, derived from the space's genes (every choice of every gene)."""
    div = space.channel_divisor
    widths = space.widths

    def width_set(c: int) -> set[int]:
        return {make_divisible(c * w, div) for w in widths}

    hw = max(space.resolutions)
    stem = space.stem
    couts = width_set(stem.out)
    positions = [Position("stem", Block("conv", in_channels, max(couts), hw, stem.kernel,
                                        stem.stride, stem.act))]
    hw = positions[-1].block.out_hw
    for i, spec in enumerate(space.stages):
        stage_couts = set().union(*(width_set(c) for c in spec.channels))
        for j in range(space.max_layers(i)):
            cins = couts if j == 0 else stage_couts
            stride = spec.stride if j == 0 else 1
            ops = [op for op in spec.ops if not op.skip]
            expand_conv = ops[0].expand != 1 or space.expand_conv_at_e1
            mids = {make_divisible(c * op.expand, div) if expand_conv else c for c in cins for op in ops}
            se = 0
            if ops[0].se:
                conv = space.se
                bases = mids if conv.base == "mid" else cins
                se = max(make_divisible(b * conv.ratio, conv.divisor) if conv.divisor > 1
                         else max(1, int(b * conv.ratio)) for b in bases)
            kernels = tuple(sorted({op.kernel for op in ops}))
            block = Block("mbconv", max(cins), max(stage_couts), hw, kernels[-1], stride, spec.act,
                          mid=max(mids), se=se, se_gate=space.se.gate if se else "none",
                          se_act=space.se.act if se else "none", expand_conv=expand_conv,
                          residual=stride == 1 and max(cins) == max(stage_couts))
            positions.append(Position(f"s{i}.l{j}", block, kernels))
            hw = block.out_hw
        couts = stage_couts
    c = max(couts)
    for k, h in enumerate(space.head):
        if h.kind == "conv":
            outs = width_set(h.out) if h.scale else {h.out}
            block = Block("conv", c, max(outs), hw, 1, 1, h.act)
        elif h.kind == "pool":
            block = Block("pool", c, c, hw)
        elif h.kind == "fc":
            outs = width_set(h.out) if h.scale else {h.out}
            block = Block("fc", c, max(outs), 1, act=h.act)
        else:
            block = Block("fc", c, classes, 1)
        positions.append(Position(f"head{k}", block))
        c, hw = block.cout, block.out_hw
    return positions


def _op_size(token: GeneValue) -> tuple[float, ...]:
    if str(token) == "skip":
        return (-1.0,)
    layer = Layer.parse(str(token))
    return (float(layer.kernel), layer.expand, float(layer.se))


def extreme_arch(space: SearchSpace, largest: bool) -> Arch:
    """The space's largest (every gene at its biggest choice) or smallest arch."""
    pick = max if largest else min
    values: dict[str, GeneValue] = {}
    for g in space.genes:
        if g.name.endswith(".op"):
            values[g.name] = pick(g.choices, key=_op_size)
        else:
            values[g.name] = pick(g.choices, key=float)
    return space.decode(values)


class Supernet(nn.Module):
    """Weight-sharing supernet of one search space.

    Args:
        space: the space (with the input resolutions it is trained at).
        classes: classifier outputs.
        in_channels: image channels.
        dropout: dropout before the classifier (as ``build_model``'s).
    """

    def __init__(self, space: SearchSpace, *, classes: int, in_channels: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        check_supported(space)
        self.space = space
        self.classes, self.in_channels, self.dropout = classes, in_channels, dropout
        self.positions = _positions(space, classes, in_channels)
        self._index = {p.name: i for i, p in enumerate(self.positions)}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.net = NASNet([p.block for p in self.positions], dropout=dropout)
        transforms = {}
        for i, p in enumerate(self.positions):
            for k in p.kernels[:-1]:
                transforms[f"p{i}_k{k}"] = nn.Parameter(torch.eye(k * k))
        self.kernel_transforms = nn.ParameterDict(transforms)
        self._skeletons: OrderedDict[str, nn.Sequential] = OrderedDict()
        self._blocks: dict[tuple[str, float], nn.Module] = {}
        # Set by nas.supernet.load_supernet for a trained supernet:
        self.recipe: SupernetConfig | None = None
        self.dataset = ""
        self.epochs_done = 0
        self.complete = False
        self.class_names: tuple[str, ...] = ()
        self.path = ""

    # -- archs -------------------------------------------------------------------------------
    @property
    def largest(self) -> Arch:
        return extreme_arch(self.space, True)

    @property
    def smallest(self) -> Arch:
        return extreme_arch(self.space, False)

    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly sampled subnet (each gene uniform), from ``rng`` only."""
        return self.space.sample(rng)

    def check(self, arch: Arch) -> None:
        """Raise a :class:`NasError` unless ``arch`` is a subnet of this supernet."""
        if arch.space != self.space.name:
            raise NasError(f"arch is of space {arch.space!r}, but the supernet is of space "
                           f"{self.space.name!r}")
        why = self.space.check(arch)
        if why:
            raise NasError(f"arch {arch.text} is outside the supernet's choices: " + "; ".join(why))

    def plan(self, arch: Arch) -> list[tuple[int, Block]]:
        """``(position index, block)`` for every block of ``arch``, in order."""
        self.check(arch)
        blocks = arch_to_blocks(arch, self.space, classes=self.classes, in_channels=self.in_channels)
        slots = ["stem"]
        for i, stage in enumerate(arch.stages):
            slots.extend(f"s{i}.l{j}" for j, layer in enumerate(stage.layers) if not layer.skip)
        slots.extend(f"head{k}" for k in range(len(self.space.head)))
        if len(slots) != len(blocks):  # only identity skips are supported (check_supported)
            raise NasError(f"arch {arch.text}: {len(blocks)} blocks for {len(slots)} supernet slots")
        return [(self._index[s], b) for s, b in zip(slots, blocks, strict=True)]

    # -- tensors -----------------------------------------------------------------------------
    def _kernel(self, pos: int, weight: torch.Tensor, k: int) -> torch.Tensor:
        """Depthwise weight ``(C, 1, K, K)`` to kernel ``k``: centre crop + learned transforms."""
        for kk in reversed(self.positions[pos].kernels[:-1]):
            if kk < k:
                break
            s = (weight.shape[-1] - kk) // 2
            weight = weight[:, :, s:s + kk, s:s + kk]
            m = self.kernel_transforms[f"p{pos}_k{kk}"]
            weight = (weight.reshape(-1, kk * kk) @ m.t()).reshape(weight.shape[0], 1, kk, kk)
        if weight.shape[-1] != k:
            raise NasError(f"kernel {k} is not one of {list(self.positions[pos].kernels)} "
                           f"at supernet slot {self.positions[pos].name}")
        return weight

    def _block_module(self, block: Block, dropout: float) -> nn.Module:
        """The builder's module for ``block`` on the meta device (cached: no init cost)."""
        key = (block.key, dropout)
        mod = self._blocks.get(key)
        if mod is None:
            with torch.device("meta"):
                mod = make_block(block, dropout=dropout)
            self._blocks[key] = mod
        return mod

    def _modules_for(self, arch: Arch) -> tuple[list[Block], list[nn.Module]]:
        blocks = [b for _, b in self.plan(arch)]
        last = len(blocks) - 1
        modules: list[nn.Module] = []
        for i, b in enumerate(blocks):
            mod = self._block_module(b, self.dropout if i == last else 0.0)
            # Two equal blocks (same key) must still be two modules: tensors are set by name.
            modules.append(copy.deepcopy(mod) if any(m is mod for m in modules) else mod)
        return blocks, modules

    def _skeleton(self, arch: Arch) -> nn.Sequential:
        """``build_model(arch)``'s module tree on the meta device (same names and shapes)."""
        key = arch.text
        sk = self._skeletons.get(key)
        if sk is None:
            sk = nn.Sequential(*self._modules_for(arch)[1])
            self._skeletons[key] = sk
            if len(self._skeletons) > _SKELETONS:
                self._skeletons.popitem(last=False)
        else:
            self._skeletons.move_to_end(key)
        return sk

    def subnet_tensors(self, arch: Arch) -> dict[str, torch.Tensor]:
        """Every parameter and buffer of ``build_model(arch)``, as (differentiable) slices."""
        sk = self._skeleton(arch)
        plan = self.plan(arch)
        out: dict[str, torch.Tensor] = {}
        for name, target in _named_tensors(sk):
            idx, _, inner = name.partition(".")
            pos, _block = plan[int(idx)]
            src = self.net[pos].get_parameter(inner) if _is_param(self.net[pos], inner) \
                else self.net[pos].get_buffer(inner)
            out[name] = self._slice(pos, src, tuple(target.shape), inner)
        return out

    def _slice(self, pos: int, src: torch.Tensor, shape: tuple[int, ...], inner: str) -> torch.Tensor:
        if src.dim() == 0:
            return src
        if len(shape) != src.dim():
            raise NasError(f"supernet slot {self.positions[pos].name}: tensor {inner} has shape "
                           f"{tuple(src.shape)}, subnet wants {shape}")
        t = src[tuple(slice(0, n) for n in shape[:2])]
        if src.dim() == 4 and shape[2] != src.shape[2]:
            t = self._kernel(pos, t, shape[2])
        return t

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        """Logits of subnet ``arch`` on ``x`` (gradients flow into the shared weights)."""
        sk = self._skeleton(arch)
        sk.train(self.training)
        return torch.func.functional_call(sk, self.subnet_tensors(arch), (x,), strict=True)

    def extract(self, arch: Arch) -> NASNet:
        """``arch`` as a standalone ``build_model`` network holding copies of the inherited weights.

        The BatchNorm statistics are the supernet's running ones (sliced); recalibrate them for
        the subnet before evaluating (:func:`nas.supernet.SubnetScorer` does).
        """
        with torch.no_grad():
            state = {k: v.detach().clone(memory_format=torch.contiguous_format)
                     for k, v in self.subnet_tensors(arch).items()}
        blocks, modules = self._modules_for(arch)
        # What build_model(arch, ...) returns, without its (discarded) random initialization.
        model = NASNet.__new__(NASNet)
        nn.Sequential.__init__(model, *(copy.deepcopy(m) for m in modules))
        model.blocks = tuple(blocks)
        model.load_state_dict(state, assign=True)
        return model

    # -- importance sorting ------------------------------------------------------------------
    @torch.no_grad()
    def sort_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Reorder each block's expanded channels by importance (L1 norm of the projection's
        input weights), most important first, so that slicing keeps the important ones.

        A pure relabelling for the largest subnet: its function does not change. Optimizer state
        of the permuted parameters is permuted the same way.
        """
        for mod in self.net:
            if not isinstance(mod, InvertedResidual):
                continue
            convs = [m for m in mod.body if isinstance(m, ConvBNAct)]
            if len(convs) != 3:  # no expand conv: mid channels are the block input's
                continue
            (ex, ex_bn), (dw, dw_bn), (pj, _) = (_conv_bn(c) for c in convs)
            order = pj.weight.abs().sum((0, 2, 3)).argsort(descending=True, stable=True)
            moves: list[tuple[torch.Tensor, int]] = [(ex.weight, 0), (dw.weight, 0), (pj.weight, 1)]
            for bn in (ex_bn, dw_bn):
                moves += [(bn.weight, 0), (bn.bias, 0)]
                for stat in (bn.running_mean, bn.running_var):
                    if stat is not None:
                        _permute(stat, order, 0)
            for se in (m for m in mod.body if isinstance(m, SqueezeExcite)):
                reduce, expand = se.reduce, se.expand
                if not isinstance(reduce, nn.Conv2d) or not isinstance(expand, nn.Conv2d):
                    raise TypeError("SqueezeExcite without 1x1 convs")
                moves += [(reduce.weight, 1), (expand.weight, 0)]
                if expand.bias is not None:
                    moves.append((expand.bias, 0))
            for p, dim in moves:
                _permute(p, order, dim)
                if optimizer is not None:
                    for v in optimizer.state.get(p, {}).values():
                        if isinstance(v, torch.Tensor) and v.shape == p.shape:
                            _permute(v, order, dim)


def _conv_bn(m: nn.Sequential) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv, bn = m[0], m[1]
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise TypeError(f"expected conv + batch norm, got {type(conv).__name__}, {type(bn).__name__}")
    return conv, bn


def _permute(t: torch.Tensor, order: torch.Tensor, dim: int) -> None:
    t.copy_(t.index_select(dim, order.to(t.device)))


def _is_param(module: nn.Module, name: str) -> bool:
    mod_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(mod_name) if mod_name else module
    return leaf in owner._parameters


def _named_tensors(module: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    yield from module.named_parameters()
    yield from module.named_buffers()


def build_supernet(space: SearchSpace | str, *, classes: int, in_channels: int,
                   resolutions: Sequence[int] | None = None, dropout: float = 0.0) -> Supernet:
    """A freshly initialized supernet of ``space`` (a name, path or :class:`SearchSpace`)."""
    sp = space if isinstance(space, SearchSpace) else get_space(space)
    if resolutions:
        sp = sp.with_resolutions(resolutions)
    return Supernet(sp, classes=classes, in_channels=in_channels, dropout=dropout)
