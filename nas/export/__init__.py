"""Export chosen architectures: arch.json, standalone model.py, weights, ONNX, timm arch_def, train.yaml."""

from __future__ import annotations

from nas.export._export import (
    ExportSource,
    check_model_source,
    count_macs,
    export_arch,
    initial_model,
    read_export,
    train_export,
    update_weights,
)
from nas.export._onnx import ONNX_OPSET, check_onnx, export_onnx
from nas.export._run import export_run, export_source, is_run_dir, load_run_view
from nas.export._select import (
    RunView,
    TrialView,
    Where,
    parse_where,
    select_best,
    select_pareto,
    select_trial,
)
from nas.export._source import model_source
from nas.export._targets import arch_export_source
from nas.export._timm import stage_blocks, timm_arch_def

__all__ = [
    "ONNX_OPSET",
    "ExportSource",
    "RunView",
    "TrialView",
    "Where",
    "arch_export_source",
    "check_model_source",
    "check_onnx",
    "count_macs",
    "export_arch",
    "export_onnx",
    "export_run",
    "export_source",
    "initial_model",
    "is_run_dir",
    "load_run_view",
    "model_source",
    "parse_where",
    "read_export",
    "select_best",
    "select_pareto",
    "select_trial",
    "stage_blocks",
    "timm_arch_def",
    "train_export",
    "update_weights",
]
