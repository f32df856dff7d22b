"""Registered reference architectures (ImageNet, 224x224, 1000 classes), in canonical text form.

Each entry also records the MACs and parameter count published for it, with the source, so the
tests can check the cost model against them (within 2%).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas._errors import NasError
from nas.arch._arch import Arch


@dataclass(frozen=True)
class Reference:
    name: str
    text: str
    published_macs: float
    published_params: float
    source: str

    @property
    def arch(self) -> Arch:
        return Arch.parse(self.text)


def _x(token: str, n: int) -> str:
    return ",".join([token] * n)


REFERENCES: dict[str, Reference] = {
    r.name: r
    for r in [
        Reference(
            "mobilenet_v2_100",
            "mobilenet_v2:r224:w1|c16:k3e1|c24:k3e6,k3e6,skip,skip|c32:k3e6,k3e6,k3e6,skip"
            f"|c64:{_x('k3e6', 4)}|c96:k3e6,k3e6,k3e6,skip|c160:k3e6,k3e6,k3e6,skip|c320:k3e6",
            300e6, 3.47e6,
            "Sandler et al., MobileNetV2, CVPR 2018 (Table 4: 300M MAdds; params 3.47M as listed "
            "with the authors' released checkpoints, the paper rounds to 3.4M)",
        ),
        Reference(
            "mobilenet_v3_large_100",
            "mobilenet_v3:r224:w1|c16:k3e1|c24:k3e4,k3e3|c40:" + _x("k5e3_se", 3)
            + "|c80:k3e6,k3e2.5,k3e2.3,k3e2.3|c112:k3e6_se,k3e6_se|c160:" + _x("k5e6_se", 3),
            219e6, 5.4e6,
            "Howard et al., Searching for MobileNetV3, ICCV 2019 (Table 3: 219M MAdds, 5.4M params)",
        ),
        Reference(
            "efficientnet_b0",
            f"efficientnet:r224:w1|c16:k3e1_se|c24:{_x('k3e6_se', 2)}|c40:{_x('k5e6_se', 2)}"
            f"|c80:{_x('k3e6_se', 3)}|c112:{_x('k5e6_se', 3)}|c192:{_x('k5e6_se', 4)}|c320:k3e6_se",
            0.39e9, 5.3e6,
            "Tan and Le, EfficientNet, ICML 2019 (Table 2: 0.39B FLOPS, i.e. multiply-adds; 5.3M params)",
        ),
        Reference(
            "mnasnet_a1",
            f"mnasnet:r224:w1|c16:k3e1|c24:{_x('k3e6', 2)}|c40:{_x('k5e3_se', 3)}|c80:{_x('k3e6', 4)}"
            f"|c112:{_x('k3e6_se', 2)}|c160:{_x('k5e6_se', 3)}|c320:k3e6",
            312e6, 3.9e6,
            "Tan et al., MnasNet, CVPR 2019 (Table 1: 312M MACs, 3.9M params)",
        ),
        Reference(
            "proxylessnas_mobile",
            "mobilenet_v2:r224:w1|c16:k3e1|c32:k5e3,k3e3,skip,skip|c40:k7e3,k3e3,k5e3,k5e3"
            "|c80:k7e6,k5e3,k5e3,k5e3|c96:k5e6,k5e3,k5e3,k5e3|c192:k7e6,k7e6,k7e3,k7e3|c320:k7e6",
            320e6, 4.1e6,
            "Cai et al., ProxylessNAS, ICLR 2019 (net config proxyless_mobile.config; 320M MACs as "
            "listed in Once-for-All, ICLR 2020, Table 3; 4.1M params in the authors' model zoo)",
        ),
    ]
}


def reference(name: str) -> Reference:
    try:
        return REFERENCES[name]
    except KeyError:
        raise NasError(f"unknown reference arch {name!r}; known: {', '.join(REFERENCES)}") from None
