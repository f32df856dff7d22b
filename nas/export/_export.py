"""Write one chosen architecture as a self-contained export folder.

Files: ``arch.json`` (what it is, every score, where it came from, the checks below),
``model.py`` (standalone, imports only torch), ``model.pt`` (a ``state_dict``: the untrained
initialization until ``nas train`` replaces it), ``model.onnx`` (checked with onnxruntime),
``timm_arch_def.json`` and ``train.yaml``.

Checks recorded in ``arch.json``: the built module's parameter count and its MACs counted by
``torch.utils.flop_counter`` equal the analytic cost model's (and the run's, when the arch comes
from a run); ``model.py`` builds the same parameter shapes, loads ``model.pt`` and gives the same
outputs as the builder; ONNX agrees with PyTorch.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas import __version__
from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import arch_to_blocks
from nas.cost import blocks_cost
from nas.export._onnx import ONNX_OPSET, check_onnx, export_onnx
from nas.export._source import model_source
from nas.export._timm import timm_arch_def
from nas.latency._anchor import config_key, table_anchors
from nas.models import NASNet, build_model
from nas.space import SearchSpace, get_space
from nas.train import TrainConfig, default_train_config, torch_threads

EXPORT_SCHEMA = 1
ANALYTIC = ("macs", "params", "peak_memory")


@dataclass(frozen=True)
class ExportSource:
    """One architecture to export and everything known about it.

    Attributes:
        arch: the architecture (its resolution is the model's input size).
        space: its search space.
        classes: classifier outputs.
        in_channels: image channels.
        dataset: dataset spec for ``train.yaml`` (empty when unknown).
        scores: every objective and constraint value recorded for it, by name
            (``accuracy``, ``latency:TABLE_ID``, ``macs``, ...).
        directions: objective name -> ``maximize`` / ``minimize``.
        constraints: constraint texts (``latency:cpu <= 12``).
        tables: latency table id -> content hash, for the tables the scores came from.
        table_files: latency table id -> file path, where known (to describe the table's device).
        provenance: run folder, trial number, study, config hash, ... (JSON-ready).
    """

    arch: Arch
    space: SearchSpace
    classes: int = 1000
    in_channels: int = 3
    dataset: str = ""
    scores: Mapping[str, float | None] = field(default_factory=dict)
    directions: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    tables: Mapping[str, str] = field(default_factory=dict)
    table_files: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def _score_entry(name: str, value: float | None, src: ExportSource) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": value}
    if name.startswith("latency:"):
        table = name.partition(":")[2]
        entry.update(kind="predicted", unit="ms", table=table, table_hash=src.tables.get(table))
    elif name in ANALYTIC:
        entry.update(kind="analytic", unit={"macs": "MACs", "params": "parameters",
                                            "peak_memory": "bytes"}[name])
    else:
        entry["kind"] = "measured"
    constraints = [c for c in src.constraints
                   if re.split(r"\s*(?:<=|>=|<|>|==)", c, maxsplit=1)[0].strip() == name]
    if name in src.directions:
        entry.update(role="objective", direction=src.directions[name])
    else:
        entry["role"] = "constraint" if constraints else "recorded"
    if constraints:
        entry["constraints"] = constraints
    return entry


def _table_info(table_id: str, path: str | None, config: str) -> dict[str, Any] | None:
    """Device, runtime and settings of a latency table, when it can be found here, and the
    anchor network it timed for ``config`` (the exported arch's space, resolution, classes and
    input channels; see :mod:`nas.latency._anchor`), so that `nas train` can time the anchor
    beside the trained model and divide the machine's speed drift out of its comparison."""
    from nas.latency import load_table

    try:
        t = load_table(path if path and Path(path).is_file() else table_id)
    except NasError:
        return None  # a run may name tables this machine does not have; arch.json says so
    anchor = table_anchors(t.configs).get(config)
    return {"device": t.device.get("name", "unknown"), "device_type": t.device_type,
            "runtime": t.backend, "threads": t.threads, "batch": t.batch, "dtype": t.dtype,
            "clock": t.measurement.get("clock"), "statistic": t.measurement.get("statistic"),
            "content_hash": t.content_hash,
            "anchor": {"arch": anchor[0].text, "ms": anchor[1]} if anchor else None}


def count_macs(model: nn.Module, in_channels: int, resolution: int) -> int:
    """MACs of one forward pass at batch 1, counted by torch (FLOPs / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, in_channels, resolution, resolution))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def check_model_source(source: str, model: nn.Module, in_channels: int, resolution: int
                       ) -> dict[str, Any]:
    """Execute a generated ``model.py`` in a fresh namespace and compare it with ``model``."""
    namespace: dict[str, Any] = {"__name__": "hwnas_export_model"}
    exec(compile(source, "model.py", "exec"), namespace)
    with torch.random.fork_rng(devices=[]):  # its initialization must not move the caller's RNG
        standalone = namespace["build_model"]()
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in standalone.state_dict().items()}
    same_shapes = ours == theirs
    diff = None
    if same_shapes:
        standalone.load_state_dict(model.state_dict())
        standalone.eval()
        was_training = model.training
        model.eval()
        x = torch.randn(2, in_channels, resolution, resolution, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            diff = float((standalone(x) - model(x)).abs().max())
        model.train(was_training)
    return {"same_state_dict_shapes": same_shapes, "loads_weights": same_shapes,
            "max_abs_diff": diff, "passed": same_shapes and diff == 0.0}


def initial_model(arch: Arch, space: SearchSpace, *, classes: int, in_channels: int,
                  dropout: float, seed: int, weights_from: str | Path | None = None) -> NASNet:
    """The builder's model, initialized from ``seed`` without touching the global torch RNG.

    With ``weights_from`` (an export folder) whose ``model.pt`` holds weights inherited from a
    supernet (``arch.json`` ``weights.state`` ``supernet``), those weights are loaded instead, so
    that ``nas train`` fine-tunes them.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch, space, classes=classes, in_channels=in_channels, dropout=dropout)
    if weights_from is not None:
        info = json.loads((Path(weights_from) / "arch.json").read_text())
        if (info.get("weights") or {}).get("state") in FINE_TUNE_STATES:
            load_weights_by_position(model, Path(weights_from) / "model.pt")
    return model


FINE_TUNE_STATES = ("supernet",)


def load_weights_by_position(model: nn.Module, path: Path) -> None:
    """Load a ``state_dict`` file into ``model`` tensor by tensor in order (shapes must match).

    Keys may differ where dropout before the classifier shifts its module index.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = model.state_dict()
    if [tuple(v.shape) for v in state.values()] != [tuple(v.shape) for v in ours.values()]:
        raise NasError(f"{path}: its tensors do not match the architecture's shapes")
    model.load_state_dict(dict(zip(ours, state.values(), strict=True)))


def export_arch(src: ExportSource, out_dir: str | Path, *, onnx: bool = True,
                onnx_exporter: str = "torchscript", train_config: TrainConfig | None = None,
                seed: int = 0) -> dict[str, Any]:
    """Write the export folder for ``src`` into ``out_dir``; returns the ``arch.json`` content.

    The checks run single-threaded: batch-1 passes of mobile networks gain nothing from more
    threads, and on a busy machine a multi-threaded pool can be 100x slower.
    """
    with torch_threads(1):
        return _export_arch(src, Path(out_dir), onnx=onnx, onnx_exporter=onnx_exporter,
                            train_config=train_config, seed=seed)


def _export_arch(src: ExportSource, out: Path, *, onnx: bool, onnx_exporter: str,
                 train_config: TrainConfig | None, seed: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    arch, space = src.arch, src.space
    blocks = arch_to_blocks(arch, space, classes=src.classes, in_channels=src.in_channels)
    cost = blocks_cost(blocks)
    config = train_config or default_train_config(src.dataset, arch.resolution)
    model = initial_model(arch, space, classes=src.classes, in_channels=src.in_channels,
                          dropout=config.dropout, seed=seed)

    module_params = sum(p.numel() for p in model.parameters())
    module_macs = count_macs(model, src.in_channels, arch.resolution)
    checks: dict[str, Any] = {
        "params": {"module": module_params, "cost_model": cost.params,
                   "search": src.scores.get("params")},
        "macs": {"flop_counter": module_macs, "cost_model": cost.macs,
                 "search": src.scores.get("macs")},
    }
    for name in ("params", "macs"):
        values = [v for v in checks[name].values() if v is not None]
        checks[name]["equal"] = len(set(values)) == 1

    source = model_source(arch, blocks, classes=src.classes, in_channels=src.in_channels,
                          dropout=config.dropout)
    (out / "model.py").write_text(source)
    checks["model_py"] = check_model_source(source, model, src.in_channels, arch.resolution)
    torch.save(model.state_dict(), out / "model.pt")

    onnx_info: dict[str, Any] | None = None
    if onnx:
        export_onnx(model, out / "model.onnx", in_channels=src.in_channels,
                    resolution=arch.resolution, exporter=onnx_exporter)
        onnx_info = {"file": "model.onnx", "opset": ONNX_OPSET, "exporter": onnx_exporter,
                     "check": check_onnx(model, out / "model.onnx", in_channels=src.in_channels,
                                         resolution=arch.resolution)}
    elif (out / "model.onnx").exists():
        (out / "model.onnx").unlink()  # a stale file from an earlier export would not match

    timm = timm_arch_def(arch, space, blocks)
    _write_json(out / "timm_arch_def.json", timm)
    config.save(out / "train.yaml")

    scores = {name: _score_entry(name, value, src) for name, value in src.scores.items()}
    for name, value in (("macs", cost.macs), ("params", cost.params),
                        ("peak_memory", cost.peak_activation_bytes)):
        scores.setdefault(name, _score_entry(name, value, src))
    config_id = config_key(arch.space, arch.resolution, src.classes, src.in_channels)
    tables = [{"id": t, "content_hash": h, "file": src.table_files.get(t),
               "here": _table_info(t, src.table_files.get(t), config_id)}
              for t, h in src.tables.items()]
    info = {
        "schema": EXPORT_SCHEMA,
        "arch": arch.text,
        "arch_hash": arch.hash,
        "arch_json": arch.to_dict(),
        "space": space.name,
        "space_file": space.path,
        "in_space": space.contains(arch),
        "resolution": arch.resolution,
        "classes": src.classes,
        "in_channels": src.in_channels,
        "dropout": config.dropout,
        "input": {"shape": [1, src.in_channels, arch.resolution, arch.resolution],
                  "normalization": "per-channel mean/std of the training split (nas.data)"},
        "cost": {"macs": cost.macs, "params": cost.params,
                 "peak_activation_bytes": cost.peak_activation_bytes, "batch": 1, "dtype": "float32"},
        "scores": scores,
        "constraints": list(src.constraints),
        "tables": tables,
        "weights": {"file": "model.pt", "state": "untrained_init", "seed": seed,
                    "note": "initialization only; `nas train` replaces it with trained weights"},
        "onnx": onnx_info,
        "timm": {"file": "timm_arch_def.json", "expressible": timm["expressible"]},
        "train_config": "train.yaml",
        "checks": checks,
        "provenance": {**src.provenance, "hwnas_version": __version__,
                       "torch_version": torch.__version__,
                       "exported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")},
    }
    _write_json(out / "arch.json", info)
    return info


def read_export(export_dir: str | Path) -> tuple[dict[str, Any], Arch, SearchSpace]:
    """``arch.json`` of an export folder, with its arch and space (errors name the file)."""
    path = Path(export_dir) / "arch.json"
    if not Path(export_dir).is_dir():
        raise NasError(f"export folder {export_dir}: not a directory (make one with `nas export`)")
    if not path.is_file():
        raise NasError(f"export folder {export_dir}: no arch.json (make one with `nas export`)")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NasError(f"{path}: not valid JSON ({exc})") from None
    for key in ("arch", "space", "classes", "in_channels"):
        if key not in info:
            raise NasError(f"{path}: missing field {key!r}")
    arch = Arch.parse(info["arch"])
    space_file = info.get("space_file") or ""
    # A space known by name wins; a custom space file is found again by its recorded path.
    try:
        space = get_space(info["space"])
    except NasError:
        if not Path(space_file).is_file():
            raise
        space = get_space(space_file)
    return info, arch, space


def update_weights(export_dir: str | Path, state_dict: Mapping[str, torch.Tensor], *,
                   weights_info: Mapping[str, Any], dropout: float) -> dict[str, Any]:
    """Replace ``model.pt`` (and ``model.onnx``, re-checked) with trained weights; update arch.json.

    ``dropout`` is the one the weights were trained with: whether it is zero changes the
    classifier's module index (and so its state_dict key), so ``model.py`` is regenerated when
    that differs from the export's.
    """
    out = Path(export_dir)
    info, arch, space = read_export(out)
    with torch_threads(1):
        return _update_weights(out, info, arch, space, state_dict, weights_info, dropout)


def _update_weights(out: Path, info: dict[str, Any], arch: Arch, space: SearchSpace,
                    state_dict: Mapping[str, torch.Tensor], weights_info: Mapping[str, Any],
                    dropout: float) -> dict[str, Any]:
    model = build_model(arch, space, classes=info["classes"], in_channels=info["in_channels"],
                        dropout=dropout)
    model.load_state_dict(state_dict)
    if info.get("dropout") != dropout:
        blocks = arch_to_blocks(arch, space, classes=info["classes"], in_channels=info["in_channels"])
        source = model_source(arch, blocks, classes=info["classes"],
                              in_channels=info["in_channels"], dropout=dropout)
        (out / "model.py").write_text(source)
        info["checks"]["model_py"] = check_model_source(source, model, info["in_channels"],
                                                        arch.resolution)
        info["dropout"] = dropout
    torch.save(model.state_dict(), out / "model.pt")
    info["weights"] = {"file": "model.pt", **weights_info}
    if info.get("onnx"):
        exporter = info["onnx"].get("exporter", "torchscript")
        export_onnx(model, out / "model.onnx", in_channels=info["in_channels"],
                    resolution=arch.resolution, exporter=exporter)
        info["onnx"]["check"] = check_onnx(model, out / "model.onnx",
                                           in_channels=info["in_channels"], resolution=arch.resolution)
    _write_json(out / "arch.json", info)
    return info
