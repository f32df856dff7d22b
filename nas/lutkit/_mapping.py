"""Mapping published block keys onto our block keys, and reporting what does not map.

A source key is first read into a :class:`Candidate`: the fields of a block that the source
states (kind, channels, input side, kernel, stride, and whatever else it says). The candidate
is then looked up among the blocks that our spaces actually produce (enumerated from the
space files), so a mapped key is exactly the key :func:`nas.blocks.arch_to_blocks` gives for a
real arch, with our own conventions for everything the source leaves implicit (SE width, gate).
A key that matches no block, or several, is reported with the reason; nothing is dropped
silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nas.blocks import Block
from nas.latency import Entry, enumerate_blocks
from nas.space import get_space


@dataclass(frozen=True)
class Candidate:
    """What a source key states about one block; ``None`` fields are not stated."""

    kind: str
    cin: int
    cout: int
    hw: int
    kernel: int = 1
    stride: int = 1
    act: str | None = None
    mid: int | None = None
    se: bool | None = None
    residual: bool | None = None
    groups: int = 1

    @property
    def head(self) -> tuple[Any, ...]:
        return (self.kind, self.cin, self.cout, self.hw, self.kernel, self.stride, self.groups)

    def matches(self, b: Block) -> bool:
        return ((self.act is None or self.act == b.act)
                and (self.mid is None or self.mid == b.mid)
                and (self.se is None or self.se == (b.se > 0))
                and (self.residual is None or self.residual == b.residual))

    def describe(self) -> str:
        text = f"{self.kind} {self.cin}->{self.cout} at {self.hw}x{self.hw}"
        if self.kind in ("conv", "mbconv"):
            text += f", k{self.kernel} s{self.stride}"
        if self.mid is not None:
            text += f", mid {self.mid}"
        if self.act is not None:
            text += f", act {self.act}"
        if self.se is not None:
            text += f", se {int(self.se)}"
        return text


@dataclass(frozen=True)
class Stats:
    """Published statistics of one key (milliseconds); unknown ones are ``None``."""

    mean: float
    n: int = 1
    std: float | None = None
    min: float | None = None
    median: float | None = None

    def entry(self) -> Entry:
        return Entry(median=self.median, n=self.n, mean=self.mean, std=self.std, min=self.min)

    def scaled(self, factor: float) -> Stats:
        """The same measurement times ``factor`` (a share of a key that covers two blocks)."""
        def f(v: float | None) -> float | None:
            return None if v is None else v * factor
        return Stats(self.mean * factor, self.n, f(self.std), f(self.min), f(self.median))


def merge_stats(items: Sequence[Stats]) -> Stats:
    """Pool repeated measurements of one block: n-weighted mean, pooled std, min of mins."""
    if len(items) == 1:
        return items[0]
    n = sum(s.n for s in items)
    mean = sum(s.n * s.mean for s in items) / n
    std = None
    if all(s.std is not None for s in items):
        std = math.sqrt(sum(s.n * ((s.std or 0.0) ** 2 + (s.mean - mean) ** 2) for s in items) / n)
    mins = [s.min for s in items if s.min is not None]
    return Stats(mean, n, std, min(mins) if len(mins) == len(items) else None, None)


@dataclass
class SourceRecord:
    """One source key: the block(s) it measures, or why it cannot be expressed as our blocks."""

    key: str
    parts: list[tuple[Candidate, Stats]] = field(default_factory=list)
    reason: str = ""
    note: str = ""


@dataclass(frozen=True)
class SpacePoint:
    space: str
    resolution: int
    width: float


class SpaceIndex:
    """The blocks that some spaces produce, indexed for candidate lookup."""

    def __init__(self, targets: Iterable[tuple[str, Sequence[int] | None, Sequence[float] | None]],
                 *, classes: int = 1000, in_channels: int = 3) -> None:
        self.classes, self.in_channels = classes, in_channels
        self.points: list[SpacePoint] = []
        self.point_keys: dict[SpacePoint, set[str]] = {}
        self.stems: dict[SpacePoint, str] = {}
        self._by_head: dict[tuple[Any, ...], dict[str, Block]] = {}
        self.spaces: list[str] = []
        for name, resolutions, widths in targets:
            space = get_space(name)
            self.spaces.append(space.name)
            for r in resolutions or space.resolutions:
                for w in widths or space.widths:
                    blocks = enumerate_blocks(space, resolutions=[r], widths=[w], classes=classes,
                                              in_channels=in_channels)
                    point = SpacePoint(space.name, int(r), float(w))
                    self.points.append(point)
                    self.point_keys[point] = {b.key for b in blocks}
                    self.stems[point] = next(b.key for b in blocks
                                             if b.kind == "conv" and b.cin == in_channels
                                             and b.hw == r)
                    for b in blocks:
                        head = (b.kind, b.cin, b.cout, b.hw, b.kernel, b.stride, b.groups)
                        self._by_head.setdefault(head, {})[b.key] = b

    def lookup(self, cand: Candidate) -> tuple[Block | None, str]:
        """The one block matching ``cand``, or ``None`` and the reason."""
        found = [b for b in self._by_head.get(cand.head, {}).values() if cand.matches(b)]
        if len(found) == 1:
            return found[0], ""
        where = ", ".join(self.spaces)
        if not found:
            near = list(self._by_head.get(cand.head, {}).values())
            hint = f" (same shape, but ours is {near[0].key})" if near else ""
            return None, f"no such block in {where}: {cand.describe()}{hint}"
        return None, f"ambiguous in {where}: {len(found)} blocks match {cand.describe()}"


@dataclass
class ImportReport:
    """What an import mapped, merged, approximated and left out (printed as JSON)."""

    source_keys: int = 0
    mapped: list[dict[str, str]] = field(default_factory=list)
    unmapped: list[dict[str, str]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    approximations: list[dict[str, str]] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_keys": self.source_keys,
            "n_mapped": len(self.mapped),
            "n_unmapped": len(self.unmapped),
            "unmapped_by_reason": _count_reasons(self.unmapped),
            "coverage": self.coverage,
            "approximations": self.approximations,
            "merged": self.merged,
            "unmapped": self.unmapped,
            "mapped": self.mapped,
        }


def _count_reasons(items: list[dict[str, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        head = it["reason"].split(": ")[0]
        out[head] = out.get(head, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def map_records(records: Sequence[SourceRecord], index: SpaceIndex
                ) -> tuple[dict[str, Stats], ImportReport]:
    """Map every record; merge repeats of one block; report everything else."""
    report = ImportReport(source_keys=len(records))
    found: dict[str, list[tuple[str, Stats]]] = {}
    for rec in records:
        if not rec.parts:
            report.unmapped.append({"source": rec.key, "reason": rec.reason})
            continue
        blocks = []
        for cand, _ in rec.parts:
            block, why = index.lookup(cand)
            if block is None:
                report.unmapped.append({"source": rec.key, "reason": why})
                break
            blocks.append(block)
        else:
            for block, (_, stats) in zip(blocks, rec.parts, strict=True):
                found.setdefault(block.key, []).append((rec.key, stats))
                report.mapped.append({"source": rec.key, "key": block.key})
            if rec.note:
                report.approximations.append({"source": rec.key, "note": rec.note})
    merged: dict[str, Stats] = {}
    for key, items in sorted(found.items()):
        merged[key] = merge_stats([s for _, s in items])
        if len(items) > 1:
            means = [s.mean for _, s in items]
            report.merged.append({"key": key, "sources": [k for k, _ in items],
                                  "means_ms": means,
                                  "spread": (max(means) - min(means)) / merged[key].mean})
    report.coverage = coverage(index, set(merged))
    return merged, report


def coverage(index: SpaceIndex, have: set[str]) -> list[dict[str, Any]]:
    """Per space point whose stem the table has: how many of its keys the table has."""
    out = []
    for point in index.points:
        keys = index.point_keys[point]
        covered = sorted(keys & have)
        if index.stems[point] in have:
            missing = sorted(keys - have)
            out.append({
                "space": point.space, "resolution": point.resolution, "width": point.width,
                "space_keys": len(keys), "covered": len(covered),
                "missing": missing if len(missing) <= 10 else [*missing[:10], "..."]})
    return out
