"""Device fingerprints: what a table was measured on, recorded with it and checked against."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from nas.latency._settings import Settings


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or what ``platform`` knows)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown cpu"


def _nvidia_driver() -> str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "unknown"
    out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "unknown"


def runtime_version(backend: str) -> str:
    if backend == "onnxruntime":
        import onnxruntime

        return str(onnxruntime.__version__)
    import torch

    return str(torch.__version__)


def device_fingerprint(settings: Settings) -> dict[str, Any]:
    """The fingerprint stored in a table's ``device`` field."""
    import torch

    fp: dict[str, Any] = {"kind": settings.device}
    if settings.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        fp.update(name=torch.cuda.get_device_name(0), driver=_nvidia_driver(),
                  cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                  capability=f"{props.major}.{props.minor}",
                  memory_gib=round(props.total_memory / 2**30, 1), host_cpu=cpu_model(),
                  cudnn_benchmark=bool(torch.backends.cudnn.benchmark))
    else:
        fp["name"] = cpu_model()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    fp.update(
        cores=os.cpu_count(),
        cores_allowed=len(affinity) if affinity is not None else os.cpu_count(),
        runtime=settings.backend,
        runtime_version=runtime_version(settings.backend),
        torch_version=str(torch.__version__),
        python=platform.python_version(),
        platform=platform.platform(),
        threads=settings.threads,
        batch=settings.batch,
        dtype=settings.dtype,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
    )
    return fp


def fingerprint_mismatches(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Fields that say a table was measured on another device or runtime than ``current``."""
    out = []
    for key in ("kind", "name", "runtime", "runtime_version", "torch_version", "driver", "cuda"):
        if key in recorded and recorded.get(key) != current.get(key):
            out.append(f"{key}: table {recorded.get(key)!r}, here {current.get(key)!r}")
    return out
