"""The supernet training recipe: a YAML file read into a validated :class:`SupernetConfig`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from nas._errors import NasError
from nas._yaml import read_yaml

# Fields that say how a run uses this machine, not what it trains: a run may resume with others
# (float sums may then differ in their last bits from an uninterrupted run).
RUNTIME_FIELDS = ("threads",)
RESOLUTION_SAMPLING = ("per_subnet", "per_step")


@dataclass(frozen=True)
class SupernetConfig:
    """What ``nas supernet train CONFIG`` reads (every field optional but ``space``/``dataset``).

    Data: ``dataset`` (a :func:`nas.data.load_dataset` spec) loaded at the largest of
    ``resolutions``; ``minival`` images of its training split (a fixed slice seeded by
    ``minival_seed``) are held out for ranking subnets; ``train_subset`` caps the rest.

    Recipe: AdamW, linear warm-up then per-step cosine, label smoothing on the largest subnet;
    each step trains the sandwich (largest, smallest and ``random_subnets`` uniformly sampled
    subnets), the others distilled in place from the largest's soft labels (loss = CE +
    ``kd_ratio`` * KD). ``resolution_sampling`` says where each subnet's input resolution comes
    from: ``per_subnet`` (BigNAS: the largest at the largest resolution, the smallest at the
    smallest, each random subnet its own draw) or ``per_step`` (Once-for-All: one resolution drawn
    per step, shared by the whole sandwich, so every resolution gets the same share of training).
    ``sort_channels``: re-sort expanded channels by importance every epoch.
    ``eval_subnets`` fixed random subnets are scored on minival each epoch beside the extremes.
    """

    space: str
    dataset: str
    resolutions: tuple[int, ...] = (32,)
    minival: int = 5000
    minival_seed: int = 0
    train_subset: int | None = None
    bn_images: int = 2000
    epochs: int = 4
    batch_size: int = 128
    lr: float = 4e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.25
    label_smoothing: float = 0.1
    random_subnets: int = 2
    kd_ratio: float = 1.0
    resolution_sampling: str = "per_subnet"
    dropout: float = 0.0
    sort_channels: bool = True
    eval_subnets: int = 3
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        def bad(name: str, what: str) -> NasError:
            return NasError(f"supernet config: field {name!r} is {getattr(self, name)!r}; {what}")

        for name in ("space", "dataset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise bad(name, "expected a non-empty string")
        res = self.resolutions
        if isinstance(res, int) and not isinstance(res, bool):
            res = (res,)
        if not isinstance(res, list | tuple) or not res or any(
                isinstance(r, bool) or not isinstance(r, int) or r < 8 for r in res):
            raise bad("resolutions", "expected an integer >= 8 or a list of them")
        object.__setattr__(self, "resolutions", tuple(sorted(set(res))))
        ints = {"minival": 1, "minival_seed": 0, "bn_images": 1, "epochs": 1, "batch_size": 2,
                "random_subnets": 0, "eval_subnets": 0, "seed": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise bad(name, f"expected an integer >= {low}")
        for name in ("train_subset", "threads"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise bad(name, "expected an integer >= 1 or null")
        for name, lo, hi in (("lr", 0.0, 10.0), ("weight_decay", -1e-12, 10.0),
                             ("warmup_epochs", -1e-12, float(self.epochs)),
                             ("label_smoothing", -1e-12, 1.0), ("kd_ratio", -1e-12, 100.0),
                             ("dropout", -1e-12, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo < v < hi:
                raise bad(name, f"expected a number in ({max(lo, 0.0)}, {hi})"
                          if lo == 0.0 else f"expected a number in [0, {hi})")
            object.__setattr__(self, name, float(v))
        if self.resolution_sampling not in RESOLUTION_SAMPLING:
            raise bad("resolution_sampling", f"expected one of {', '.join(RESOLUTION_SAMPLING)}")
        if not isinstance(self.sort_channels, bool):
            raise bad("sort_channels", "expected true or false")

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "supernet config") -> SupernetConfig:
        if not isinstance(data, dict):
            raise NasError(f"{source}: expected a mapping of fields")
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise NasError(f"{source}: unknown field {key!r}; allowed: {', '.join(known)}")
        for key in ("space", "dataset"):
            if key not in data:
                raise NasError(f"{source}: missing field {key!r}")
        try:
            return cls(**data)
        except NasError as exc:
            raise NasError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> SupernetConfig:
        path = Path(path)
        return cls.from_dict(read_yaml(path, "supernet config"), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resolutions"] = list(self.resolutions)
        return d

    def recipe_dict(self) -> dict[str, Any]:
        """The fields that say what is trained: all but :data:`RUNTIME_FIELDS`."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}

    @property
    def hash(self) -> str:
        """Hash of the recipe (a run may resume with other threads: same recipe)."""
        return hashlib.sha256(json.dumps(self.recipe_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
