"""Tables for devices we cannot hold: import published tables, fit tables from whole-network
timings, and an on-device kit (ONNX blocks + a standalone runner) for phones and NPUs.

Importing this package also teaches :func:`nas.arch.load_arch` the Once-for-All / ProxylessNAS
``net.config`` format (:func:`read_net_config`), beside the published tables it imports.
"""

from __future__ import annotations

from nas.arch import register_arch_file_reader
from nas.lutkit._eval import evaluate
from nas.lutkit._features import block_features, block_group
from nas.lutkit._fit import FIT_MODELS, LOSSES, FitOptions, FitResult, fit_table
from nas.lutkit._import import IMPORT_FORMATS, import_table, parse_assumption
from nas.lutkit._import_kit import import_kit_results, read_results
from nas.lutkit._kernels import NNMETER_PHONES, fit_table_kernels, nnmeter_blocks
from nas.lutkit._kit import read_manifest, write_kit
from nas.lutkit._mapping import Candidate, ImportReport, SourceRecord, SpaceIndex, Stats
from nas.lutkit._measurements import (
    MEASUREMENT_FORMATS,
    Measurements,
    fbnet_arch,
    ofa_arch,
    read_measurements,
    split_rows,
)
from nas.lutkit._metrics import layer_op_baseline, scores
from nas.lutkit._ofa_config import read_net_config
from nas.lutkit._sources import SOURCES, SourceInfo, source_info, sources_dir

__all__ = [
    "FIT_MODELS",
    "IMPORT_FORMATS",
    "LOSSES",
    "MEASUREMENT_FORMATS",
    "NNMETER_PHONES",
    "SOURCES",
    "Candidate",
    "FitOptions",
    "FitResult",
    "ImportReport",
    "Measurements",
    "SourceInfo",
    "SourceRecord",
    "SpaceIndex",
    "Stats",
    "block_features",
    "block_group",
    "evaluate",
    "fbnet_arch",
    "fit_table",
    "fit_table_kernels",
    "import_kit_results",
    "import_table",
    "layer_op_baseline",
    "nnmeter_blocks",
    "ofa_arch",
    "parse_assumption",
    "read_manifest",
    "read_measurements",
    "read_net_config",
    "read_results",
    "scores",
    "source_info",
    "sources_dir",
    "split_rows",
    "write_kit",
]

register_arch_file_reader(read_net_config)
