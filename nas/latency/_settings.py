"""What a measurement runs on (device, backend, threads, batch, dtype) and how it times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from nas._errors import NasError

DEVICES = ("cpu", "cuda")
BACKENDS = ("torch", "onnxruntime")
DTYPES = ("float32", "float16")
TIMERS = ("auto", "wall", "thread_cpu")


@dataclass(frozen=True)
class Settings:
    """Measurement settings. The first five fields define the table; the rest only how it times.

    Attributes:
        device: ``cpu`` or ``cuda``.
        backend: ``torch`` (eager, inference mode) or ``onnxruntime`` (each block or network
            exported to ONNX in memory, one InferenceSession with ``threads`` intra-op threads).
        threads: intra-op threads (CPU); the process is also pinned to that many cores.
        batch: batch size of one forward pass.
        dtype: ``float32`` or ``float16``.
        rounds: timing rounds; in each, every item of a chunk is timed once, in a fresh random
            order, so slow drifts in machine load spread over all items instead of a few.
        round_ms: target time of one item's burst in one round (sets its calls per burst).
        min_reps: fewest timed calls per burst.
        max_reps: most timed calls per burst.
        warmup_ms: warm-up time per item before the first round (at least 3 calls).
        statistic: what predictions use: ``median`` of the samples, or ``min`` (both are
            always recorded).
        timer: ``wall`` (``perf_counter``), ``thread_cpu`` (CPU time of the calling thread:
            with one thread all the work runs in it, and time slices lost to other processes
            are not counted, so shared cores do not inflate the figures; on an idle core it
            equals wall time) or ``auto``: ``thread_cpu`` for 1-thread CPU measurements,
            ``wall`` otherwise (CUDA always uses CUDA events).
    """

    device: str = "cpu"
    backend: str = "torch"
    threads: int = 1
    batch: int = 1
    dtype: str = "float32"
    rounds: int = 5
    round_ms: float = 15.0
    min_reps: int = 2
    max_reps: int = 200
    warmup_ms: float = 40.0
    statistic: str = "median"
    timer: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise NasError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.backend not in BACKENDS:
            raise NasError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.dtype not in DTYPES:
            raise NasError(f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        for name in ("threads", "batch", "rounds", "min_reps", "max_reps"):
            if getattr(self, name) < 1:
                raise NasError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_reps < self.min_reps:
            raise NasError(f"max_reps {self.max_reps} is below min_reps {self.min_reps}")
        if self.round_ms <= 0 or self.warmup_ms < 0:
            raise NasError("round_ms must be > 0 and warmup_ms >= 0")
        if self.timer not in TIMERS:
            raise NasError(f"timer {self.timer!r} is not one of {', '.join(TIMERS)}")
        if self.timer == "thread_cpu" and (self.threads != 1 or self.device != "cpu"):
            raise NasError("timer thread_cpu needs --device cpu --threads 1 (other threads' "
                           "work would not be counted)")
        if self.statistic not in ("median", "min"):
            raise NasError(f"statistic {self.statistic!r} is not one of median, min")
        if self.backend == "onnxruntime" and self.dtype == "float16" and self.device == "cpu":
            raise NasError("onnxruntime on cpu: float16 is not supported here; use float32")

    @property
    def clock(self) -> str:
        """The timer actually used: ``wall``, ``thread_cpu`` or ``cuda_events``."""
        if self.device == "cuda":
            return "cuda_events"
        if self.timer == "auto":
            return "thread_cpu" if self.threads == 1 else "wall"
        return self.timer

    @property
    def identity(self) -> dict[str, Any]:
        """The fields that define what a table means (must match to extend or validate it)."""
        return {"device": self.device, "backend": self.backend, "threads": self.threads,
                "batch": self.batch, "dtype": self.dtype, "clock": self.clock}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_table(cls, measurement: Mapping[str, Any], where: str, **overrides: Any) -> Settings:
        """The settings a table was measured with (``overrides`` change timing fields only)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in measurement.items() if k in known}
        missing = [k for k in ("device", "backend", "threads", "batch", "dtype") if k not in values]
        if missing:
            raise NasError(f"{where}: field 'measurement' lacks {missing}; it was not measured by "
                           f"`nas lut build`, so it cannot be re-measured here")
        bad = set(overrides) & {"device", "backend", "threads", "batch", "dtype"}
        if bad:
            raise NasError(f"cannot override {sorted(bad)} of {where}")
        return replace(cls(**values), **overrides)
