"""Latency lookup tables: measure blocks on a device, predict networks, check against the device.

    from nas.latency import load_table
    t = load_table("cpu_torch_mobilenet_v3")
    t.predict(arch, classes=10, in_channels=1).latency_ms

A table maps block keys (:attr:`nas.blocks.Block.key`) to robust timing statistics measured on one
device, runtime, thread count, batch and dtype, plus an optional calibration fitted on whole
networks (see :mod:`nas.latency._calibration`). Tables are JSON text files in ``latency_tables/``
or in ``$HWNAS_TABLE_PATH`` folders; a folder's ``hosts/NAME/ID.json`` are variants of ``ID``
measured on other machines, and a lookup by id takes the one measured on a machine like this
one (see :mod:`nas.latency._registry`).
"""

from __future__ import annotations

from nas.latency._anchor import DRIFT_WARN_PCT, config_key, table_anchors
from nas.latency._backends import onnx_bytes
from nas.latency._build import build_steadiest
from nas.latency._calibration import FEATURES, Calibration, eager_kernels, fit_calibration, fit_coefficients
from nas.latency._coverage import coverage_text, kernel_coverage
from nas.latency._entry import Entry, Prediction
from nas.latency._enumerate import enumerate_blocks, space_points
from nas.latency._fingerprint import cpu_model
from nas.latency._kernels import FAMILIES, KernelModel, error_stats, fit_kernel_model, kernel_features, op_group
from nas.latency._networks import calibrate_and_write, refit_calibration
from nas.latency._registry import (
    HOST_ENV,
    SHIPPED_TABLES,
    find_table,
    host_of,
    list_tables,
    load_table,
    resolve_tables,
    table_choices,
    table_dirs,
    table_paths,
)
from nas.latency._run_calibration import calibrate_from_runs
from nas.latency._runs import score_runs
from nas.latency._settings import Settings
from nas.latency._table import SCHEMA_VERSION, LatencyTable
from nas.latency._table_file import read_table, table_from_dict
from nas.latency._validate import validate_table

__all__ = [
    "DRIFT_WARN_PCT",
    "FAMILIES",
    "FEATURES",
    "HOST_ENV",
    "SCHEMA_VERSION",
    "SHIPPED_TABLES",
    "Calibration",
    "Entry",
    "KernelModel",
    "LatencyTable",
    "Prediction",
    "Settings",
    "build_steadiest",
    "calibrate_and_write",
    "calibrate_from_runs",
    "config_key",
    "coverage_text",
    "cpu_model",
    "eager_kernels",
    "enumerate_blocks",
    "error_stats",
    "find_table",
    "fit_calibration",
    "fit_coefficients",
    "fit_kernel_model",
    "host_of",
    "kernel_coverage",
    "kernel_features",
    "list_tables",
    "load_table",
    "onnx_bytes",
    "op_group",
    "read_table",
    "refit_calibration",
    "resolve_tables",
    "score_runs",
    "space_points",
    "table_anchors",
    "table_choices",
    "table_dirs",
    "table_from_dict",
    "table_paths",
    "validate_table",
]
