"""Fit a table's kernel model, for phones with nn-Meter's measured blocks of the same phone.

A phone table imported from a paper holds a few dozen keys (ProxylessNAS: 71 MBConvs at 224 px;
the nn-Meter imports: only the 10 stems that are blocks of our spaces). nn-Meter measured about
1,800 MBConv blocks per phone (sides 16-224, channels 16-48, kernel 3/5, stride 1/2, with and
without SE, all h-swish) with TFLite on one big core: enough to fit how each kernel's latency
grows with its shape. :func:`fit_table_kernels` fits on those blocks and lets the table's own
keys fit the device scale per kernel group (:func:`nas.latency.fit_kernel_model`); the model is
stored in the table file, so a checkout without the published data still prices with it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import Block, Op, arch_to_blocks, block_ops
from nas.latency import KernelModel, LatencyTable, fit_kernel_model
from nas.lutkit._parsers import nnmeter_records
from nas.lutkit._sources import SOURCES
from nas.space import make_divisible

# The nn-Meter keys say only "se" or "nose"; their blocks are MobileNetV3-style (h-swish), so
# MobileNetV3's squeeze-excite is assumed: a quarter of the middle width (rounded to 8), ReLU
# inside, hard-sigmoid gate. The SE kernel's coefficients rest on this assumption.
_NN_SE_RATIO, _NN_SE_DIVISOR, _NN_SE_GATE, _NN_SE_ACT = 0.25, 8, "hsigmoid", "relu"
NNMETER_PHONES = tuple(SOURCES["nnmeter"].extra["devices"])


def nnmeter_blocks(path: str | Path) -> list[tuple[Block, float]]:
    """The blocks an nn-Meter ``<phone>_lut_ln_v3.json`` measured, as our block keys with ms.

    Its transformer keys are left out (no such kernels in our spaces) and so are the
    ``mbpool`` keys (an MBConv, a pool and a 1984-wide head timed as one, which does not say
    what the head costs apart).
    """
    runs = int(SOURCES["nnmeter"].extra["runs"])
    out = []
    for rec in nnmeter_records(Path(path), runs):
        for c, stats in rec.parts:
            if c.kind == "conv":
                b = Block("conv", c.cin, c.cout, c.hw, c.kernel, c.stride, c.act or "hswish")
            else:
                mid = c.mid or c.cin
                se = make_divisible(mid * _NN_SE_RATIO, _NN_SE_DIVISOR) if c.se else 0
                b = Block("mbconv", c.cin, c.cout, c.hw, c.kernel, c.stride, c.act or "hswish",
                          mid=mid, se=se, se_gate=_NN_SE_GATE if se else "none",
                          se_act=_NN_SE_ACT if se else "none",
                          expand_conv=mid != c.cin, residual=c.stride == 1 and c.cin == c.cout)
            out.append((b, stats.mean))
    return out


# TFLite node types and the kernels of ours each runs (activations are fused into convolutions;
# the classifier is a 1x1 CONV_2D or a FULLY_CONNECTED)
_TFLITE_NODES = {"CONV_2D": ("conv", "pw", "fc"), "FULLY_CONNECTED": ("fc", "pw"),
                 "DEPTHWISE_CONV_2D": ("dw",), "ADD": ("add",), "AVERAGE_POOL_2D": ("pool",),
                 "MEAN": ("pool",)}
_PROFILE_ROW = re.compile(r"^\s*([A-Z_0-9]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+[\d.]+%")


def tflite_profile_ops(path: str | Path, arch: Arch) -> list[tuple[tuple[Op, ...], float]]:
    """Each kernel of ``arch`` with its time from a TFLite ``benchmark_model`` per-op profile
    (the "Run Order" section) of the same network: kernel-level measurements.

    The profile's nodes are matched to :func:`nas.blocks.block_ops` of the arch in order; nodes
    that do no arithmetic (RESHAPE, SOFTMAX, SQUEEZE) are skipped.

    Raises:
        NasError: the profile's nodes are not the arch's kernels (naming the first mismatch).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise NasError(f"{path}: cannot read ({exc.strerror})") from None
    if "Run Order" not in text:
        raise NasError(f"{path}: no 'Run Order' section; is it a benchmark_model per-op profile?")
    lines = text.split("Run Order", 1)[1].splitlines()[1:]
    end = next((i for i, line in enumerate(lines) if line.startswith("=")), len(lines))
    nodes = [(m[1], float(m[2])) for line in lines[:end]
             if (m := _PROFILE_ROW.match(line)) and m[1] in _TFLITE_NODES]
    ops = [op for b in arch_to_blocks(arch) for op in block_ops(b) if op.kind != "act"]
    if len(nodes) != len(ops):
        raise NasError(f"{path}: {len(nodes)} arithmetic nodes but arch {arch.text} has "
                       f"{len(ops)} kernels")
    for i, ((node, _), op) in enumerate(zip(nodes, ops, strict=True)):
        if op.kind not in _TFLITE_NODES[node]:
            raise NasError(f"{path}: node {i} is {node}, but kernel {i} of {arch.text} is "
                           f"{op.key}")
    return [((op,), ms) for (_, ms), op in zip(nodes, ops, strict=True)]


def fit_table_kernels(table: LatencyTable, extra: Sequence[str | Path] = (), *,
                      profiles: Sequence[tuple[str | Path, Arch]] = (),
                      folds: int = 5, seed: int = 0) -> KernelModel:
    """Fit ``table``'s kernel model on its entries (and nn-Meter files of the same phone) and
    store it in the table (write the table to keep it). ``profiles`` are per-op TFLite profiles
    of whole networks on the table's own device and runtime (:func:`tflite_profile_ops`): their
    kernels count as the table's own measurements.

    A table imported from nn-Meter itself gets that file's blocks as keys of its own (the import
    kept only the few that are blocks of our spaces; the rest are the same measurements), so its
    held-out error is over all of them; any other table fits the nn-Meter blocks first and its
    own keys then set the device scale (:func:`nas.latency.fit_kernel_model`).
    """
    keys = sorted(table.entries)
    blocks: list[Block | tuple[Op, ...]] = [Block.parse(k) for k in keys]
    ms = [table.entries[k].value(table.statistic) for k in keys]
    more: list[tuple[Block | tuple[Op, ...], float]] = []
    sources = [f"{len(blocks)} entries of {table.id}"]
    for path, arch in profiles:
        rows = tflite_profile_ops(path, arch)
        blocks += [r for r, _ in rows]
        ms += [v for _, v in rows]
        sources.append(f"{len(rows)} kernels of the per-op profile {Path(path).name}")
    same_source = table.measurement.get("format") == "nnmeter"
    for path in extra:
        got = nnmeter_blocks(path)
        sources.append(f"{len(got)} blocks of nn-Meter {Path(path).name} "
                       f"({SOURCES['nnmeter'].source})")
        if same_source:
            have = set(keys)
            got = [(b, v) for b, v in got if b.key not in have]
            blocks += [b for b, _ in got]
            ms += [v for _, v in got]
        else:
            more += got
    model = fit_kernel_model(blocks, ms, extra=more, folds=folds, seed=seed, sources=sources)
    table.set_kernel_model(model)
    return model
