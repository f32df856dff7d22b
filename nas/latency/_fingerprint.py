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


# Instruction-set extensions that change which kernels a runtime picks (and so the latency of a
# block): recorded as the subset of these the CPU reports, not its whole flag list, which also
# names hypervisor and security features that have nothing to do with speed.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
             "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16",
             "avx_vnni", "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme")
# /proc/cpuinfo fields that identify the CPU design (x86, then Arm): a hypervisor may report only
# a family name ("AMD EPYC") for CPUs two generations apart, while these differ.
_ID_FIELDS = {"vendor_id": "vendor", "cpu family": "family", "model": "model",
              "stepping": "stepping", "CPU implementer": "implementer",
              "CPU architecture": "architecture", "CPU variant": "variant", "CPU part": "part",
              "CPU revision": "revision"}
_CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


def _cpu_caches(cache_dir: Path) -> dict[str, str]:
    """``{"L1d": "32K", "L2": "1024K", ...}`` from sysfs; ``{}`` where it is not readable."""
    out = {}
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        out[f"L{level}{suffix}"] = size
    return out


def cpu_identity(cpuinfo: str | None = None, cache_dir: Path | None = None) -> dict[str, Any]:
    """What identifies this CPU's design beyond its name: the first processor's id fields
    (x86: vendor, family, model, stepping; Arm: implementer, architecture, variant, part,
    revision), ``isa`` (the :data:`ISA_FLAGS` it has) and ``caches`` (per level, from sysfs).

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (read from the system when ``None``).
        cache_dir: a ``cpu0/cache`` folder in sysfs layout (the system's when ``None``).

    Returns:
        The fields found; ``{}`` where there is no ``/proc/cpuinfo`` (macOS, Windows).
    """
    if cpuinfo is None:
        info = Path("/proc/cpuinfo")
        cpuinfo = info.read_text() if info.is_file() else ""
    ident: dict[str, Any] = {}
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if not line.strip():
            if ident or flags:  # the first processor's block is enough
                break
            continue
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name in _ID_FIELDS:
            ident[_ID_FIELDS[name]] = value
        elif name in ("flags", "Features"):
            flags = set(value.split())
    if flags:
        ident["isa"] = [f for f in ISA_FLAGS if f in flags]
    caches = _cpu_caches(_CACHE_DIR if cache_dir is None else cache_dir)
    if caches and ident:
        ident["caches"] = caches
    return ident


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


def cpu_device() -> dict[str, Any]:
    """This machine's CPU as a table's ``device`` field records it: kind, name and, where
    ``/proc/cpuinfo`` tells it, the CPU's design (``cpu``: :func:`cpu_identity`)."""
    fp: dict[str, Any] = {"kind": "cpu", "name": cpu_model()}
    identity = cpu_identity()
    if identity:
        fp["cpu"] = identity
    return fp


def device_fingerprint(settings: Settings) -> dict[str, Any]:
    """The fingerprint stored in a table's ``device`` field."""
    import torch

    if settings.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        fp: dict[str, Any] = {
            "kind": "cuda", "name": torch.cuda.get_device_name(0), "driver": _nvidia_driver(),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1), "host_cpu": cpu_model(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    else:
        fp = cpu_device()
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
    # Tables from before the CPU's identity was recorded (or from systems without it) are
    # compared on what both sides have.
    mine, theirs = recorded.get("cpu"), current.get("cpu")
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in sorted(mine.keys() & theirs.keys()):
            if mine[key] != theirs[key]:
                out.append(f"cpu {key}: table {_show(mine[key])}, here {_show(theirs[key])}")
    return out


def _show(value: Any) -> str:
    if isinstance(value, list):
        return repr(" ".join(map(str, value)))
    if isinstance(value, dict):
        return repr(", ".join(f"{k} {v}" for k, v in value.items()))
    return repr(value)
