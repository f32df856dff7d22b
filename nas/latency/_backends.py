"""Runners: a block list (one block alone, or a whole network) made callable on a backend.

Both blocks and networks go through :func:`make_runner`, so a block is timed in exactly the form
it takes inside a network (:class:`nas.models.NASNet` of that one block).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nas._errors import NasError
from nas.blocks import Block
from nas.latency._settings import Settings

Runner = Callable[[], Any]


def _torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "float16": torch.float16}[name]


def check_available(settings: Settings) -> None:
    """Raise :class:`NasError` when this machine cannot run ``settings``."""
    if settings.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise NasError("--device cuda: no CUDA device is available on this machine "
                           "(torch.cuda.is_available() is False)")
        if settings.backend == "onnxruntime":
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise NasError("--backend onnxruntime --device cuda needs onnxruntime-gpu "
                               "(no CUDAExecutionProvider here)")


def onnx_bytes(model: Any, example: Any) -> bytes:
    """Export ``model`` to an in-memory ONNX model with static shapes (TorchScript exporter)."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated; it is 20x faster to export
        # hundreds of small blocks than the dynamo exporter, and torch is pinned below 2.14.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buf, dynamo=False,  # type: ignore[arg-type]
                          opset_version=17,
                          input_names=["x"], output_names=["y"], do_constant_folding=True)
    return buf.getvalue()


def make_runner(blocks: Sequence[Block], settings: Settings) -> Runner:
    """A zero-argument callable running one forward pass of ``blocks`` on fixed random input."""
    import torch

    from nas.models import NASNet

    if not blocks:
        raise NasError("make_runner needs at least one block")
    device = torch.device(settings.device)
    gen = torch.Generator().manual_seed(0)
    model = NASNet(list(blocks), dropout=0.0).eval()
    x = torch.randn(settings.batch, *blocks[0].in_shape, generator=gen)
    if settings.backend == "onnxruntime":
        import onnxruntime as ort

        data = onnx_bytes(model, x)
        so = ort.SessionOptions()
        so.intra_op_num_threads = settings.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = (["CUDAExecutionProvider"] if settings.device == "cuda"
                     else ["CPUExecutionProvider"])
        session = ort.InferenceSession(data, so, providers=providers)
        feed = {"x": x.numpy()}
        return lambda: session.run(None, feed)
    model = model.to(device=device, dtype=_torch_dtype(settings.dtype))
    x = x.to(device=device, dtype=_torch_dtype(settings.dtype))
    return lambda: model(x)


# glibc mallopt parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
STEADY_MALLOC = {"trim_threshold": 1 << 30, "mmap_threshold": 32 << 20}


def steady_allocator() -> dict[str, Any]:
    """Make glibc keep freed activation buffers instead of returning them to the OS.

    With glibc's adaptive defaults, a network's large activation buffers are, depending on the
    allocation history of the process, trimmed or unmapped after each forward and faulted back in
    on the next one: thousands of page faults and a third of the run time in the kernel for one
    network, none for another. Inference servers avoid this (jemalloc, tcmalloc or these
    settings); measurements here do too, so a block's or network's time does not depend on what
    the process happened to allocate before. Process-wide, and recorded with the table.
    """
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return {"allocator": "unchanged (not glibc)"}
    libc = ctypes.CDLL("libc.so.6")
    ok = (libc.mallopt(_M_TRIM_THRESHOLD, STEADY_MALLOC["trim_threshold"]) == 1
          and libc.mallopt(_M_MMAP_THRESHOLD, STEADY_MALLOC["mmap_threshold"]) == 1)
    return {"allocator": "glibc", **STEADY_MALLOC} if ok else {"allocator": "mallopt refused"}


@contextlib.contextmanager
def pinned(settings: Settings) -> Iterator[dict[str, Any]]:
    """Pin torch's intra-op threads and this thread's CPU affinity for the measurement.

    Yields what was pinned (recorded with the table). The previous values are restored after.
    """
    import torch

    old_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    info: dict[str, Any] = {"torch_threads": settings.threads, "affinity": None,
                            "malloc": steady_allocator()}
    old_affinity = None
    if settings.device == "cpu" and hasattr(os, "sched_setaffinity"):
        old_affinity = os.sched_getaffinity(0)
        if len(old_affinity) > settings.threads:
            cpus = sorted(old_affinity)[-settings.threads:]
            try:
                os.sched_setaffinity(0, cpus)
                info["affinity"] = cpus
            except OSError as exc:  # containers may forbid it; the table records that
                info["affinity"] = f"not pinned: {exc.strerror}"
                old_affinity = None
    try:
        with torch.inference_mode():
            yield info
    finally:
        torch.set_num_threads(old_threads)
        if old_affinity is not None:
            os.sched_setaffinity(0, old_affinity)


def time_calls(fn: Runner, reps: int, settings: Settings) -> np.ndarray:
    """Milliseconds of each of ``reps`` back-to-back calls (one untimed call first).

    CPU: ``perf_counter_ns`` (or ``thread_time_ns``, see :attr:`Settings.timer`) around each
    call (the call returns when the work is done).
    CUDA: an event recorded between consecutive calls on the stream, one synchronize at the end,
    so calls pipeline as they do in a real inference loop and each interval is the stream time
    one call occupies (launch-bound calls included).
    """
    fn()
    if settings.device == "cuda":
        import torch

        events = [torch.cuda.Event(enable_timing=True) for _ in range(reps + 1)]
        events[0].record()
        for i in range(reps):
            fn()
            events[i + 1].record()
        torch.cuda.synchronize()
        return np.array([events[i].elapsed_time(events[i + 1]) for i in range(reps)])
    import time

    out = np.empty(reps)
    clock = time.thread_time_ns if settings.clock == "thread_cpu" else time.perf_counter_ns
    for i in range(reps):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out / 1e6


def _sync(settings: Settings) -> None:
    if settings.device == "cuda":
        import torch

        torch.cuda.synchronize()


def burst_reps(fn: Runner, settings: Settings) -> int:
    """Warm ``fn`` up and return how many back-to-back calls fill one ``settings.round_ms`` burst.

    The first call pays for allocations, kernel selection and oneDNN primitive creation; the
    warm-up runs for ``settings.warmup_ms`` (at least 3 calls) and times the calls it makes.
    """
    import time

    fn()
    _sync(settings)
    t0, calls = time.perf_counter(), 0
    while calls < 3 or (time.perf_counter() - t0) * 1e3 < settings.warmup_ms:
        fn()
        _sync(settings)  # CUDA: keep the queue short so the estimate is per call
        calls += 1
    per_call = (time.perf_counter() - t0) * 1e3 / calls
    return int(np.clip(settings.round_ms / max(per_call, 1e-6), settings.min_reps,
                       settings.max_reps))


def measure_interleaved(
    runners: Sequence[Runner],
    settings: Settings,
    rng: np.random.Generator,
    on_round: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Time every runner: warm-up, then ``settings.rounds`` rounds in fresh random orders.

    Returns:
        per runner, all its timed samples (ms).
    """
    reps = [burst_reps(fn, settings) for fn in runners]
    samples: list[list[np.ndarray]] = [[] for _ in runners]
    for r in range(settings.rounds):
        for i in rng.permutation(len(runners)):
            samples[i].append(time_calls(runners[i], reps[i], settings))
        if on_round is not None:
            on_round(r)
    return [np.concatenate(s) for s in samples]
