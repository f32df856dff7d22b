"""Express an arch in timm's EfficientNet builder grammar (``arch_def``), or say why it cannot.

timm builds EfficientNet/MobileNetV3-family networks from a list of stages of block strings
(``timm.models._efficientnet_builder.decode_arch_def``): ``ds_r1_k3_s1_c16`` (depthwise-separable,
no expansion), ``ir_r2_k3_s2_e6_c24_se0.25`` (inverted residual), ``cn_r1_k1_s1_c960`` (conv-BN-act);
``_nre``/``_nr6``/``_nhs``/``_nsw`` override the model's activation for one block. Only the first
block of a stage takes the stride. The stem (3x3, stride 2), the head and the squeeze-excite
convention are model arguments, so they are written beside the ``arch_def``.

Every block string is checked against the block it stands for with timm's own channel arithmetic
(``make_divisible(in * e)`` for the expanded width, its SE rounding), so a string that timm would
build differently is reported as not expressible instead of being written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nas.arch import Arch, format_num
from nas.blocks import Block
from nas.space import SearchSpace, make_divisible

TIMM_ACTS = {"relu": "relu", "relu6": "relu6", "hswish": "hard_swish", "swish": "swish"}
_ACT_TAGS = {"relu": "nre", "relu6": "nr6", "hswish": "nhs", "swish": "nsw"}
_GATES = {"sigmoid": "sigmoid", "hsigmoid": "hard_sigmoid"}


@dataclass
class _Conversion:
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def stage_blocks(arch: Arch, blocks: Sequence[Block], n_head: int) -> list[list[Block]]:
    """The middle blocks of ``blocks`` grouped by the arch stage they came from.

    Identity skips produce no block; a shape-changing skip (only ever a stage's first layer)
    produces a 1x1 ``conv`` block, every other layer an ``mbconv``.
    """
    middle = list(blocks[1:len(blocks) - n_head])
    stages: list[list[Block]] = []
    pos = 0
    for stage in arch.stages:
        group: list[Block] = []
        for layer in stage.layers:
            if pos < len(middle) and (not layer.skip or middle[pos].kind == "conv"):
                group.append(middle[pos])
                pos += 1
        stages.append(group)
    if pos != len(middle):
        raise ValueError(f"block list does not match arch {arch.text}: {len(middle) - pos} left over")
    return stages


def _act_tag(act: str, default: str, conv: _Conversion, where: str) -> str:
    if act not in _ACT_TAGS:
        conv.reasons.append(f"{where}: activation {act!r} has no timm block-string tag")
        return ""
    return "" if act == default else f"_{_ACT_TAGS[act]}"


def _se_round(value: float, divisor: int) -> int:
    return make_divisible(value, divisor) if divisor > 1 else round(value)


def _block_string(b: Block, space: SearchSpace, act: str, se_from_exp: bool,
                  conv: _Conversion, where: str) -> str:
    if b.stride not in (1, 2):
        conv.reasons.append(f"{where}: stride {b.stride}; timm's builder allows strides 1 and 2")
    tag = _act_tag(b.act, act, conv, where)
    if b.kind == "conv":
        if b.kernel != 1 or b.groups != 1:
            conv.reasons.append(f"{where}: {b.key} is not a plain 1x1 conv")
        conv.notes.append(f"{where}: the shape-changing skip is a 1x1 conv-BN-act, written as 'cn'")
        return f"cn_r1_k1_s{b.stride}_c{b.cout}{tag}"
    if b.groups != 1:
        conv.reasons.append(f"{where}: grouped pointwise convolutions (groups={b.groups}) with channel "
                            "shuffle (FBNet '_g' layers); timm's blocks have ungrouped pointwise convs")
    if b.expand_conv:
        # timm: mid = make_divisible(in * e, 8); use the shortest ratio that gives our width.
        expand = next((e for e in (b.mid / b.cin, round(b.mid / b.cin, 2), round(b.mid / b.cin, 1))
                       if make_divisible(b.cin * e, 8) == b.mid), None)
        if expand is None:
            conv.reasons.append(f"{where}: expanded width {b.mid} from {b.cin} channels is not "
                                "make_divisible(in * e, 8) for any ratio e")
            expand = b.mid / b.cin
        text, e_timm = f"ir_r1_k{b.kernel}_s{b.stride}_e{format_num(expand)}_c{b.cout}", expand
    else:
        text, e_timm = f"ds_r1_k{b.kernel}_s{b.stride}_c{b.cout}", 1.0
    if b.se:
        # timm sizes SE from the expanded width: rd = round_fn(mid * r), with r divided by the
        # expansion ratio unless se_from_exp; pick r so that it reproduces our reduced width.
        ratio = space.se.ratio
        if space.se.base == "in" and se_from_exp:
            ratio = ratio / e_timm
        elif space.se.base == "mid" and not se_from_exp:
            ratio = ratio * e_timm
        r_eff = ratio if se_from_exp else ratio / e_timm
        rd = _se_round(b.mid * r_eff, space.se.divisor)
        if rd != b.se:
            conv.reasons.append(f"{where}: squeeze-excite width {b.se}; timm would make {rd}")
        text += f"_se{format_num(round(ratio, 6))}"
    return text + tag


def _merge(strings: list[str]) -> list[str]:
    """Fold runs of identical blocks into ``_rN`` (only a stage's first block keeps its stride)."""
    out: list[tuple[str, int]] = []
    for i, s in enumerate(strings):
        kind, _, rest = s.split("_", 2)
        key = "_".join(p for p in rest.split("_") if not p.startswith("s") or p.startswith("se"))
        if out and i > 0:
            prev, n = out[-1]
            pk, _, prest = prev.split("_", 2)
            pkey = "_".join(p for p in prest.split("_") if not p.startswith("s") or p.startswith("se"))
            if (pk, pkey) == (kind, key):
                out[-1] = (prev, n + 1)
                continue
        out.append((s, 1))
    return [s.replace("_r1_", f"_r{n}_", 1) for s, n in out]


def timm_arch_def(arch: Arch, space: SearchSpace, blocks: Sequence[Block]) -> dict[str, Any]:
    """timm model class, ``arch_def`` and model arguments for ``arch``, or why there are none.

    Returns a JSON-ready dict with ``expressible``; when true also ``model_class``, ``arch_def``,
    ``kwargs`` (stem size, head size, activation, SE layer) and a ``python`` snippet; when false
    ``reasons``. ``notes`` lists approximations that keep the network identical.
    """
    conv = _Conversion()
    stem, head = blocks[0], list(blocks[len(blocks) - len(space.head):])
    if (stem.kind, stem.kernel, stem.stride, stem.groups) != ("conv", 3, 2, 1):
        conv.reasons.append(f"stem {stem.key}: timm's EfficientNet/MobileNetV3 stem is a 3x3 stride-2 conv")
    kinds = [b.kind for b in head]
    if kinds == ["conv", "pool", "fc"] and head[0].kernel == 1:
        model_class, num_features, head_act = "EfficientNet", head[0].cout, head[0].act
        extra_stage: list[str] = []
    elif kinds == ["conv", "pool", "fc", "fc"] and head[0].kernel == 1:
        model_class, num_features, head_act = "MobileNetV3", head[2].cout, head[2].act
        extra_stage = ["__head_conv__"]
    else:
        conv.reasons.append(f"head {' -> '.join(kinds)}: timm's classes have conv-pool-classifier "
                            "(EfficientNet) or conv-pool-fc-classifier (MobileNetV3) heads")
        model_class, num_features, head_act, extra_stage = "EfficientNet", 0, stem.act, []
    act = stem.act
    if head_act != act:
        conv.reasons.append(f"the stem activation {act!r} and the head activation {head_act!r} "
                            f"differ; timm's {model_class} uses one act_layer for both")
    se_from_exp = model_class == "MobileNetV3" and space.se.base == "mid"
    arch_def: list[list[str]] = []
    for i, group in enumerate(stage_blocks(arch, blocks, len(space.head))):
        strings = [_block_string(b, space, act, se_from_exp, conv, f"stage {i} block {j}")
                   for j, b in enumerate(group)]
        if strings:
            arch_def.append(_merge(strings))
    if extra_stage:
        arch_def.append([f"cn_r1_k1_s1_c{head[0].cout}"
                         + _act_tag(head[0].act, act, conv, "head conv")])
    if conv.reasons:
        return {"expressible": False, "reasons": _grouped(conv.reasons), "notes": _grouped(conv.notes)}
    se = {"gate_layer": _GATES[space.se.gate], "force_act_layer": TIMM_ACTS.get(space.se.act),
          "rd_round_fn": "round" if space.se.divisor <= 1 else f"make_divisible(divisor={space.se.divisor})"}
    kwargs: dict[str, Any] = {
        "num_classes": head[-1].cout, "in_chans": stem.cin, "stem_size": stem.cout, "fix_stem": True,
        "num_features": num_features, "act_layer": TIMM_ACTS[act],
        "round_chs_fn": "identity (channels in arch_def are absolute)", "drop_rate": 0.2,
    }
    if model_class == "MobileNetV3":
        kwargs.update(head_bias=True, se_from_exp=se_from_exp)
    return {
        "expressible": True,
        "model_class": f"timm.models.{model_class.lower()}.{model_class}",
        "arch_def": arch_def,
        "kwargs": kwargs,
        "se_layer": se,
        "python": _snippet(model_class, arch_def, kwargs, se),
        "notes": _grouped(conv.notes),
    }


def _grouped(messages: list[str]) -> list[str]:
    """One line per distinct message, naming every place it applies (``where: message``)."""
    places: dict[str, list[str]] = {}
    for m in messages:
        where, sep, text = m.partition(": ")
        if sep and where.startswith("stage "):
            places.setdefault(text, []).append(where)
        else:
            places.setdefault(m, [])
    return [f"{text} (at {', '.join(w)})" if w else text for text, w in places.items()]


def _snippet(model_class: str, arch_def: list[list[str]], kwargs: dict[str, Any],
             se: dict[str, Any]) -> str:
    module = "efficientnet" if model_class == "EfficientNet" else "mobilenetv3"
    rd = "round" if se["rd_round_fn"] == "round" else \
        f"partial(make_divisible, divisor={se['rd_round_fn'].split('=')[1].rstrip(')')})"
    force = f", force_act_layer=get_act_layer({se['force_act_layer']!r})" if se["force_act_layer"] else ""
    args = {k: v for k, v in kwargs.items() if k not in ("round_chs_fn", "act_layer")}
    lines = [
        "from functools import partial",
        "from timm.layers import get_act_layer, make_divisible",
        "from timm.models._efficientnet_blocks import SqueezeExcite",
        "from timm.models._efficientnet_builder import decode_arch_def",
        f"from timm.models.{module} import {model_class}",
        f"arch_def = {arch_def!r}",
        f"model = {model_class}(decode_arch_def(arch_def), round_chs_fn=lambda chs: chs,",
        f"    act_layer=get_act_layer({kwargs['act_layer']!r}),",
        f"    se_layer=partial(SqueezeExcite, gate_layer={se['gate_layer']!r}{force}, rd_round_fn={rd}),",
        "    " + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")",
    ]
    return "\n".join(lines)
