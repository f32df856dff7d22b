"""``nas lut kit``: one small ONNX model per unique block key, a manifest, and a runner script.

The kit is what a user carries to a device we cannot hold (a phone's NPU through NNAPI or QNN, a
board): ``run_kit.py`` needs only numpy and onnxruntime, times every model with the execution
provider the user names, and writes a results CSV that ``nas lut import-kit`` turns into a table.
The keys are exactly those the space produces (:func:`nas.latency._enumerate.enumerate_blocks`,
the enumeration ``nas lut build`` uses), and each model is the block ``nas.models`` builds,
exported the way the onnxruntime backend of ``nas lut build`` exports it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas import __version__
from nas._errors import NasError
from nas.latency import enumerate_blocks, onnx_bytes, space_points
from nas.space import SearchSpace

KIT_FORMAT = "hwnas-lut-kit"
KIT_VERSION = 1
RUNNER = Path(__file__).with_name("kit_runner.py")
OPSET = 17  # what nas.latency's exporter writes


def read_manifest(kit: str | Path) -> dict[str, Any]:
    """The manifest of a kit folder, checked."""
    path = Path(kit) / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NasError(f"kit {kit}: no manifest.json (write a kit with `nas lut kit`)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise NasError(f"kit {kit}: manifest.json is unreadable ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != KIT_FORMAT:
        raise NasError(f"kit {kit}: manifest.json is not a {KIT_FORMAT} manifest")
    if data.get("version") != KIT_VERSION:
        raise NasError(f"kit {kit}: manifest version {data.get('version')!r}; this hwnas reads "
                       f"{KIT_VERSION}")
    for field in ("kit_id", "blocks", "configs", "batch"):
        if field not in data:
            raise NasError(f"kit {kit}: manifest.json lacks {field!r}")
    return data


def write_kit(space: SearchSpace, out: str | Path, *, resolutions: Sequence[int],
              widths: Sequence[float] | None = None, classes: int = 1000, in_channels: int = 3,
              batch: int = 1, limit: int | None = None, progress: bool = False
              ) -> dict[str, Any]:
    """Write the kit folder; returns the manifest.

    Args:
        space: the space whose block keys to export.
        out: the kit folder (created; must be empty or absent).
        resolutions: input sides.
        widths: width multipliers (default: all of the space's).
        classes: classifier outputs (part of the classifier's key).
        in_channels: image channels (part of the stem's key).
        batch: batch of every model's static input shape.
        limit: export only the first ``limit`` keys (sorted by key), for a quick smoke test.
        progress: show a progress bar on stderr.
    """
    import sys

    import torch
    from tqdm import tqdm

    from nas.models import NASNet

    if batch < 1 or (limit is not None and limit < 1):
        raise NasError("--batch and --limit must be >= 1")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise NasError(f"kit folder {out} is not empty; choose a new --out")
    blocks = enumerate_blocks(space, resolutions=resolutions, widths=widths, classes=classes,
                              in_channels=in_channels)
    if limit is not None:
        blocks = blocks[:limit]
    (out / "models").mkdir(parents=True, exist_ok=True)
    entries = []
    gen = torch.Generator().manual_seed(0)
    for i, block in enumerate(tqdm(blocks, desc="kit", unit="model", file=sys.stderr,
                                   disable=not progress)):
        name = f"models/b{i:04d}_{hashlib.sha256(block.key.encode()).hexdigest()[:10]}.onnx"
        torch.manual_seed(i)  # weights do not change timings, but keep files reproducible
        model = NASNet([block], dropout=0.0).eval()
        x = torch.randn(batch, *block.in_shape, generator=gen)
        data = onnx_bytes(model, x)
        (out / name).write_bytes(data)
        entries.append({"key": block.key, "file": name, "input_shape": [batch, *block.in_shape],
                        "macs": block.macs, "sha256": hashlib.sha256(data).hexdigest()})
    configs = [{"space": space.name, "resolution": p.resolution, "widths": [p.width],
                "classes": classes, "in_channels": in_channels}
               for p in space_points(space, resolutions, widths)]
    body = {"space": space.name, "space_file": space.path, "configs": configs, "batch": batch,
            "dtype": "float32", "opset": OPSET, "blocks": entries}
    kit_id = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    manifest = {"format": KIT_FORMAT, "version": KIT_VERSION, "kit_id": kit_id,
                "hwnas_version": __version__, "torch_version": str(torch.__version__),
                "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
                "runner": "run_kit.py", **body}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.copyfile(RUNNER, out / "run_kit.py")
    return manifest
