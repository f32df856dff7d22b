"""One measured table entry (robust statistics of a block's latency) and the prediction result."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nas._errors import NasError

_STATS = ("n", "median", "mean", "p90", "std", "min")


@dataclass(frozen=True)
class Entry:
    """Latency statistics of one block, in milliseconds.

    A measured entry has every field. An imported one (published tables often give only a mean
    and a standard deviation) may leave ``median`` or the others unset; :attr:`ms` is the value
    predictions use: the median when known, else the mean.
    """

    median: float | None
    n: int = 1
    mean: float | None = None
    p90: float | None = None
    std: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if self.median is None and self.mean is None:
            raise NasError("a latency entry needs a median or a mean")
        for name in _STATS[1:]:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise NasError(f"latency entry field {name!r} must be a finite number >= 0, "
                               f"got {value}")
        if self.n < 1:
            raise NasError(f"latency entry field 'n' must be >= 1, got {self.n}")

    @property
    def ms(self) -> float:
        """The value predictions use: median, else mean."""
        return float(self.median if self.median is not None else self.mean)  # type: ignore[arg-type]

    def value(self, statistic: str = "median") -> float:
        """``median`` (or the mean when no median is known) or ``min`` (when measured)."""
        if statistic == "min" and self.min is not None:
            return float(self.min)
        if statistic not in ("median", "min"):
            raise NasError(f"statistic {statistic!r} is not one of median, min")
        return self.ms

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float] | np.ndarray) -> Entry:
        """Robust statistics of repeated timings (milliseconds)."""
        x = np.asarray(samples_ms, dtype=float)
        if x.size == 0:
            raise NasError("cannot make a latency entry from no samples")
        return cls(
            median=float(np.median(x)),
            n=int(x.size),
            mean=float(x.mean()),
            p90=float(np.percentile(x, 90)),
            std=float(x.std(ddof=1)) if x.size > 1 else 0.0,
            min=float(x.min()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _STATS if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Entry:
        if not isinstance(data, Mapping):
            raise NasError(f"{where}: expected an object with n, median, mean, p90, std")
        unknown = set(data) - set(_STATS)
        if unknown:
            raise NasError(f"{where}: unknown field(s) {sorted(unknown)}; "
                           f"allowed: {', '.join(_STATS)}")
        values: dict[str, Any] = {}
        for k in _STATS:
            v = data.get(k)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise NasError(f"{where}: field {k!r} is {v!r}, not a number")
            values[k] = int(v) if k == "n" else float(v)
        try:
            return cls(median=values.pop("median", None), **values)
        except NasError as exc:
            raise NasError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Prediction:
    """A predicted whole-network latency.

    Attributes:
        latency_ms: the calibrated prediction (the naive sum when the table has no calibration).
        blocks: ``(block key, ms)`` in network order; each block's calibrated share, so
            ``sum(ms) + overhead_ms == latency_ms``.
        modelled: keys the table lacks, priced by its kernel model (``approximate=True``).
        raw_sum_ms: the naive sum of the blocks' isolated timings.
        overhead_ms: the calibration's network-level part: its per-network constant plus the
            squared-weights term (neither belongs to one block).
        calibrated: whether a calibration was applied.
    """

    latency_ms: float
    blocks: list[tuple[str, float]]
    modelled: list[str] = field(default_factory=list)
    raw_sum_ms: float = 0.0
    overhead_ms: float = 0.0
    calibrated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "raw_sum_ms": self.raw_sum_ms,
            "overhead_ms": self.overhead_ms,
            "calibrated": self.calibrated,
            "modelled": list(self.modelled),
            "measured_blocks": sum(1 for k, _ in self.blocks if k not in set(self.modelled)),
            "blocks": [{"key": k, "ms": ms} for k, ms in self.blocks],
        }
