"""timm arch_def strings: decoded here with timm's grammar and channel arithmetic (timm is not a
dependency), they give back exactly the blocks that hwnas builds; what timm cannot express is
reported with the reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.arch import REFERENCES, Arch
from nas.blocks import Block, arch_to_blocks
from nas.export import timm_arch_def
from nas.space import get_space, make_divisible

_ACT = {"re": "relu", "r6": "relu6", "hs": "hswish", "sw": "swish"}
_TIMM_ACT = {"relu": "relu", "relu6": "relu6", "hard_swish": "hswish", "swish": "swish"}

PROJ_SPACE = """\
name: proj_timm
resolution: [32]
channel_divisor: 8
skip_projection: true
se: {ratio: 0.25, base: in, divisor: 1, gate: sigmoid, act: swish}
stem: {out: 16, kernel: 3, stride: 2, act: swish}
stages:
  - {out: 16, stride: 1, act: swish, depth: 1, kernel: 3, expand: 1, se: true}
  - {out: 24, stride: 2, act: swish, depth: 2, kernel: [3, 5], expand: [4, 6], skip: true, se: [false, true]}
  - {out: 40, stride: 2, act: relu, depth: 2, kernel: 3, expand: 6, skip: true}
head:
  - {kind: conv, out: 128, act: swish}
  - {kind: pool}
  - {kind: classifier}
