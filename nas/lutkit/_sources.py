"""Where the published latency data lives, what each source measured, and how to cite it.

The data itself is not part of hwnas: it sits in a shared folder next to the checkout
(``../shared/latency_sources``, or ``$HWNAS_LATENCY_SOURCES``). Every table derived from one of
these sources records the source and the citation below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas._errors import NasError

REPO_ROOT = Path(__file__).resolve().parents[2]


def sources_dir() -> Path:
    """The folder holding the published data (``$HWNAS_LATENCY_SOURCES`` or ``../shared/...``)."""
    env = os.environ.get("HWNAS_LATENCY_SOURCES")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "latency_sources"


@dataclass(frozen=True)
class SourceInfo:
    """What one published source measured: device metadata, provenance and citation."""

    fmt: str
    device: dict[str, Any]
    source: str
    citation: str
    licence: str
    space: str
    widths: tuple[float, ...]
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_HAN_CAI_FILES = "han-cai/files, commit a7c9bcd5"
_OFA_CITE = ('Cai et al., "Once-for-All: Train One Network and Specialize it for Efficient '
             'Deployment", ICLR 2020')
_HELP_CITE = ('Lee et al., "HELP: Hardware-Adaptive Efficient Latency Prediction for NAS via '
              'Meta-Learning", NeurIPS 2021; Li et al., "HW-NAS-Bench: Hardware-Aware Neural '
              'Architecture Search Benchmark", ICLR 2021')

SOURCES: dict[str, SourceInfo] = {
    "ofa": SourceInfo(
        fmt="ofa",
        device={"name": "Samsung Galaxy Note10 CPU", "kind": "cpu", "runtime": "tflite",
                "batch": 1, "dtype": "float32"},
        source=f"{_HAN_CAI_FILES}, ofa/note10/<R>_lookup_table.yaml (the tables the "
               "Once-for-All tutorial uses)",
        citation=_OFA_CITE,
        licence="no licence file in han-cai/files; the Once-for-All code is Apache-2.0",
        space="mobilenet_v3",
        widths=(1.2,),
    ),
    "proxylessnas": SourceInfo(
        fmt="proxylessnas",
        device={"name": "Google Pixel 1 CPU", "kind": "cpu", "runtime": "tflite", "batch": 1,
                "dtype": "float32"},
        source=f"{_HAN_CAI_FILES}, proxylessnas/mobile_trim.yaml; AvgPool/classifier split from "
               "mit-han-lab/proxylessnas logs/proxyless_mobile_10_latency.txt, commit 6f22edad",
        citation='Cai et al., "ProxylessNAS: Direct Neural Architecture Search on Target Task '
                 'and Hardware", ICLR 2019',
        licence="per-op profile MIT (mit-han-lab/proxylessnas); no licence file in han-cai/files",
        space="mobilenet_v2",
        widths=(1.0,),
    ),
    "dpu-csv": SourceInfo(
        fmt="dpu-csv",
        device={"name": "Avnet Ultra96-V2, Xilinx DPUCZDX8G B2304 @ 200 MHz", "kind": "npu",
                "runtime": "vitis-ai", "runtime_version": "3.0", "batch": 1, "dtype": "int8"},
        source="Pilot-Khadka/Latency-dataset-for-Once-For-All-network, commit 4866e16c, parsed "
               "from its Vitis AI profile_summary.csv files (DPU kernel time only, 500 runs)",
        citation="Pilot-Khadka, Latency-dataset-for-Once-For-All-network (GitHub), commit "
                 "4866e16c; blocks of " + _OFA_CITE,
        licence="no licence stated; derived table shipped with a citation of the repository",
        space="mobilenet_v3",
        widths=(1.2,),
        notes="DPU kernel time only (host-side pre/post-processing excluded).",
    ),
    "nnmeter": SourceInfo(
        fmt="nnmeter",
        device={"kind": "cpu", "runtime": "tflite", "threads": 1, "batch": 1,
                "dtype": "float32"},
        source="microsoft/nn-Meter, branch dev/hybrid-transformer, commit 9c31e190, "
               "nn_meter/predictor/transformer_predictor/lut/<device>_lut_ln_v3.json",
        citation='Zhang et al., "nn-Meter: Towards Accurate Latency Prediction of Deep-Learning '
                 'Model Inference on Diverse Edge Devices", MobiSys 2021 (microsoft/nn-Meter, MIT)',
        licence="MIT",
        space="",  # every shipped space: keys map wherever they can
        widths=(),
        notes="TFLite benchmark_model, fp32, 1 thread on the big cores, 50 runs per block.",
        extra={"devices": {"pixel1": "Google Pixel 1 CPU", "pixel4": "Google Pixel 4 CPU",
                           "pixel6": "Google Pixel 6 CPU", "xiaomi11": "Xiaomi 11 CPU"},
               "runs": 50},
    ),
}

HELP_SOURCE = "HayeonLee/HELP, commit 45f70eb9, data/{fbnet,ofa}/latency/*.pt converted to CSV (MIT)"
HELP_CITATION = _HELP_CITE


def source_info(fmt: str) -> SourceInfo:
    """The metadata of an import format; an unknown format is a :class:`NasError`."""
    if fmt not in SOURCES:
        raise NasError(f"unknown import format {fmt!r}; known: {', '.join(SOURCES)}")
    return SOURCES[fmt]
