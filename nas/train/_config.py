"""The training recipe as a typed config, read from and written to ``train.yaml``.

``nas export`` writes a ``train.yaml`` with defaults chosen for the dataset and input size;
``nas train`` reads it (command-line options override single fields). Every field is validated
and an error names the file and the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from nas._errors import NasError
from nas._yaml import read_yaml
from nas.recipe import OPTIMIZERS, SCHEDULES, Recipe

SCHEMA = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that fixes a training run (with the arch and the seed, a run is reproducible).

    Attributes:
        dataset: ``digits``, ``cifar10:PATH`` or ``imagefolder:PATH``; empty: give ``--data``.
        epochs: passes over the training split.
        batch_size: training batch size (evaluation uses ``eval_batch_size``).
        optimizer: ``sgd`` (with momentum, Nesterov if ``nesterov``) or ``adamw``.
        lr: peak learning rate, reached after the warm-up.
        momentum: SGD momentum (``adamw``: beta1).
        nesterov: Nesterov momentum for SGD.
        weight_decay: decoupled for AdamW, L2 for SGD; never applied to norms and biases.
        schedule: per step after the warm-up: ``cosine`` or ``linear`` decay from ``lr`` to
            ``min_lr``, or ``constant``.
        warmup_epochs: linear warm-up from ``warmup_start_factor * lr`` (may be fractional).
        warmup_start_factor: fraction of ``lr`` the warm-up starts at.
        min_lr: learning rate at the end of the cosine.
        label_smoothing: cross-entropy label smoothing.
        dropout: dropout before the classifier.
        ema: keep an exponential moving average of the weights and evaluate it.
        ema_decay: EMA decay (warmed up as ``min(decay, (1 + n) / (10 + n))`` over updates n).
        crop_padding: random crop after zero padding by this many pixels (0: off).
        hflip: random horizontal flips (off for digits, where mirrored digits are other symbols).
        amp: mixed precision (autocast + GradScaler) when training on CUDA; ignored on CPU.
        grad_clip: clip the gradient norm to this value (0: off).
        seed: seeds the data split, the batch order, augmentation, init and dropout.
        test_fraction: held-out fraction for datasets without a test split (digits, flat folders).
        eval_batch_size: batch size for evaluation.
    """

    dataset: str = ""
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    warmup_start_factor: float = 0.1
    min_lr: float = 0.0
    label_smoothing: float = 0.1
    dropout: float = 0.2
    ema: bool = True
    ema_decay: float = 0.999
    crop_padding: int = 4
    hflip: bool = True
    amp: bool = True
    grad_clip: float = 0.0
    seed: int = 0
    test_fraction: float = 0.2
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        self.validate("train config")

    def validate(self, source: str) -> None:
        def bad(name: str, allowed: str) -> NasError:
            return NasError(f"{source}: field {name!r} is {getattr(self, name)!r}; {allowed}")

        if not isinstance(self.dataset, str):
            raise bad("dataset", "expected digits, cifar10:PATH or imagefolder:PATH")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "expected an integer >= 1")
        for name in ("crop_padding", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise bad(name, "expected an integer >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"allowed: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"allowed: {', '.join(SCHEDULES)}")
        for name in ("nesterov", "ema", "hflip", "amp"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "expected true or false")
        inf = float("inf")
        # name: (low, low included, high, high included)
        ranges = {"lr": (0, False, inf, False), "momentum": (0, True, 1, False),
                  "weight_decay": (0, True, inf, False), "warmup_epochs": (0, True, inf, False),
                  "warmup_start_factor": (0, False, 1, True), "min_lr": (0, True, inf, False),
                  "label_smoothing": (0, True, 1, False), "dropout": (0, True, 1, False),
                  "ema_decay": (0, False, 1, False), "grad_clip": (0, True, inf, False),
                  "test_fraction": (0, False, 1, False)}
        for name, (lo, lo_in, hi, hi_in) in ranges.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
                raise bad(name, "expected a number")
            if v < lo or (v == lo and not lo_in) or v > hi or (v == hi and not hi_in):
                raise bad(name, f"expected a number in {'[' if lo_in else '('}{lo}, {hi}"
                                f"{']' if hi_in else ')'}")
        if self.warmup_epochs > self.epochs:
            raise bad("warmup_epochs", f"must not exceed epochs ({self.epochs})")
        if self.min_lr > self.lr:
            raise bad("min_lr", f"must not exceed lr ({self.lr})")

    def recipe(self) -> Recipe:
        """The shared training recipe (optimizer, schedule, loss) with this config's values."""
        # Every recipe field is a field of this config under the same name (their defaults differ).
        return Recipe(**{f.name: getattr(self, f.name) for f in fields(Recipe)})

    # -- YAML ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @property
    def hash(self) -> str:
        """Hash of every field (resume refuses a checkpoint made with another config)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "train config") -> TrainConfig:
        if not isinstance(data, dict):
            raise NasError(f"{source}: expected a mapping of training settings")
        data = dict(data)
        schema = data.pop("schema", SCHEMA)
        if schema != SCHEMA:
            raise NasError(f"{source}: field 'schema' is {schema!r}; only {SCHEMA} is known")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise NasError(f"{source}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
        if data.get("dataset") is None:
            data["dataset"] = ""
        for name in ("lr", "momentum", "weight_decay", "warmup_epochs", "warmup_start_factor",
                     "min_lr", "label_smoothing", "dropout", "ema_decay", "grad_clip", "test_fraction"):
            if isinstance(data.get(name), int) and not isinstance(data.get(name), bool):
                data[name] = float(data[name])
        try:
            config = cls(**{**asdict(cls()), **data})
        except NasError as exc:
            raise NasError(str(exc).replace("train config", source, 1)) from None
        return config

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(read_yaml(path, "training config"), source=str(path))

    def to_yaml(self) -> str:
        header = ("# Training recipe for `nas train` (hwnas). Fields are documented in\n"
                  "# nas/train/_config.py (TrainConfig); --data and --epochs override them.\n")
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: Path) -> None:
        path.write_text(self.to_yaml())

    def replace(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


def default_train_config(dataset: str, resolution: int, *, epochs: int | None = None) -> TrainConfig:
    """The recipe ``nas export`` writes, chosen per dataset.

    ``digits`` (1,797 8x8 images, upsampled): AdamW, 30 epochs, no flips, small crops. Other
    datasets: SGD with Nesterov, 100 epochs, 1/8-of-the-side crop padding and flips (CIFAR recipe).
    """
    kind = dataset.partition(":")[0]
    padding = max(1, resolution // 8)
    if kind == "digits":
        return TrainConfig(dataset=dataset, epochs=epochs or 30, batch_size=64, optimizer="adamw",
                           lr=4e-3, momentum=0.9, nesterov=False, weight_decay=0.05,
                           warmup_epochs=1.0, label_smoothing=0.1, dropout=0.1, ema=True,
                           ema_decay=0.99, crop_padding=max(1, resolution // 16), hflip=False)
    return TrainConfig(dataset=dataset, epochs=epochs or 100, batch_size=128, optimizer="sgd",
                       lr=0.1, nesterov=True, weight_decay=5e-5, warmup_epochs=3.0,
                       label_smoothing=0.1, dropout=0.2, ema=True, ema_decay=0.9998,
                       crop_padding=padding, hflip=True)
