"""Once-for-All / ProxylessNAS net.config files as ARCH for `nas arch show` and `nas lut predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nas._errors import NasError
from nas.arch import REFERENCES, load_arch
from nas.cli._main import main
from nas.lutkit import sources_dir
from nas.space import make_divisible

KS = [7, 5, 5, 5, 7, 7, 5, 7, 5, 7, 3, 7, 5, 3, 7, 3, 5, 3, 5, 3]
ES = [6, 4, 4, 6, 6, 3, 4, 3, 3, 6, 3, 3, 3, 6, 3, 4, 6, 4, 3, 6]
DS = [2, 3, 2, 4, 3]


def _conv(cin: int, cout: int, k: int, s: int, act: str) -> dict[str, Any]:
    return {"name": "ConvLayer", "kernel_size": k, "stride": s, "dilation": 1, "groups": 1,
            "bias": False, "has_shuffle": False, "in_channels": cin, "out_channels": cout,
            "use_bn": True, "act_func": act, "dropout_rate": 0, "ops_order": "weight_bn_act"}


def ofa_net_config(width: float = 1.2, *, old_names: bool = False) -> dict[str, Any]:
    """A subnet config with the fields Once-for-All's MobileNetV3.config writes."""
    def w(c: int) -> int:
        return make_divisible(c * width, 8)

    acts = ["relu", "relu", "h_swish", "h_swish", "h_swish"]
    ses = [False, True, False, True, True]
    outs, strides = [24, 40, 80, 112, 160], [2, 2, 2, 1, 2]

    def block(cin: int, cout: int, k: int, s: int, e: int, act: str, se: bool) -> dict[str, Any]:
        conv = {"name": "MBInvertedConvLayer" if old_names else "MBConvLayer", "in_channels": cin,
                "out_channels": cout, "kernel_size": k, "stride": s, "expand_ratio": e,
                "mid_channels": None if e == 1 else make_divisible(round(cin * e), 8),
                "act_func": act, "use_se": se}
        short = ({"name": "IdentityLayer", "in_channels": cin, "out_channels": cout}
                 if s == 1 and cin == cout else None)
        key = "mobile_inverted_conv" if old_names else "conv"
        return {"name": "MobileInvertedResidualBlock" if old_names else "ResidualBlock",
                key: conv, "shortcut": short}

    blocks = [block(w(16), w(16), 3, 1, 1, "relu", False)]
    cin = w(16)
    for st in range(5):
        for j in range(DS[st]):
            p = st * 4 + j
            blocks.append(block(cin, w(outs[st]), KS[p], strides[st] if j == 0 else 1, ES[p],
                                acts[st], ses[st]))
            cin = w(outs[st])
    return {"name": "MobileNetV3", "bn": {"momentum": 0.1, "eps": 1e-5},
            "first_conv": _conv(3, w(16), 3, 2, "h_swish"), "blocks": blocks,
            "final_expand_layer": _conv(cin, w(960), 1, 1, "h_swish"),
            "feature_mix_layer": _conv(w(960), w(1280), 1, 1, "h_swish"),
            "classifier": {"name": "LinearLayer", "in_features": w(1280), "out_features": 1000,
                           "bias": True, "use_bn": False, "act_func": None, "dropout_rate": 0.1}}


def expected(width: str, r: int) -> str:
    stages = ["c16:k3e1"]
    for st, (c, se) in enumerate(zip((24, 40, 80, 112, 160), ("", "_se", "", "_se", "_se"),
                                     strict=True)):
        stages.append(f"c{c}:" + ",".join(f"k{KS[st * 4 + j]}e{ES[st * 4 + j]}{se}"
                                          for j in range(DS[st])))
    return f"mobilenet_v3:r{r}:w{width}|" + "|".join(stages)


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_ofa_net_config_reads_width_depths_and_run_config_resolution(tmp_path) -> None:
    folder = tmp_path / "note10_lat@22ms"
    folder.mkdir()
    cfg = write(folder / "net.config", ofa_net_config(1.2))
    assert load_arch(str(cfg)).text == expected("1.2", 224)  # no run.config: space default
    (folder / "run.config").write_text(json.dumps({"image_size": [160, 192, 208]}))
    assert load_arch(str(cfg)).text == expected("1.2", 208)
    old = write(tmp_path / "old.config", {**ofa_net_config(1.0, old_names=True),
                                          "resolution": 176})
    assert load_arch(str(old)).text == expected("1", 176)


def test_arch_show_and_lut_predict_accept_a_net_config(tmp_path, capsys) -> None:
    cfg = write(tmp_path / "net.config", {**ofa_net_config(1.2), "resolution": 192})
    assert main(["arch", "show", str(cfg), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["arch"] == expected("1.2", 192) and shown["in_space"]
    assert main(["lut", "predict", "note10_cpu_tflite_ofa_mbv3_w12", str(cfg), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["latency_ms"] > 0 and pred["arch"] == expected("1.2", 192)


@pytest.mark.skipif(not sources_dir().is_dir(), reason="published data not present")
def test_proxylessnas_mobile_config_is_the_reference_arch() -> None:
    path = sources_dir() / "proxylessnas_pixel1" / "configs" / "proxyless_mobile.config"
    assert load_arch(str(path)) == REFERENCES["proxylessnas_mobile"].arch
    with pytest.raises(NasError, match="first_conv has 40 channels"):
        load_arch(str(path.with_name("proxyless_gpu.config")))


def test_net_configs_our_spaces_cannot_express_are_errors(tmp_path) -> None:
    data = ofa_net_config(1.2)
    data["first_conv"]["out_channels"] = 40
    with pytest.raises(NasError, match=r"first_conv has 40 channels; space mobilenet_v3 allows"):
        load_arch(str(write(tmp_path / "a.config", data)))
    data = ofa_net_config(1.2)
    data["blocks"][3]["conv"]["mid_channels"] = 100
    with pytest.raises(NasError, match=r"blocks\[3\]: mid_channels 100 differ"):
        load_arch(str(write(tmp_path / "b.config", data)))
    data = ofa_net_config(1.2)
    data["blocks"][2]["conv"]["act_func"] = "h_swish"
    with pytest.raises(NasError, match=r"blocks\[2\]: act_func hswish differ"):
        load_arch(str(write(tmp_path / "c.config", data)))
    data = {**ofa_net_config(1.2), "name": "ResNets"}
    with pytest.raises(NasError, match=r"net\.config of 'ResNets'"):
        load_arch(str(write(tmp_path / "d.config", data)))
    data = ofa_net_config(1.2)
    data["feature_mix_layer"]["out_channels"] = 1280
    with pytest.raises(NasError, match="head layers have"):
        load_arch(str(write(tmp_path / "e.config", data)))