"""


def _decode(d: dict[str, Any], se_divisor: int) -> list[dict[str, Any]]:
    """timm semantics (timm 1.0 _efficientnet_builder): repeats, stride on a stage's first block
    only, mid = make_divisible(in * e, 8), SE reduce = round_fn(mid * r [/ e unless se_from_exp])."""
    kw = d["kwargs"]
    default_act = _TIMM_ACT[kw["act_layer"]]
    se_from_exp = kw.get("se_from_exp", False)
    cin = kw["stem_size"]
    out = []
    for stage in d["arch_def"]:
        first = True
        for text in stage:
            kind, *ops = text.split("_")
            opts: dict[str, str] = {}
            for op in ops:
                if op.startswith("n"):
                    opts["n"] = _ACT[op[1:]]
                else:
                    key, value = re.split(r"(\d.*)", op)[:2]
                    opts[key] = value
            for _ in range(int(opts["r"])):
                stride = int(opts["s"]) if first else 1
                first = False
                cout = int(opts["c"])
                act = opts.get("n", default_act)
                if kind == "cn":
                    out.append({"kind": "conv", "cin": cin, "cout": cout, "k": int(opts["k"]),
                                "s": stride, "act": act})
                else:
                    e = float(opts["e"]) if kind == "ir" else 1.0
                    mid = make_divisible(cin * e, 8) if kind == "ir" else cin
                    se = 0
                    if "se" in opts:
                        r = float(opts["se"]) if se_from_exp else float(opts["se"]) / e
                        v = mid * r
                        se = make_divisible(v, se_divisor) if se_divisor > 1 else round(v)
                    out.append({"kind": "mbconv", "cin": cin, "cout": cout, "k": int(opts["k"]),
                                "s": stride, "act": act, "mid": mid, "se": se,
                                "expand_conv": kind == "ir",
                                "residual": stride == 1 and cin == cout})
                cin = cout
    return out


def _ours(blocks: list[Block]) -> list[dict[str, Any]]:
    out = []
    for b in blocks:
        if b.kind == "conv":
            out.append({"kind": "conv", "cin": b.cin, "cout": b.cout, "k": b.kernel, "s": b.stride,
                        "act": b.act})
        else:
            out.append({"kind": "mbconv", "cin": b.cin, "cout": b.cout, "k": b.kernel,
                        "s": b.stride, "act": b.act, "mid": b.mid, "se": b.se,
                        "expand_conv": b.expand_conv, "residual": b.residual})
    return out


def _check_expressible(arch: Arch, classes: int = 1000) -> dict[str, Any]:
    space = get_space(arch.space)
    blocks = arch_to_blocks(arch, space, classes=classes)
    d = timm_arch_def(arch, space, blocks)
    assert d["expressible"], d["reasons"]
    n_head = len(space.head)
    middle = blocks[1:len(blocks) - n_head]
    decoded = _decode(d, space.se.divisor)
    head = blocks[len(blocks) - n_head:]
    if d["model_class"].endswith("MobileNetV3"):
        middle = [*middle, head[0]]  # the 1x1 head conv is a 'cn' stage in timm's MobileNetV3
        assert d["kwargs"]["num_features"] == head[2].cout and d["kwargs"]["head_bias"]
    else:
        assert d["kwargs"]["num_features"] == head[0].cout
    assert decoded == _ours(middle)
    stem = blocks[0]
    assert (d["kwargs"]["stem_size"], d["kwargs"]["in_chans"], d["kwargs"]["num_classes"]) == \
        (stem.cout, stem.cin, classes)
    assert d["se_layer"]["gate_layer"] == {"sigmoid": "sigmoid", "hsigmoid": "hard_sigmoid"}[space.se.gate]
    compile(d["python"], "snippet", "exec")  # the usage snippet is valid Python
    return d


def test_timm_own_reference_arch_defs_are_reproduced() -> None:
    d = _check_expressible(REFERENCES["mobilenet_v3_large_100"].arch)
    # timm's mobilenetv3_large_100 definition, stage by stage
    assert d["arch_def"] == [
        ["ds_r1_k3_s1_c16_nre"], ["ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"],
        ["ir_r3_k5_s2_e3_c40_se0.25_nre"],
        ["ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"],
        ["ir_r2_k3_s1_e6_c112_se0.25"], ["ir_r3_k5_s2_e6_c160_se0.25"], ["cn_r1_k1_s1_c960"]]
    d = _check_expressible(REFERENCES["efficientnet_b0"].arch)
    assert d["arch_def"] == [
        ["ds_r1_k3_s1_c16_se0.25"], ["ir_r2_k3_s2_e6_c24_se0.25"], ["ir_r2_k5_s2_e6_c40_se0.25"],
        ["ir_r3_k3_s2_e6_c80_se0.25"], ["ir_r3_k5_s1_e6_c112_se0.25"],
        ["ir_r4_k5_s2_e6_c192_se0.25"], ["ir_r1_k3_s1_e6_c320_se0.25"]]


@pytest.mark.parametrize("name", list(REFERENCES))
def test_references_decode_to_the_same_blocks(name: str) -> None:
    _check_expressible(REFERENCES[name].arch)


@pytest.mark.parametrize("space", ["mobilenet_v2", "mobilenet_v3", "efficientnet", "mnasnet"])
@pytest.mark.parametrize("seed", range(3))
def test_space_samples_decode_to_the_same_blocks(space: str, seed: int) -> None:
    _check_expressible(get_space(space).sample(np.random.default_rng(seed)), classes=10)


def test_projection_skip_is_a_cn_block(tmp_path: Path) -> None:
    path = tmp_path / "proj_timm.yaml"
    path.write_text(PROJ_SPACE)
    get_space(path)
    arch = Arch.parse("proj_timm:r32:w1|c16:k3e1_se|c24:skip,k5e6_se|c40:skip,k3e6")
    d = _check_expressible(arch)
    assert d["arch_def"][1][0] == "cn_r1_k1_s2_c24" and d["arch_def"][2][0] == "cn_r1_k1_s2_c40_nre"
    assert any("skip" in n for n in d["notes"])


def test_fbnet_is_not_expressible_and_says_why() -> None:
    space = get_space("fbnet")
    arch = Arch.parse("fbnet:r32:w1|c16:k3e1_g2|c24:k3e3,skip,skip,skip|c32:k5e6,k3e1,skip,skip"
                      "|c64:k3e3,skip,skip,skip|c112:k5e1_g2,skip,skip,skip|c184:k3e6,skip,skip,skip"
                      "|c352:k3e3")
    d = timm_arch_def(arch, space, arch_to_blocks(arch, space))
    assert not d["expressible"] and "arch_def" not in d
    text = " ".join(d["reasons"])
    assert "stem" in text and "stride-2" in text
    assert "grouped pointwise" in text and "stage 0 block 0" in text and "stage 4 block 0" in text
    assert len(d["reasons"]) == 2  # one line per cause, naming every place
