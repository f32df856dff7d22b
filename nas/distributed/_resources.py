"""What one trial asks of a Ray cluster: CPUs, GPUs, custom resources, and how often it may be retried.

The config's ``ray:`` mapping (or a Python config script) gives these; they become the ``options``
of each Ray task, so Ray places a trial only on a node that has what it asks for — a trial that must
time something on a device names that node's custom resource (``resources: {jetson: 1}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nas._errors import NasError

# Resource names Ray manages itself; a config names them through num_cpus/num_gpus instead.
_RESERVED = {"CPU", "GPU", "memory", "object_store_memory"}
_KEYS = ("num_cpus", "num_gpus", "resources", "max_retries", "workers")


@dataclass(frozen=True)
class TrialResources:
    """Per-trial Ray resources and the retry bound for trials whose worker or node died.

    Attributes:
        num_cpus: CPUs reserved per trial (fractions allowed, e.g. 0.5).
        num_gpus: GPUs reserved per trial.
        resources: Custom resources per trial, e.g. ``{"jetson": 1}``; Ray runs the trial only on a
            node started with ``--resources='{"jetson": N}'``.
        max_retries: How many times a trial whose worker process or node died is submitted again
            before it is recorded as failed. Evaluation exceptions are never retried.
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: Mapping[str, float] = field(default_factory=dict)
    max_retries: int = 2

    def __post_init__(self) -> None:
        for name in ("num_cpus", "num_gpus"):
            value = getattr(self, name)
            if not _is_amount(value):
                raise NasError(f"ray.{name}: must be a number >= 0, got {value!r}")
        if not isinstance(self.resources, Mapping):
            raise NasError(f"ray.resources: must be a mapping of resource name to amount, got {self.resources!r}")
        for key, value in self.resources.items():
            if not isinstance(key, str) or not key:
                raise NasError(f"ray.resources: resource names must be non-empty strings, got {key!r}")
            if key in _RESERVED:
                raise NasError(f"ray.resources.{key}: reserved by Ray; use num_cpus/num_gpus for CPU/GPU")
            if not _is_amount(value) or value == 0:
                raise NasError(f"ray.resources.{key}: must be a number > 0, got {value!r}")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise NasError(f"ray.max_retries: must be an integer >= 0, got {self.max_retries!r}")
        # Frozen dataclass: store a private copy so a caller's dict mutated later changes nothing here.
        object.__setattr__(self, "resources", dict(self.resources))

    def ray_options(self) -> dict[str, Any]:
        """Keyword options for ``remote_function.options(...)``; Ray's own retries are off (we count them)."""
        opts: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "max_retries": 0}
        if self.resources:
            opts["resources"] = dict(self.resources)
        return opts

    def to_dict(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "resources": dict(self.resources),
                "max_retries": self.max_retries}


def _is_amount(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            and value >= 0)


def parse_ray_section(data: Mapping[str, Any] | None, where: str = "ray") -> tuple[TrialResources, int | None]:
    """The ``ray:`` section of a config: per-trial resources and the optional default worker count.

    Args:
        data: The mapping (``None`` or empty gives the defaults: 1 CPU per trial, 2 retries).
        where: Field path used in error messages (the config file name is prefixed by the caller).

    Returns:
        ``(resources, workers)``; ``workers`` is ``None`` when the section does not set it.

    Raises:
        NasError: Unknown keys or bad values, naming the field and what is allowed.
    """
    if data is None:
        return TrialResources(), None
    if not isinstance(data, Mapping):
        raise NasError(f"{where}: must be a mapping with keys {', '.join(_KEYS)}, got {data!r}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise NasError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(_KEYS)}")
    workers = data.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise NasError(f"{where}.workers: must be an integer >= 1, got {workers!r}")
    kwargs = {k: data[k] for k in ("num_cpus", "num_gpus", "resources", "max_retries") if k in data}
    try:
        res = TrialResources(**kwargs)
    except NasError as exc:
        raise NasError(str(exc).replace("ray.", f"{where}.", 1)) from None
    return res, workers
