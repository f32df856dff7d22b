"""Reading the folder ``nas export`` writes (``arch.json``), and the model training starts from.

The export package writes these folders; training reads them, so the reader lives here, below
``nas.export`` (which re-exports it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from nas._errors import NasError
from nas.arch import Arch
from nas.models import NASNet, build_model
from nas.space import SearchSpace, get_space


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


def initial_model(arch: Arch, space: SearchSpace, *, classes: int, in_channels: int,
                  dropout: float, seed: int) -> NASNet:
    """The builder's model, initialized from ``seed`` without touching the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(arch, space, classes=classes, in_channels=in_channels, dropout=dropout)
