"""The search config: one frozen, typed dataclass tree, from YAML or built in Python.

YAML form (every field but ``space``, ``objectives`` and a budget is optional)::

    name: quickstart                  # run folder runs/<name>, study name
    space: mobilenet_v3               # registered name or a space YAML path
    resolutions: [32]                 # default: the space's own
    widths: [1.0, 1.2]                # optional restriction of the space's widths
    dataset: digits                   # digits | cifar10:PATH | imagefolder:PATH
    objectives: [accuracy, "latency:cpu_torch_mobilenet_v3", macs]
    constraints: ["latency:cpu_torch_mobilenet_v3 <= 5", "macs <= 30M"]
    sampler: {name: nsga2, seed: 0, population_size: 8}   # or just: nsga2
    n_trials: 24                      # and/or timeout_s: 600
    storage: null                     # default sqlite in the run folder; any Optuna storage URL
    evaluator: {kind: train, epochs: 2, batch_size: 64, halving: {rungs: [1], eta: 3}}
    memory: {batch: 1, dtype: float32}   # for peak_memory

Construction checks values and names the offending field; :func:`check_config` also checks that
the space, the dataset and every latency table exist and that each table covers the space.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nas._errors import NasError
from nas._fields import Fields, as_int, as_number
from nas.cost import DTYPE_BYTES
from nas.data import DATASET_KINDS
from nas.evaluators import (
    EVALUATOR_CLASSES,
    EvaluatorConfig,
    evaluator_from_dict,
    evaluator_to_dict,
)
from nas.search._metrics import ACCURACY, Constraint, Objective, latency_table_id

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# Fields that may change when a run is resumed (budget and bookkeeping, not the problem).
BUDGET_FIELDS = ("n_trials", "timeout_s")


@dataclass(frozen=True)
class SamplerConfig:
    """Which Optuna sampler proposes candidates, and its seed."""

    name: str = "nsga2"
    seed: int = 0
    population_size: int | None = None  # nsga2/nsga3 (Optuna default 50)
    n_startup_trials: int | None = None  # tpe (Optuna default 10)

    def __post_init__(self) -> None:
        from nas.search._samplers import SAMPLERS

        if self.name not in SAMPLERS:
            raise NasError(f"sampler.name: {self.name!r} is not one of {', '.join(SAMPLERS)}")
        object.__setattr__(self, "seed", as_int(self.seed, "sampler.seed", low=0))
        if self.population_size is not None:
            object.__setattr__(self, "population_size",
                               as_int(self.population_size, "sampler.population_size", low=2))
        if self.n_startup_trials is not None:
            object.__setattr__(self, "n_startup_trials",
                               as_int(self.n_startup_trials, "sampler.n_startup_trials", low=0))

    @classmethod
    def from_dict(cls, data: Any) -> SamplerConfig:
        if isinstance(data, str):
            return cls(name=data)
        f = Fields(data, "sampler")
        f.check_known(("name", "seed", "population_size", "n_startup_trials"))
        return cls(name=f.get("name", "nsga2"), seed=f.get("seed", 0),
                   population_size=f.get("population_size"),
                   n_startup_trials=f.get("n_startup_trials"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "population_size": self.population_size,
                "n_startup_trials": self.n_startup_trials}


@dataclass(frozen=True)
class MemoryConfig:
    """Batch and dtype at which ``peak_memory`` (activation bytes) is computed."""

    batch: int = 1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch", as_int(self.batch, "memory.batch", low=1))
        if self.dtype not in DTYPE_BYTES:
            raise NasError(f"memory.dtype: {self.dtype!r} is not one of {', '.join(DTYPE_BYTES)}")


def _objectives(items: Any) -> tuple[Objective, ...]:
    if isinstance(items, str | Objective):
        items = [items]
    if not isinstance(items, Sequence) or not items:
        raise NasError("objectives: expected a non-empty list of metric names "
                       "(e.g. accuracy, latency:TABLE_ID, macs)")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Objective):
            out.append(item)
            continue
        try:
            out.append(Objective(item))
        except NasError as exc:
            raise NasError(f"objectives[{i}]: {str(exc).removeprefix('objective: ')}") from None
    names = [o.metric for o in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise NasError(f"objectives: {dup[0]!r} is listed twice")
    return tuple(out)


def _constraints(items: Any) -> tuple[Constraint, ...]:
    if items is None:
        return ()
    if isinstance(items, str | Constraint):
        items = [items]
    if not isinstance(items, Sequence):
        raise NasError("constraints: expected a list like ['macs <= 300e6']")
    return tuple(c if isinstance(c, Constraint) else Constraint.parse(c, f"constraints[{i}]")
                 for i, c in enumerate(items))


@dataclass(frozen=True)
class SearchConfig:
    """A whole search problem and how to run it. Immutable; use :meth:`replace` for variants.

    ``objectives`` and ``constraints`` accept metric names and constraint strings (they are
    parsed into :class:`Objective` and :class:`Constraint`); lists become tuples.
    """

    space: str
    objectives: tuple[Objective, ...]
    name: str = "search"
    resolutions: tuple[int, ...] | None = None
    widths: tuple[float, ...] | None = None
    dataset: str = "digits"
    constraints: tuple[Constraint, ...] = ()
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    n_trials: int | None = None
    timeout_s: float | None = None
    storage: str | None = None
    study_name: str | None = None
    evaluator: EvaluatorConfig | None = None
    memory: MemoryConfig = field(default_factory=MemoryConfig)

    def __post_init__(self) -> None:
        s = object.__setattr__
        if not isinstance(self.name, str) or not self.name or not set(self.name) <= _NAME_CHARS:
            raise NasError(f"name: {self.name!r} must be letters, digits, _ . -")
        if not isinstance(self.space, str) or not self.space:
            raise NasError(f"space: {self.space!r} must be a space name or a space YAML path")
        if self.resolutions is not None:
            res = (self.resolutions,) if isinstance(self.resolutions, int) else self.resolutions
            s(self, "resolutions", tuple(as_int(r, f"resolutions[{i}]", low=8)
                                         for i, r in enumerate(res)))
            if not self.resolutions:
                raise NasError("resolutions: give at least one, or leave it out for the space's own")
        if self.widths is not None:
            ws = (self.widths,) if isinstance(self.widths, int | float) else self.widths
            s(self, "widths", tuple(as_number(w, f"widths[{i}]") for i, w in enumerate(ws)))
            if not self.widths:
                raise NasError("widths: give at least one, or leave it out for the space's own")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise NasError(f"dataset: {self.dataset!r}; allowed: {', '.join(DATASET_KINDS)}")
        s(self, "objectives", _objectives(self.objectives))
        s(self, "constraints", _constraints(self.constraints))
        if not isinstance(self.sampler, SamplerConfig):
            raise NasError(f"sampler: expected a SamplerConfig, got {self.sampler!r}")
        if self.n_trials is not None:
            s(self, "n_trials", as_int(self.n_trials, "n_trials", low=1))
        if self.timeout_s is not None:
            s(self, "timeout_s", as_number(self.timeout_s, "timeout_s"))
            if self.timeout_s <= 0:
                raise NasError(f"timeout_s: {self.timeout_s} must be > 0")
        if self.n_trials is None and self.timeout_s is None:
            raise NasError("n_trials: give n_trials and/or timeout_s (the search needs a budget)")
        if self.storage is not None and (not isinstance(self.storage, str) or "://" not in self.storage):
            raise NasError(f"storage: {self.storage!r} is not an Optuna storage URL "
                           "(e.g. sqlite:///study.db, postgresql://user@host/db); leave it out "
                           "for a SQLite file in the run folder")
        if self.study_name is not None and (not isinstance(self.study_name, str) or not self.study_name):
            raise NasError(f"study_name: {self.study_name!r} must be a non-empty string")
        if self.evaluator is not None and not isinstance(self.evaluator, EVALUATOR_CLASSES):
            raise NasError(f"evaluator: expected one of {', '.join(c.__name__ for c in EVALUATOR_CLASSES)}, "
                           f"got {self.evaluator!r}")
        if self.needs_accuracy and self.evaluator is None:
            raise NasError("evaluator: the 'accuracy' objective needs an evaluator "
                           "({kind: train, ...} or {kind: zero_cost, proxies: [...]})")
        if not isinstance(self.memory, MemoryConfig):
            raise NasError(f"memory: expected a MemoryConfig, got {self.memory!r}")

    # -- derived -----------------------------------------------------------------------------
    @property
    def needs_accuracy(self) -> bool:
        return any(o.metric == ACCURACY for o in self.objectives)

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.metric for o in self.objectives)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(o.direction for o in self.objectives)

    @property
    def cheap_metrics(self) -> tuple[str, ...]:
        """Every metric computed before training: cost metrics, then each table's latency."""
        names = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
        tables = [n for n in dict.fromkeys(names) if latency_table_id(n) is not None]
        return ("macs", "params", "peak_memory", *tables)

    @property
    def table_ids(self) -> tuple[str, ...]:
        return tuple(t for m in self.cheap_metrics if (t := latency_table_id(m)) is not None)

    @property
    def study(self) -> str:
        return self.study_name or self.name

    def replace(self, **changes: Any) -> SearchConfig:
        """A validated copy with some fields changed (this config is never modified)."""
        return replace(self, **changes)

    # -- dict / YAML ---------------------------------------------------------------------------
    _FIELDS = ("name", "space", "resolutions", "widths", "dataset", "objectives", "constraints",
               "sampler", "n_trials", "timeout_s", "storage", "study_name", "evaluator", "memory")

    @classmethod
    def from_dict(cls, data: Any, *, default_name: str = "search") -> SearchConfig:
        """Build from a parsed YAML mapping; errors name the field."""
        f = Fields(data, "")
        f.check_known(cls._FIELDS)
        kwargs: dict[str, Any] = {k: f.data[k] for k in cls._FIELDS if f.has(k)}
        kwargs.setdefault("name", default_name)
        for key in ("space", "objectives"):
            f.required(key)
        if "sampler" in kwargs:
            kwargs["sampler"] = SamplerConfig.from_dict(kwargs["sampler"])
        if "evaluator" in kwargs:
            kwargs["evaluator"] = evaluator_from_dict(kwargs["evaluator"])
        if "memory" in kwargs:
            m = Fields(kwargs["memory"], "memory")
            m.check_known(("batch", "dtype"))
            kwargs["memory"] = MemoryConfig(batch=m.get("batch", 1), dtype=m.get("dtype", "float32"))
        for key in ("resolutions", "widths", "objectives", "constraints"):
            if key in kwargs and not isinstance(kwargs[key], list | str | int | float):
                raise NasError(f"{key}: expected a list, got {kwargs[key]!r}")
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping that :meth:`from_dict` turns back into an equal config."""
        return {
            "name": self.name,
            "space": self.space,
            "resolutions": list(self.resolutions) if self.resolutions else None,
            "widths": list(self.widths) if self.widths else None,
            "dataset": self.dataset,
            "objectives": [str(o) for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
            "sampler": self.sampler.to_dict(),
            "n_trials": self.n_trials,
            "timeout_s": self.timeout_s,
            "storage": self.storage,
            "study_name": self.study_name,
            "evaluator": evaluator_to_dict(self.evaluator) if self.evaluator else None,
            "memory": {"batch": self.memory.batch, "dtype": self.memory.dtype},
        }

    def problem_hash(self) -> str:
        """16 hex digits identifying the problem (everything but the budget fields)."""
        data = {k: v for k, v in self.to_dict().items() if k not in BUDGET_FIELDS}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
