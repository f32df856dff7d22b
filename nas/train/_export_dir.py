"""Reading the folder ``nas export`` writes (``arch.json``), and the model training starts from.

The export package writes these folders; training reads them, so the reader lives here, below
``nas.export`` (which re-exports it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

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
                  dropout: float, seed: int, weights: Path | None = None) -> NASNet:
    """The builder's model, initialized from ``seed`` without touching the global torch RNG, or
    holding the weights of ``weights`` (a ``model.pt``: e.g. inherited from a supernet, which
    ``nas train`` then fine-tunes)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch, space, classes=classes, in_channels=in_channels, dropout=dropout)
    if weights is not None:
        load_weights_by_position(model, weights)
    return model


FINE_TUNE_STATES = ("supernet",)  # arch.json weights.state values whose model.pt training starts from


def fine_tune_weights(export_dir: Path, info: dict[str, Any]) -> Path | None:
    """The export's ``model.pt`` when ``arch.json`` (``info``) says it holds weights to fine-tune."""
    return export_dir / "model.pt" if (info.get("weights") or {}).get("state") in FINE_TUNE_STATES else None


def load_weights_by_position(model: nn.Module, path: Path) -> None:
    """Load a ``state_dict`` file into ``model`` tensor by tensor in order (shapes must match).

    Keys may differ where dropout before the classifier shifts its module index.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = model.state_dict()
    if [tuple(v.shape) for v in state.values()] != [tuple(v.shape) for v in ours.values()]:
        raise NasError(f"{path}: its tensors do not match the architecture's shapes")
    model.load_state_dict(dict(zip(ours, state.values(), strict=True)))
