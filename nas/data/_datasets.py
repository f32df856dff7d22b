"""Image datasets held in memory as tensors: sklearn digits (bundled), CIFAR-10 pickles, ImageFolder.

Nothing is downloaded: ``digits`` ships inside scikit-learn; the others are read from local paths
given as ``cifar10:PATH`` or ``imagefolder:PATH``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas._errors import NasError

DATASET_KINDS = ("digits", "fashion_mnist", "fashion_mnist:PATH", "mnist:PATH", "cifar10:PATH",
                 "imagefolder:PATH")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True)
class ImageData:
    """Train/test tensors, normalized per channel: ``x`` is (N, C, H, W) float32, ``y`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int
    class_names: tuple[str, ...]

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.x_train.shape[-1])

    def subset(self, n_train: int | None, n_test: int | None, rng: np.random.Generator) -> ImageData:
        """A random subset (without replacement) of each split; ``None`` keeps a split whole."""
        def pick(x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
            if n is None or n >= len(y):
                return x, y
            idx = torch.from_numpy(np.sort(rng.choice(len(y), size=n, replace=False)))
            return x[idx], y[idx]

        xtr, ytr = pick(self.x_train, self.y_train, n_train)
        xte, yte = pick(self.x_test, self.y_test, n_test)
        return replace(self, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)


def resize(x: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """A batch of images at ``resolution`` (bilinear; antialiased when shrinking; ``None``: as is)."""
    if resolution is None or (x.shape[-1] == resolution and x.shape[-2] == resolution):
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                         antialias=x.shape[-1] > resolution)


def _normalize(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (x_train - mean) / std, (x_test - mean) / std


def _split(n: int, y: np.ndarray, test_fraction: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test index split."""
    test: list[int] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test.extend(idx[: max(1, round(len(idx) * test_fraction))].tolist())
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _finish(name: str, x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray,
            names: tuple[str, ...], resolution: int | None) -> ImageData:
    x_train = resize(torch.from_numpy(x).float(), resolution)
    x_test = resize(torch.from_numpy(xt).float(), resolution)
    x_train, x_test = _normalize(x_train, x_test)
    return ImageData(name, x_train.contiguous(), torch.from_numpy(y).long(), x_test.contiguous(),
                     torch.from_numpy(yt).long(), len(names), names)


def load_digits_data(resolution: int | None, test_fraction: float, rng: np.random.Generator) -> ImageData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    tr, te = _split(len(y), y, test_fraction, rng)
    names = tuple(str(n) for n in bunch.target_names)
    return _finish("digits", x[tr], y[tr], x[te], y[te], names, resolution)


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise NasError(f"cifar10 {path.parent}: missing file {path.name} (expected the python "
                       "pickle batches data_batch_1..5 and test_batch)")
    try:
        with path.open("rb") as fh:
            data = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise NasError(f"cifar10 file {path}: not a CIFAR-10 python pickle batch ({exc})") from None
    if not isinstance(data, dict) or b"data" not in data or b"labels" not in data:
        raise NasError(f"cifar10 file {path}: expected a dict with b'data' and b'labels'")
    return data


def load_cifar10(root: Path, resolution: int | None) -> ImageData:
    if not root.is_dir():
        raise NasError(f"cifar10 path {root}: not a directory")
    train_files = sorted(root.glob("data_batch_*"))
    if not train_files:
        raise NasError(f"cifar10 {root}: no data_batch_* files")

    def read(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for p in paths:
            d = _unpickle(p)
            arr = np.asarray(d[b"data"], dtype=np.uint8)
            if arr.ndim != 2 or arr.shape[1] != 3072:
                raise NasError(f"cifar10 file {p}: data has shape {arr.shape}, expected (N, 3072)")
            labels = np.asarray(d[b"labels"], dtype=np.int64)
            if len(labels) != len(arr) or labels.min() < 0 or labels.max() > 9:
                raise NasError(f"cifar10 file {p}: labels must be N integers in 0..9")
            xs.append(arr.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
            ys.append(labels)
        return np.concatenate(xs), np.concatenate(ys)

    x, y = read(train_files)
    xt, yt = read([root / "test_batch"])
    names = tuple(f"class_{i}" for i in range(10))
    meta = root / "batches.meta"
    if meta.is_file():
        with meta.open("rb") as fh:
            raw = pickle.load(fh, encoding="bytes").get(b"label_names")
        if raw and len(raw) == 10:
            names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)
    return _finish("cifar10", x, y, xt, yt, names, resolution)


def _read_tree(root: Path, resolution: int, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    xs, ys = [], []
    for label, name in enumerate(names):
        folder = root / name
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES) \
            if folder.is_dir() else []
        for f in files:
            try:
                with Image.open(f) as img:
                    rgb = img.convert("RGB").resize((resolution, resolution), Image.Resampling.BILINEAR)
                    xs.append(np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0)
            except (UnidentifiedImageError, OSError) as exc:
                raise NasError(f"imagefolder image {f}: cannot read ({exc})") from None
            ys.append(label)
    if not xs:
        raise NasError(f"imagefolder {root}: no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) "
                       "in class sub-folders")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def load_imagefolder(root: Path, resolution: int | None, test_fraction: float,
                     rng: np.random.Generator) -> ImageData:
    """``root/CLASS/*.png``, or ``root/train/CLASS`` with ``root/val`` (or ``test``) beside it."""
    if not root.is_dir():
        raise NasError(f"imagefolder path {root}: not a directory")
    res = resolution or 32
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    train_dir = root / "train" if (root / "train").is_dir() and test_dir else root
    names = tuple(sorted(p.name for p in train_dir.iterdir() if p.is_dir()))
    if len(names) < 2:
        raise NasError(f"imagefolder {train_dir}: needs at least 2 class sub-folders, found {len(names)}")
    x, y = _read_tree(train_dir, res, names)
    if test_dir is not None:
        xt, yt = _read_tree(test_dir, res, names)
    else:
        tr, te = _split(len(y), y, test_fraction, rng)
        x, y, xt, yt = x[tr], y[tr], x[te], y[te]
    return _finish(f"imagefolder:{root}", x, y, xt, yt, names, None)


def load_dataset(spec: str, *, resolution: int | None = None, test_fraction: float = 0.2,
                 rng: np.random.Generator | None = None) -> ImageData:
    """Load ``digits``, ``fashion_mnist[:PATH]``, ``mnist:PATH``, ``cifar10:PATH`` or
    ``imagefolder:PATH``, resized to ``resolution``.

    Args:
        spec: dataset spec.
        resolution: square input side; ``None`` keeps the native size (32 for image folders).
        test_fraction: held-out fraction where the data has no test split of its own.
        rng: generator for splits (default: seeded 0, so splits are reproducible).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    if not 0 < test_fraction < 1:
        raise NasError(f"test_fraction must be in (0, 1), got {test_fraction}")
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        return load_digits_data(resolution, test_fraction, rng)
    if kind == "cifar10" and path:
        return load_cifar10(Path(path).expanduser(), resolution)
    if kind == "imagefolder" and path:
        return load_imagefolder(Path(path).expanduser(), resolution, test_fraction, rng)
    if kind == "fashion_mnist" or (kind == "mnist" and path):
        from nas.data._idx import load_idx_dataset

        return load_idx_dataset(kind, Path(path).expanduser() if path else None, resolution)
    raise NasError(f"dataset {spec!r}: expected one of {', '.join(DATASET_KINDS)}")


def dataset_shape(spec: str) -> tuple[int, int]:
    """(classes, in_channels) of a dataset spec, without loading the images."""
    kind, _, path = spec.partition(":")
    if kind == "digits" and not path:
        return 10, 1
    if kind == "cifar10" and path:
        root = Path(path).expanduser()
        if not root.is_dir() or not any(root.glob("data_batch_*")):
            raise NasError(f"dataset: cifar10 path {root} has no data_batch_* files "
                           "(expected the CIFAR-10 python pickle batches)")
        return 10, 3
    if kind == "imagefolder" and path:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise NasError(f"dataset: imagefolder path {root} is not a directory")
        has_test = any((root / d).is_dir() for d in ("val", "test"))
        train = root / "train" if (root / "train").is_dir() and has_test else root
        classes = [p for p in train.iterdir() if p.is_dir()]
        if len(classes) < 2:
            raise NasError(f"dataset: imagefolder {train} needs at least 2 class sub-folders, "
                           f"found {len(classes)}")
        return len(classes), 3
    if kind == "fashion_mnist" or (kind == "mnist" and path):
        from nas.data._idx import idx_root

        idx_root(kind, Path(path).expanduser() if path else None)  # names the package if missing
        return 10, 1
    raise NasError(f"dataset: {spec!r} is not one of {', '.join(DATASET_KINDS)}")




def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, rng: np.random.Generator | None = None
            ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches in order, or shuffled with ``rng``."""
    order = torch.from_numpy(rng.permutation(len(y))) if rng is not None else torch.arange(len(y))
    return [(x[idx], y[idx]) for idx in order.split(batch_size)]
