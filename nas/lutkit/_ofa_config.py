"""Once-for-All / ProxylessNAS ``net.config`` files as archs of our spaces.

A ``net.config`` (JSON written by ``MyNetwork.config`` in the Once-for-All and ProxylessNAS code)
lists the first conv, every block (``ResidualBlock`` with ``conv``, or the older
``MobileInvertedResidualBlock`` with ``mobile_inverted_conv``; a ``ZeroLayer`` or a null conv is
a skipped layer), the head layers and the classifier. ``MobileNetV3`` configs become archs of
the ``mobilenet_v3`` space (width 1.0 or 1.2 read from the first conv), ``ProxylessNASNets``
configs archs of ``mobilenet_v2``. The input side is not part of a net.config: it is read from a
``resolution``/``image_size`` field, else from ``run.config`` next to the file (as Once-for-All's
specialized nets ship), else the space's default. Every block is checked against the lowered
arch (channels, stride, middle channels, SE, activation), so a config that our space cannot
express exactly is an error naming the block, never a silent approximation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.arch import Arch, Layer, Stage

SPACES = {"MobileNetV3": "mobilenet_v3", "ProxylessNASNets": "mobilenet_v2"}
_ACTS = {"relu": "relu", "relu6": "relu6", "h_swish": "hswish", "hswish": "hswish"}


def _num(conf: dict[str, Any], key: str, where: str) -> int:
    value = conf.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NasError(f"{where}: field {key!r} is {value!r}, not a number")
    return int(value)


def _resolution(data: dict[str, Any], source: str, default: int) -> int:
    value = data.get("resolution", data.get("image_size"))
    run = Path(source).with_name("run.config")
    if value is None and run.is_file():
        try:
            value = json.loads(run.read_text()).get("image_size")
        except (OSError, json.JSONDecodeError, AttributeError) as exc:
            raise NasError(f"{run}: cannot read image_size ({exc})") from None
    if isinstance(value, list) and value:
        value = max(value)  # OFA trains at several sizes and evaluates at the largest
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise NasError(f"{source}: resolution/image_size {value!r} is not an integer")
    return value


def read_net_config(data: Any, source: str) -> Arch | None:
    """The arch of a net.config, or None when ``data`` is not one."""
    if not (isinstance(data, dict) and "first_conv" in data and isinstance(data.get("blocks"), list)):
        return None
    from nas.space import get_space, make_divisible

    name = data.get("name")
    if name not in SPACES:
        raise NasError(f"{source}: net.config of {name!r}; known: "
                       + ", ".join(f"{k} (space {v})" for k, v in SPACES.items()))
    space = get_space(SPACES[name])
    where = f"net.config {source}"
    stem_out = _num(data["first_conv"], "out_channels", f"{where}: first_conv")
    widths = [w for w in space.widths
              if make_divisible(space.stem.out * w, space.channel_divisor) == stem_out]
    if not widths:
        raise NasError(f"{where}: first_conv has {stem_out} channels; space {space.name} allows "
                       + ", ".join(f"{make_divisible(space.stem.out * w, space.channel_divisor)} "
                                   f"(width {w})" for w in space.widths))
    width = widths[0]
    stages: list[tuple[int, list[Layer]]] = []
    convs: list[tuple[int, dict[str, Any]]] = []
    for i, block in enumerate(data["blocks"]):
        bw = f"{where}: blocks[{i}]"
        if not isinstance(block, dict):
            raise NasError(f"{bw}: expected an object")
        conv = block.get("conv", block.get("mobile_inverted_conv"))
        if conv is None or conv.get("name") == "ZeroLayer":
            if not stages:
                raise NasError(f"{bw}: a skipped layer cannot open the network")
            stages[-1][1].append(Layer(skip=True))
            continue
        cin, cout = _num(conv, "in_channels", bw), _num(conv, "out_channels", bw)
        stride, kernel = _num(conv, "stride", bw), _num(conv, "kernel_size", bw)
        if not stages or cin != cout or stride != 1:
            stages.append((cout, []))
        layer = Layer(kernel=kernel, expand=float(conv.get("expand_ratio") or 1),
                      se=bool(conv.get("use_se", False)))
        stages[-1][1].append(layer)
        convs.append((i, conv))
    if len(stages) != len(space.stages):
        raise NasError(f"{where}: {len(stages)} stages (a stage starts where the channels or the "
                       f"stride change), space {space.name} has {len(space.stages)}")
    arch_stages = []
    for s, ((cout, layers), spec) in enumerate(zip(stages, space.stages, strict=True)):
        base = [c for c in spec.channels
                if make_divisible(c * width, space.channel_divisor) == cout]
        if not base:
            raise NasError(f"{where}: stage {s} has {cout} output channels; space {space.name} "
                           f"allows base {list(spec.channels)} at width {width}")
        arch_stages.append(Stage(base[0], tuple(layers)))
    arch = Arch(space.name, _resolution(data, source, space.default_resolution),
                tuple(arch_stages), width=width)
    _check(arch, space, data, convs, where)
    return arch


def _check(arch: Arch, space: Any, data: dict[str, Any], convs: list[tuple[int, dict[str, Any]]],
           where: str) -> None:
    """Every block of the config must be the block our lowering gives (else: an error)."""
    from nas.blocks import arch_to_blocks

    blocks = arch_to_blocks(arch, space)
    body = [b for b in blocks if b.kind == "mbconv"]
    if len(body) != len(convs):
        raise NasError(f"{where}: {len(convs)} blocks but the arch lowers to {len(body)} "
                       "(a skip that changes shape?)")
    for b, (i, conv) in zip(body, convs, strict=True):
        mid = conv.get("mid_channels")
        act = _ACTS.get(str(conv.get("act_func", "relu6" if arch.space == "mobilenet_v2" else "")))
        got = {"in_channels": b.cin, "out_channels": b.cout, "stride": b.stride,
               "mid_channels": b.mid, "act_func": b.act}
        want = {"in_channels": conv["in_channels"], "out_channels": conv["out_channels"],
                "stride": conv["stride"], "mid_channels": mid if mid is not None else b.mid,
                "act_func": act if act is not None else b.act}
        bad = [k for k in got if got[k] != want[k]]
        if bad:
            raise NasError(f"{where}: blocks[{i}]: {', '.join(f'{k} {want[k]}' for k in bad)} "
                           f"differ from space {space.name}'s block {b.key}")
    last = max(i for i, b in enumerate(blocks) if b.kind == "mbconv")
    ours = [b.cout for b in blocks[last + 1:-1] if b.kind in ("conv", "fc")]
    outs = [_num(data[name], "out_channels", f"{where}: {name}")
            for name in ("final_expand_layer", "feature_mix_layer") if data.get(name)]
    if outs != ours:
        raise NasError(f"{where}: head layers have {outs} output channels, space {space.name} "
                       f"gives {ours}")
