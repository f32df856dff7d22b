"""MNIST-format (IDX) datasets: Fashion-MNIST from the Debian package, or any MNIST-style folder.

A folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
and ``t10k-labels-idx1-ubyte``, each optionally gzipped (``.gz``). ``fashion_mnist`` without a path
reads :data:`FASHION_MNIST_DIR`, where the package ``dataset-fashion-mnist`` puts them.

Also here: :func:`split_minival`, the fixed, seeded held-out slice of a training split that a
supernet ranks its subnets on (so that the test split stays untouched until final figures).
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas._errors import NasError
from nas.data._datasets import ImageData, _finish

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                         "sneaker", "bag", "ankle boot")
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (gzipped or not) as a numpy array of its declared type and shape."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NasError(f"IDX file {path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise NasError(f"IDX file {path}: broken gzip data ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise NasError(f"IDX file {path}: bad magic number (expected 0x0000TTDD with a known type TT)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise NasError(f"IDX file {path}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _DTYPES[raw[2]]
    count = int(np.prod(shape))
    if len(raw) - header != count * dtype.itemsize:
        raise NasError(f"IDX file {path}: header says shape {shape} ({count * dtype.itemsize} bytes) "
                       f"but {len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)


def _find(root: Path, stem: str, kind: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    hint = (f" (the Debian package {FASHION_MNIST_PACKAGE} provides them: "
            f"apt-get install {FASHION_MNIST_PACKAGE})" if kind == "fashion_mnist" else "")
    raise NasError(f"{kind} {root}: missing file {stem}[.gz]{hint}")


def idx_root(kind: str, root: Path | None) -> Path:
    """The folder a ``mnist``/``fashion_mnist`` spec reads (``None``: the Debian package's); an
    error names what provides it when it is missing."""
    if root is None:
        root = FASHION_MNIST_DIR
        if not root.is_dir():
            raise NasError(f"dataset fashion_mnist: {root} not found; install the Debian package "
                           f"{FASHION_MNIST_PACKAGE} (apt-get install {FASHION_MNIST_PACKAGE}) or "
                           "give fashion_mnist:PATH (a folder of IDX files)")
    if not root.is_dir():
        raise NasError(f"{kind} path {root}: not a directory (expected the four IDX files "
                       f"{', '.join(IDX_FILES.values())}, optionally .gz)")
    return root


def load_idx_dataset(kind: str, root: Path | None, resolution: int | None) -> ImageData:
    """``mnist``/``fashion_mnist`` train and test splits from IDX files under ``root``.

    ``root`` ``None`` (``fashion_mnist`` only) means :data:`FASHION_MNIST_DIR`.
    """
    root = idx_root(kind, root)
    arrays = {key: read_idx(_find(root, stem, kind)) for key, stem in IDX_FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise NasError(f"{kind} {root}: {split} images {x.shape} and labels {y.shape} do not "
                           "match (expected (N, H, W) and (N,))")
        if len(y) and (int(y.min()) < 0 or int(y.max()) > 9):
            raise NasError(f"{kind} {root}: {split} labels must be in 0..9")
    names = FASHION_MNIST_CLASSES if kind == "fashion_mnist" else tuple(str(i) for i in range(10))

    def images(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0)[:, None]

    return _finish(kind if root == FASHION_MNIST_DIR else f"{kind}:{root}",
                   images(arrays["train_images"]), arrays["train_labels"].astype(np.int64),
                   images(arrays["test_images"]), arrays["test_labels"].astype(np.int64),
                   names, resolution)


def split_minival(data: ImageData, size: int, seed: int = 0) -> tuple[ImageData, ImageData]:
    """``(train minus minival, minival)``: a fixed seeded slice of the training split held out.

    Both results keep the original test split. ``minival``'s images are in its ``x_train`` /
    ``y_train`` *and* its ``x_test`` / ``y_test`` (so evaluating on "test" of it means minival).
    """
    n = len(data.y_train)
    if not 0 < size < n:
        raise NasError(f"minival size {size} must be in 1..{n - 1} (the training split has {n} images)")
    perm = torch.from_numpy(np.random.default_rng([seed, 7]).permutation(n))
    held, rest = perm[:size].sort().values, perm[size:].sort().values
    train = replace(data, x_train=data.x_train[rest], y_train=data.y_train[rest])
    mv_x, mv_y = data.x_train[held], data.y_train[held]
    minival = replace(data, x_train=mv_x, y_train=mv_y, x_test=mv_x, y_test=mv_y)
    return train, minival
