"""Loading a trained supernet folder, and scoring subnets with inherited weights."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nas._errors import NasError
from nas.arch import Arch, load_arch
from nas.data import resize
from nas.models import NASNet
from nas.recipe import evaluate, recalibrate_bn, torch_threads
from nas.space import SearchSpace, get_space
from nas.supernet._config import SupernetConfig
from nas.supernet._net import Supernet, space_hash
from nas.supernet._train import (
    _EVAL_BATCH,
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    calibration_images,
    supernet_data,
)


def read_checkpoint(directory: str | Path) -> dict[str, Any]:
    """The raw ``checkpoint.pt`` of a supernet folder (errors name the folder and what is wrong)."""
    d = Path(directory)
    if not d.is_dir():
        raise NasError(f"supernet folder {d}: not a directory (train one with "
                       "`nas supernet train CONFIG --out DIR`)")
    path = d / CHECKPOINT
    if not path.is_file():
        raise NasError(f"supernet folder {d}: no {CHECKPOINT} (train one with "
                       "`nas supernet train CONFIG --out DIR`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NasError(f"{path}: not a readable supernet checkpoint ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "space" not in ckpt:
        raise NasError(f"{path}: not a supernet checkpoint of format {CHECKPOINT_FORMAT} "
                       "(written by `nas supernet train`)")
    return ckpt


def _find_space(ckpt: dict[str, Any], path: Path) -> SearchSpace:
    """The space file the checkpoint was trained with, as it is now: its recorded path when that
    file still exists, else the space of that name; its content hash must be the recorded one."""
    rec = ckpt["space"]
    if rec.get("path") and Path(rec["path"]).is_file():
        sp = get_space(rec["path"])
    else:
        try:
            sp = get_space(rec["name"])
        except NasError:
            raise NasError(f"{path}: trained on space {rec['name']!r}, which is not known here "
                           f"(its file {rec.get('path') or '?'} is gone)") from None
    if space_hash(sp) != rec["hash"]:
        raise NasError(f"{path}: trained on space {rec['name']!r} with content hash {rec['hash']}, "
                       f"but the space file {sp.path or sp.name} now hashes to {space_hash(sp)}: "
                       "it is another version of the space; use the space file the supernet was "
                       "trained with")
    return sp


def load_supernet(directory: str | Path) -> Supernet:
    """The supernet of a folder written by ``nas supernet train``, in eval mode.

    The returned object also carries ``recipe`` (:class:`SupernetConfig`), ``dataset``,
    ``epochs_done``, ``complete``, ``class_names`` and ``path``.
    """
    d = Path(directory)
    ckpt = read_checkpoint(d)
    path = d / CHECKPOINT
    space = _find_space(ckpt, path)
    config = SupernetConfig.from_dict(ckpt["config"], source=f"{path} (recorded recipe)")
    sn = Supernet(space.with_resolutions(config.resolutions), classes=int(ckpt["classes"]),
                  in_channels=int(ckpt["in_channels"]), dropout=config.dropout)
    try:
        sn.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise NasError(f"{path}: weights do not fit the supernet of space {space.name} "
                       f"({str(exc).splitlines()[0]})") from None
    sn.eval()
    sn.recipe = config
    sn.dataset = str(ckpt["dataset"])
    sn.epochs_done = int(ckpt["epoch"])
    sn.complete = int(ckpt["epoch"]) >= config.epochs
    sn.class_names = tuple(ckpt.get("class_names", ()))
    sn.path = str(d)
    return sn


@dataclass
class Score:
    """One scored subnet: its arch, accuracy on the split and the seconds it took."""

    arch: str
    accuracy: float
    seconds: float


class SubnetScorer:
    """Holds a loaded supernet and its data; scores subnets by inherited-weight accuracy.

    Create one per process (loading reads the checkpoint and the dataset); then
    :meth:`score` takes about the time of its forward passes (about 9 s on one CPU core
    for 2,000 recalibration images and a 5,000-image minival at 32 px). Deterministic: the BN
    recalibration images are a fixed, seeded subset of the supernet's training images.

    Args:
        directory: supernet folder.
        split: ``minival`` (the held-out slice of the training split; for ranking) or ``test``
            (the dataset's test split; for final figures).
        bn_images: BN recalibration images (default: the recipe's ``bn_images``).
        threads: torch CPU threads while scoring (default: torch's choice).
    """

    def __init__(self, directory: str | Path, *, split: str = "minival",
                 bn_images: int | None = None, threads: int | None = None) -> None:
        if split not in ("minival", "test"):
            raise NasError(f"split {split!r}: expected minival or test")
        if bn_images is not None and bn_images < 1:
            raise NasError(f"bn_images must be >= 1, got {bn_images}")
        self.supernet = load_supernet(directory)
        self.threads = threads
        recipe = self.supernet.recipe
        if recipe is None:  # load_supernet always sets it
            raise NasError(f"supernet folder {directory}: no recorded recipe")
        train, minival = supernet_data(recipe)
        held = minival if split == "minival" else train
        self.split = split
        self.x, self.y = held.x_test, held.y_test
        self.calib = calibration_images(train, bn_images or recipe.bn_images, recipe.seed)
        self._resized: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def space(self) -> SearchSpace:
        return self.supernet.space

    def arch(self, arch: Arch | str) -> Arch:
        """An :class:`Arch` from an arch, its text, a reference name or an arch file, checked."""
        a = arch if isinstance(arch, Arch) else load_arch(arch)
        self.supernet.check(a)
        return a

    def _data(self, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        if r not in self._resized:
            self._resized[r] = (resize(self.calib, r), resize(self.x, r))
        return self._resized[r]

    def model(self, arch: Arch | str) -> NASNet:
        """``arch`` extracted with inherited weights and BN recalibrated (eval mode)."""

        a = self.arch(arch)
        with torch_threads(self.threads):
            calib, _ = self._data(a.resolution)
            model = self.supernet.extract(a)
            recalibrate_bn(model, [calib[i:i + _EVAL_BATCH] for i in range(0, len(calib), _EVAL_BATCH)])
            model.eval()
        return model

    def score(self, arch: Arch | str) -> float:
        """Top-1 accuracy of ``arch`` on the split, with inherited weights."""
        return self.score_timed(arch).accuracy

    def score_timed(self, arch: Arch | str) -> Score:
        t0 = time.perf_counter()
        a = self.arch(arch)
        model = self.model(a)
        with torch_threads(self.threads):
            _, x = self._data(a.resolution)
            acc = evaluate(model, x, self.y, _EVAL_BATCH, torch.device("cpu"))[1]
        return Score(a.text, acc, time.perf_counter() - t0)
