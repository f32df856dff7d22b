"""Tiny fixtures for the supernet tests: a small space file, MNIST-format IDX files, a recipe."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

TINY_SPACE = """\
name: {name}
resolution: [8, 12]
width: [1.0, 1.5]
channel_divisor: 4
se: {{ratio: 0.25, base: mid, divisor: 4, gate: hsigmoid, act: relu}}
stem: {{out: 8, kernel: 3, stride: 2, act: hswish}}
stages:
  - {{out: 8, stride: 1, act: relu, depth: 1, kernel: 3, expand: 1}}
  - {{out: [8, 12], stride: 2, act: relu, depth: [1, 2], kernel: [3, 5], expand: [2, 3]}}
  - {{out: 16, stride: 2, act: hswish, depth: [1, 2], kernel: [3, 5, 7], expand: [2, 4], se: true, skip: true}}
head:
  - {{kind: conv, out: 32, act: hswish}}
  - {{kind: pool}}
  - {{kind: fc, out: 32, act: hswish}}
  - {{kind: classifier}}
"""


def write_space(folder: Path, name: str = "tiny_sn") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(TINY_SPACE.format(name=name))
    return path


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> None:
    """An IDX file (unsigned bytes) of ``array``."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def write_mnist(folder: Path, n_train: int = 400, n_test: int = 100, side: int = 12,
                seed: int = 0) -> Path:
    """A learnable MNIST-format dataset: each class a bright bar at its own position, plus noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, side, side))
        for i, label in enumerate(y):
            row = label % side
            x[i, row, :] = 255 if label < 5 else x[i, row, :]
            x[i, :, row] = 255 if label >= 5 else x[i, :, row]
        return x, y

    x, y = make(n_train)
    xt, yt = make(n_test)
    write_idx(folder / "train-images-idx3-ubyte.gz", x)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y)
    write_idx(folder / "t10k-images-idx3-ubyte", xt, gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", yt)
    return folder


def write_recipe(path: Path, space: Path | str, data: Path, *, epochs: int = 2, **extra: object) -> Path:
    fields: dict[str, object] = {
        "space": str(space), "dataset": f"mnist:{data}", "resolutions": [8, 12], "minival": 100,
        "bn_images": 64, "epochs": epochs, "batch_size": 50, "lr": 0.01, "warmup_epochs": 0.5,
        "random_subnets": 1, "eval_subnets": 1, "seed": 0, "threads": 1}
    fields.update(extra)
    import yaml

    path.write_text(yaml.safe_dump(fields, sort_keys=False))
    return path
