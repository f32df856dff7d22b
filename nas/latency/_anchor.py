"""Anchor networks: the machine's speed drift, measured and divided out.

A shared or throttling machine does not run at one speed: on a cloud VM the same network's
fastest time moves by 10% and more from one minute to the next (other tenants share the socket's
cache and power budget), so a table built in one minute and networks timed in another disagree
by that much, whatever the table. Every measuring session therefore also times an *anchor*: one
fixed network per table config, timed inside every chunk it measures (interleaved with the
blocks or networks of that chunk). ``nas lut build`` records the anchor's typical time in the
config (``configs[i].anchor``: arch and ms, the median over the build's chunks). Calibration and
validation divide each chunk's timings by ``anchor now / anchor at build``, so that network
timings are on the same footing as the blocks; validation reports the raw figures too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nas.arch import Arch
from nas.latency._enumerate import restrict_space
from nas.space import SearchSpace

ANCHOR_STREAM = 0xA2C4
# Above this spread of the anchor's per-chunk times the build ran at visibly different machine
# speeds, and the build warns. Blocks are not divided by their chunk's anchor: a network's blocks
# come from many chunks, so their drift mostly averages out (done after the fact on the shipped
# tables it moved validation tau by -0.013 to +0.065, the most on the config whose anchor spread
# 37%).
DRIFT_WARN_PCT = 20.0


def config_key(space: str, resolution: int, classes: int, in_channels: int) -> str:
    """How a config is named in anchors: ``space/resolution/classes/in_channels``."""
    return f"{space}/{int(resolution)}/{int(classes)}/{int(in_channels)}"


def anchor_arch(space: SearchSpace, resolution: int, widths: list[float] | None) -> Arch:
    """The config's anchor: a fixed sample of the space at that resolution (and widths)."""
    sub = restrict_space(space, [int(resolution)], widths or None)
    return sub.sample(np.random.default_rng([ANCHOR_STREAM, int(resolution)]))


def anchor_record(arch: Arch, chunk_mins: list[float],
                  previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a config stores: the anchor's arch, its fastest time in each chunk of the build
    (``chunk_ms``, kept across resumed sittings) and their median (``ms``)."""
    if previous and previous.get("arch") == arch.text:
        chunk_mins = [*map(float, previous.get("chunk_ms", [])), *chunk_mins]
    return {"arch": arch.text, "ms": float(np.median(chunk_mins)),
            "chunk_ms": [round(float(m), 6) for m in chunk_mins],
            "spread_pct": round(float(100 * (max(chunk_mins) / min(chunk_mins) - 1)), 2)}


def table_anchors(configs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Arch, float]]:
    """``config_key -> (anchor arch, ms at build)`` for the configs that recorded one."""
    out = {}
    for c in configs:
        rec = c.get("anchor")
        if isinstance(rec, Mapping) and "arch" in rec and "ms" in rec:
            key = config_key(c["space"], c["resolution"], c["classes"], c["in_channels"])
            out[key] = (Arch.parse(str(rec["arch"])), float(rec["ms"]))
    return out


def anchor_spreads(configs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``config_key -> spread %`` of each config's anchor over its build chunks."""
    return {config_key(c["space"], c["resolution"], c["classes"], c["in_channels"]):
            float(c["anchor"]["spread_pct"]) for c in configs
            if isinstance(c.get("anchor"), Mapping) and "spread_pct" in c["anchor"]}


def drift_warnings(spreads: Mapping[str, float], limit: float = DRIFT_WARN_PCT) -> list[str]:
    """One line per config whose anchor varied by more than ``limit`` % during the build."""
    return [f"{key}: the anchor network's time varied by {pct:.0f}% between chunks of the build "
            f"(machine speed drifted); rebuild in a quieter window for a steadier table"
            for key, pct in spreads.items() if pct > limit]


# Above this factor (or below its inverse) between the anchor's time now and at the build, the
# table was built on a machine running at another speed: a slower or busier one, or another CPU
# that the fingerprint cannot tell apart (a hypervisor may name two generations "AMD EPYC").
# Dividing by the anchor fixes the level, not the shape: on such a host the shipped tables kept
# their level but ranked networks worse than tables built there (section latency_tables_host2).
SPEED_WARN = 1.25


def speed_warnings(configs: Sequence[str], drift: Sequence[float],
                   limit: float = SPEED_WARN) -> list[str]:
    """One line per config whose networks ran, by the median of their anchor drift, more than
    ``limit`` times faster or slower than the table's build.

    Args:
        configs: each timed network's config (:func:`config_key`).
        drift: each network's anchor drift (time now / at build); exactly ``1.0`` means its
            config has no anchor, and such networks are left out.
        limit: the factor (> 1) beyond which to warn.
    """
    per_config: dict[str, list[float]] = {}
    for key, f in zip(configs, drift, strict=True):
        if f != 1.0:
            per_config.setdefault(key, []).append(float(f))
    out = []
    for key, values in per_config.items():
        m = float(np.median(values))
        if m > limit or m < 1 / limit:
            out.append(f"{key}: the anchor network ran at {m:.2f}x its time at the build "
                       f"(median of {len(values)}): this machine does not run at the table's "
                       f"speed (another CPU, or a busy one); timings are divided by it, but "
                       f"networks may rank differently here: build a table on this machine")
    return out
