"""The tiny space and table the latency tests build and measure for real on this machine."""

from __future__ import annotations

from pathlib import Path

from nas.latency import read_table
from nas.latency._build import build_table, partial_path
from nas.latency._networks import calibrate_table
from nas.latency._settings import Settings
from nas.space import get_space

TINY_SPACE = """\
name: tiny_lut
description: two-stage space for latency-table tests
resolution: [32]
width: 1.0
channel_divisor: 8
stem: {out: 8, kernel: 3, stride: 2, act: relu}
stages:
  - {out: 8, stride: 1, act: relu, depth: 1, kernel: 3, expand: 1}
  - {out: [16, 24], stride: 2, act: hswish, depth: [1, 2], kernel: [3, 5], expand: 3, skip: true}
head:
  - {kind: conv, out: 32, act: hswish}
  - {kind: pool}
  - {kind: classifier}
"""
FAST = {"rounds": 2, "round_ms": 1.0, "min_reps": 2, "max_reps": 20, "warmup_ms": 2.0}


def build_tiny_table(space_path: Path, out: Path) -> Path:
    """A tiny torch table built in two sittings (limit, then resume), then calibrated."""
    space = get_space(space_path)
    settings = Settings(**FAST)
    first = build_table(space, settings, out, classes=10, in_channels=1, limit=5, chunk=3,
                        progress=False)
    assert (first.measured, first.remaining) == (5, first.keys_total - 5)
    assert len(read_table(out)) == 5  # the partial table is usable and resumable
    second = build_table(space, settings, out, classes=10, in_channels=1, chunk=3, progress=False)
    assert (second.skipped, second.measured, second.remaining) == (5, first.keys_total - 5, 0)
    assert not partial_path(out).exists()
    table = read_table(out)
    calibrate_table(table, n=6, seed=0, progress=False)
    table.write(out)
    return out
