"""Whole-model latency on this machine: torch eager, 1 thread, batch 1, median after warm-up."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown cpu"


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: leave as is), then restore."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def measure_latency(model: nn.Module, *, in_channels: int, resolution: int, runs: int = 200,
                    warmup: int = 20, threads: int = 1) -> dict[str, Any]:
    """Time ``runs`` single-image forward passes on the CPU after ``warmup`` untimed ones.

    Each run is timed by the wall clock (the latency a caller sees) and by this thread's CPU
    clock (what a 1-thread run computes, unaffected by other processes taking the cores; latency
    tables measured with ``clock: thread_cpu`` are compared with it). The model is moved to the
    CPU in eval mode; the torch thread count is restored afterwards.
    """
    model = model.to("cpu").eval()
    x = torch.randn(1, in_channels, resolution, resolution)
    times, cpu_times = [], []
    with torch_threads(threads), torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(runs):
            start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
            model(x)
            cpu_times.append((time.thread_time_ns() - cpu_start) / 1e6)
            times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "min_ms": times[0],
        "p10_ms": times[len(times) // 10],
        "p90_ms": times[(len(times) * 9) // 10],
        "mean_ms": statistics.fmean(times),
        "thread_cpu_median_ms": statistics.median(cpu_times),
        "thread_cpu_min_ms": min(cpu_times),
        "runs": runs,
        "warmup": warmup,
        "threads": threads,
        "batch": 1,
        "dtype": "float32",
        "runtime": f"torch {torch.__version__} eager",
        "device": cpu_name(),
    }
