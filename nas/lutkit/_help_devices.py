"""What each latency column of HELP's files measured (device metadata for fitted tables)."""

from __future__ import annotations

from typing import Any

_GPUS = {"1080ti": "NVIDIA GTX 1080 Ti", "2080ti": "NVIDIA RTX 2080 Ti",
         "titan_rtx": "NVIDIA Titan RTX", "titanx": "NVIDIA Titan X", "titan_xp": "NVIDIA Titan Xp"}
_OTHERS: dict[str, dict[str, Any]] = {
    "essential_ph_1": {"name": "Essential Ph-1 CPU", "kind": "cpu",
                       "note": "whole milliseconds (HELP)"},
    "gold_6226": {"name": "Intel Xeon Gold 6226", "kind": "cpu"},
    "gold_6240": {"name": "Intel Xeon Gold 6240", "kind": "cpu"},
    "silver_4114": {"name": "Intel Xeon Silver 4114", "kind": "cpu"},
    "pixel2": {"name": "Google Pixel 2 CPU", "kind": "cpu", "note": "whole milliseconds (HELP)"},
    "samsung_a50": {"name": "Samsung Galaxy A50 CPU", "kind": "cpu",
                    "note": "whole milliseconds (HELP)"},
    "pixel3": {"name": "Google Pixel 3 CPU", "kind": "cpu", "runtime": "tflite",
               "note": "HW-NAS-Bench: sum of per-block latencies measured on the device"},
    "raspi4": {"name": "Raspberry Pi 4", "kind": "cpu",
               "note": "HW-NAS-Bench: sum of per-block latencies measured on the device"},
    "eyeriss": {"name": "Eyeriss (simulated)", "kind": "simulated",
                "note": "simulated by HW-NAS-Bench, not measured"},
    "fpga": {"name": "FPGA (simulated)", "kind": "simulated",
             "note": "simulated by HW-NAS-Bench, not measured"},
}


def help_device(column: str, fmt: str) -> dict[str, Any]:
    """Device fingerprint of a HELP latency column (``2080ti_32``, ``pixel3``, ...)."""
    short = column.removeprefix("lat_ms_")
    for prefix, name in _GPUS.items():
        tail = short.removeprefix(prefix + "_")
        if tail != short and tail.isdigit():
            return {"name": name, "kind": "cuda", "runtime": "pytorch", "batch": int(tail),
                    "dtype": "float32", "column": short, "source_format": fmt}
    info = dict(_OTHERS.get(short, {"name": short, "kind": "unknown"}))
    return {"runtime": "unknown", "batch": 1, "dtype": "float32", **info, "column": short,
            "source_format": fmt}
