"""Whole-model latency on this machine (torch eager, 1 thread, batch 1, after warm-up), and how
it compares with the latency tables' predictions recorded in an export."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nas.latency import cpu_model as cpu_name
from nas.recipe import torch_threads
from nas.space import SearchSpace

# With reference networks, the runs alternate between the model and each reference in this many
# rounds: a shared machine's speed changes from minute to minute, and every network should see
# the same minutes.
_ROUNDS = 10


def measure_latency(model: nn.Module, *, in_channels: int, resolution: int, runs: int = 200,
                    warmup: int = 20, threads: int = 1,
                    references: Mapping[str, nn.Module] | None = None) -> dict[str, Any]:
    """Time ``runs`` single-image forward passes on the CPU after ``warmup`` untimed ones.

    Each run is timed by the wall clock (the latency a caller sees) and by this thread's CPU
    clock (what a 1-thread run computes, unaffected by other processes taking the cores; latency
    tables measured with ``clock: thread_cpu`` are compared with it). The model is moved to the
    CPU in eval mode; the torch thread count is restored afterwards.

    ``references``: other models (a latency table's anchor network) timed in the same minutes,
    the runs split into rounds that alternate between the model and each reference, so that a
    shared machine's speed at the time can be read off a network whose time the table recorded.
    Their fastest times are under ``references[name]``.
    """
    refs = {name: m.to("cpu").eval() for name, m in (references or {}).items()}
    models = {"": model.to("cpu").eval(), **refs}
    x = torch.randn(1, in_channels, resolution, resolution)
    rounds = max(1, min(_ROUNDS, runs)) if refs else 1
    times: dict[str, list[float]] = {name: [] for name in models}
    cpu_times: dict[str, list[float]] = {name: [] for name in models}
    with torch_threads(threads), torch.inference_mode():
        for m in models.values():
            for _ in range(warmup):
                m(x)
        for r in range(rounds):
            for name, m in models.items():
                for _ in range(runs // rounds + int(r < runs % rounds)):
                    start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
                    m(x)
                    cpu_times[name].append((time.thread_time_ns() - cpu_start) / 1e6)
                    times[name].append((time.perf_counter_ns() - start) / 1e6)
    own, own_cpu = sorted(times[""]), cpu_times[""]
    out: dict[str, Any] = {
        "median_ms": statistics.median(own),
        "min_ms": own[0],
        "p10_ms": own[len(own) // 10],
        "p90_ms": own[(len(own) * 9) // 10],
        "mean_ms": statistics.fmean(own),
        "thread_cpu_median_ms": statistics.median(own_cpu),
        "thread_cpu_min_ms": min(own_cpu),
        "runs": runs,
        "warmup": warmup,
        "threads": threads,
        "batch": 1,
        "dtype": "float32",
        "runtime": f"torch {torch.__version__} eager",
        "device": cpu_name(),
    }
    if refs:
        out["rounds"] = rounds
        out["references"] = {name: {"min_ms": min(times[name]),
                                    "thread_cpu_min_ms": min(cpu_times[name]),
                                    "median_ms": statistics.median(times[name])}
                             for name in refs}
    return out


def _comparable(table: Mapping[str, Any], device: str) -> bool:
    """Whether a table (an export's ``tables[i].here``) timed torch on this CPU, 1 thread,
    batch 1: only then is this machine's measurement a like-for-like check of its prediction."""
    return (table.get("device_type"), table.get("runtime"), table.get("threads"),
            table.get("batch"), table.get("device")) == ("cpu", "torch", 1, 1, device)


def anchor_references(info: Mapping[str, Any], space: SearchSpace | None) -> dict[str, nn.Module]:
    """Per comparable table in an export's ``arch.json``, its anchor network for the export's
    config, built to be timed beside the trained model (see :func:`measure_latency`)."""
    from nas.arch import Arch
    from nas.models import build_model

    here = cpu_name()
    out: dict[str, nn.Module] = {}
    for t in info.get("tables", []):
        table = t.get("here") or {}
        anchor = table.get("anchor")
        if anchor and _comparable(table, here):
            out[t["id"]] = build_model(Arch.parse(anchor["arch"]), space,
                                       classes=info["classes"], in_channels=info["in_channels"])
    return out


def latency_report(info: Mapping[str, Any], measured: Mapping[str, Any]) -> dict[str, Any]:
    """Each table prediction in ``arch.json`` beside this machine's measurement.

    The ratio compares like with like: the measurement taken with the table's clock (wall or
    this thread's CPU time) and statistic (median or min), as far as the table records them.
    Where the table's anchor network was timed beside the model (``measured["references"]``),
    ``anchor`` gives its time now against its time at the table's build (the machine's speed
    drift: on a shared VM 10-15% from one minute to the next), and
    ``measured_over_predicted_drift_corrected`` the ratio with that drift divided out, as
    ``nas lut validate`` scores whole networks.
    """
    predicted = []
    here = {t["id"]: t.get("here") or {} for t in info.get("tables", [])}
    refs = measured.get("references") or {}
    for name, score in info.get("scores", {}).items():
        if score.get("kind") != "predicted" or not score.get("value"):
            continue
        table = here.get(score.get("table"), {})
        clock = "thread_cpu" if table.get("clock") == "thread_cpu" else "wall"
        statistic = "min" if table.get("statistic") == "min" else "median"
        key = ("thread_cpu_" if clock == "thread_cpu" else "") + f"{statistic}_ms"
        device = table.get("device")
        entry: dict[str, Any] = {
            "score": name, "table": score.get("table"), "table_hash": score.get("table_hash"),
            "predicted_ms": score["value"],
            "compared_as": f"{clock} clock, {statistic}",
            "measured_ms": measured[key],
            "measured_over_predicted": measured[key] / score["value"],
            "wall_median_over_predicted": measured["median_ms"] / score["value"],
            "table_device": device,
            "table_runtime": table.get("runtime"),
            "same_device": None if device is None else device == measured["device"],
            "comparable": _comparable(table, measured["device"]),
        }
        ref = refs.get(score.get("table"))
        # The anchor's time at build is the table's found at export; it speaks for the prediction
        # only if that is the table the prediction came from.
        same_table = score.get("table_hash") in (None, table.get("content_hash"))
        if ref is not None and table.get("anchor") and same_table:
            # The build recorded the anchor's fastest time in the table's clock.
            now = ref["thread_cpu_min_ms" if clock == "thread_cpu" else "min_ms"]
            drift = now / float(table["anchor"]["ms"])
            entry["anchor"] = {"arch": table["anchor"]["arch"],
                               "ms_at_build": float(table["anchor"]["ms"]), "ms_now": now,
                               "drift": drift}
            entry["measured_over_predicted_drift_corrected"] = (
                measured[key] / drift / score["value"])
        predicted.append(entry)
    section: dict[str, Any] = {"measured": dict(measured), "predicted": predicted}
    if not predicted:
        section["note"] = "the export has no latency-table prediction (export from a run with " \
                          "a latency objective, or with --table ID)"
    return section
