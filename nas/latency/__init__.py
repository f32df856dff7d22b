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

from nas.latency._calibration import FEATURES, Calibration, fit_calibration, fit_coefficients
from nas.latency._entry import Entry, Prediction
from nas.latency._registry import (
    SHIPPED_TABLES,
    list_tables,
    load_table,
    table_choices,
    table_dirs,
    table_paths,
)
from nas.latency._table import SCHEMA_VERSION, LatencyTable
from nas.latency._table_file import read_table, table_from_dict

__all__ = [
    "FEATURES",
    "SCHEMA_VERSION",
    "SHIPPED_TABLES",
    "Calibration",
    "Entry",
    "LatencyTable",
    "Prediction",
    "fit_calibration",
    "fit_coefficients",
    "list_tables",
    "load_table",
    "read_table",
    "table_choices",
    "table_dirs",
    "table_from_dict",
    "table_paths",
]
