"""The profiler: measure every block key of a space alone and write (or extend) a table.

Resumable: each measured chunk is appended to ``OUT.partial.jsonl`` as it finishes; a rerun
reads the table and that file and measures only what is missing; the finished table is written
atomically and the partial file removed. Every chunk also times the configs' anchor networks
(:mod:`nas.latency._anchor`); their typical time is recorded in each config.

:func:`build_steadiest` measures a build again when the machine's speed drifted while it ran
(the anchor's time varied between chunks by more than ``max_drift`` %), and keeps the steadiest
attempt: on this project's cloud VM, of four table configs built with more than 20% drift,
three ranked held-out networks clearly worse than a steady build of the same config
(``docs/latency-validation.md``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import Block, arch_to_blocks
from nas.latency._anchor import (
    DRIFT_WARN_PCT,
    anchor_arch,
    anchor_record,
    anchor_spreads,
    config_key,
    drift_warnings,
)
from nas.latency._backends import check_available, make_runner, measure_interleaved, pinned
from nas.latency._entry import Entry
from nas.latency._enumerate import enumerate_blocks
from nas.latency._fingerprint import device_fingerprint, fingerprint_mismatches
from nas.latency._settings import Settings
from nas.latency._table import LatencyTable
from nas.latency._table_file import read_table
from nas.space import SearchSpace, space_dirs


@dataclass(frozen=True)
class BuildReport:
    """What one ``build_table`` call did."""

    path: str
    keys_total: int
    measured: int
    skipped: int
    remaining: int
    seconds: float
    anchor_spread_pct: dict[str, float] = field(default_factory=dict)
    # build_steadiest: the largest anchor spread (%) of each attempt, and which one was kept (1-based)
    attempts: list[float] = field(default_factory=list)
    kept_attempt: int = 1

    @property
    def worst_spread(self) -> float:
        """The largest anchor spread (%) over the configs this build measured (0 if none)."""
        return max(self.anchor_spread_pct.values(), default=0.0)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial.jsonl")


def open_table(out: Path, settings: Settings) -> tuple[LatencyTable, dict[str, list[float]]]:
    """The table at ``out`` plus any partial measurements, or a new one for ``settings``; and
    the anchors' per-chunk times the partial file holds (``config_key -> ms``).

    Raises:
        NasError: the existing table was measured with other settings or on another device.
    """
    current = device_fingerprint(settings)
    if out.is_file():
        table = read_table(out)
        recorded = {k: table.measurement.get(k) for k in settings.identity}
        if recorded != settings.identity:
            raise NasError(f"{table.where} was measured with {recorded}, not {settings.identity}; "
                           f"write to another --out")
        diff = fingerprint_mismatches(table.device, current)
        if diff:
            raise NasError(f"{table.where} was measured on another device or runtime "
                           f"({'; '.join(diff)}); write to another --out")
    else:
        table = LatencyTable(device=current, path=out, measurement={
            **settings.to_dict(), "clock": settings.clock, "build_seconds": 0.0})
    part = partial_path(out)
    anchor_mins: dict[str, list[float]] = {}
    if part.is_file():
        lines = part.read_text().splitlines()
        for n, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines) - 1:  # torn last line of an interrupted append
                    print(f"nas: {part}: ignoring a torn last line", file=sys.stderr)
                    continue
                raise NasError(f"{part}: line {n + 1} is corrupt; delete the file to "
                               "re-measure") from None
            if "anchor" in rec:
                anchor_mins.setdefault(str(rec["anchor"]), []).append(float(rec["min"]))
                continue
            table.add_entry(rec["key"], Entry.from_dict(rec["entry"], f"{part}: line {n + 1}"))
    return table, anchor_mins


def build_table(
    space: SearchSpace,
    settings: Settings,
    out: str | Path,
    *,
    resolutions: Sequence[int] | None = None,
    widths: Sequence[float] | None = None,
    classes: int = 1000,
    in_channels: int = 3,
    limit: int | None = None,
    chunk: int = 24,
    seed: int = 0,
    progress: bool = True,
) -> BuildReport:
    """Measure the missing block keys of ``space`` into the table at ``out``.

    Args:
        space: the space whose keys to measure.
        settings: device, backend, threads, batch, dtype and timing.
        out: table file; extended when it exists (same settings and device required).
        resolutions: input sides (default: the space's).
        widths: width multipliers (default: all the space's).
        classes: classifier outputs of the config (part of the classifier's key).
        in_channels: image channels of the config (part of the stem's key).
        limit: measure at most this many new keys, then stop (the table stays resumable).
        chunk: keys timed together, interleaved (and saved) per chunk.
        seed: order of keys and of the timing rounds.
        progress: show a progress bar with ETA on stderr.
    """
    from tqdm import tqdm

    check_available(settings)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    table, anchor_mins = open_table(out, settings)
    unchanged = read_table(out).content_hash if out.is_file() else None
    blocks = enumerate_blocks(space, resolutions=resolutions, widths=widths, classes=classes,
                              in_channels=in_channels)
    use = list(widths) if widths is not None else (
        sorted({s.width for s in space.scales}) if space.scales else list(space.widths))
    anchors: dict[str, Arch] = {}
    for r in resolutions or space.resolutions:
        table.add_config(space.name, int(r), in_channels=in_channels, classes=classes, widths=use)
        anchors[config_key(space.name, r, classes, in_channels)] = anchor_arch(space, r, use)
    if space.path and Path(space.path).resolve().parent != space_dirs()[-1].resolve():
        # not a shipped space: remember its file so that validate can find it later
        table.space_files[space.name] = str(Path(space.path).resolve())
    rng = np.random.default_rng(seed)
    todo = [blocks[i] for i in rng.permutation(len(blocks)) if blocks[i].key not in table]
    skipped = len(blocks) - len(todo)
    if limit is not None:
        todo = todo[:max(0, limit)]
    part = partial_path(out)
    measured = 0
    with pinned(settings) as pin, tqdm(total=len(todo), desc=f"lut {out.stem}", unit="key",
                                        disable=not progress, file=sys.stderr) as bar:
        if todo:
            table.measurement["pinned"] = pin
        anchor_runners = [make_runner(arch_to_blocks(a, classes=classes, in_channels=in_channels),
                                      settings) for a in anchors.values()] if todo else []
        for start in range(0, len(todo), chunk):
            part_blocks: list[Block] = todo[start:start + chunk]
            runners = [make_runner([b], settings) for b in part_blocks]
            samples = measure_interleaved(runners + anchor_runners, settings, rng)
            with part.open("a") as fh:
                for b, s in zip(part_blocks, samples[:len(part_blocks)], strict=True):
                    entry = Entry.from_samples(s)
                    table.add_entry(b, entry)
                    fh.write(json.dumps({"key": b.key, "entry": entry.to_dict()}) + "\n")
                for key, s in zip(anchors, samples[len(part_blocks):], strict=True):
                    anchor_mins.setdefault(key, []).append(float(s.min()))
                    fh.write(json.dumps({"anchor": key, "min": float(s.min())}) + "\n")
            measured += len(part_blocks)
            bar.update(len(part_blocks))
    seconds = time.perf_counter() - t_start
    for c in table.configs:
        key = config_key(c["space"], c["resolution"], c["classes"], c["in_channels"])
        if key in anchors and anchor_mins.get(key):
            c["anchor"] = anchor_record(anchors[key], anchor_mins[key], c.get("anchor"))
    remaining = sum(b.key not in table for b in blocks)
    spreads = {k: v for k, v in anchor_spreads(table.configs).items() if k in anchors}
    if measured:
        for line in drift_warnings(spreads):
            print(f"nas: warning: {out}: {line}", file=sys.stderr)
    if measured == 0 and unchanged == table.content_hash:  # nothing new: leave the file alone
        part.unlink(missing_ok=True)
        return BuildReport(str(out), len(blocks), 0, skipped, remaining, seconds, spreads)
    table.measurement["build_seconds"] = round(
        float(table.measurement.get("build_seconds", 0.0)) + seconds, 2)
    table.write(out)
    part.unlink(missing_ok=True)
    return BuildReport(str(out), len(blocks), measured, skipped, remaining, seconds, spreads)


def build_steadiest(
    space: SearchSpace,
    settings: Settings,
    out: str | Path,
    *,
    attempts: int = 1,
    max_drift: float = DRIFT_WARN_PCT,
    limit: int | None = None,
    progress: bool = True,
    **kwargs: object,
) -> BuildReport:
    """:func:`build_table`, measured again while the machine's speed drifted during it.

    When the build measured keys and one of its configs' anchor spreads exceeds ``max_drift`` %,
    the same keys are measured again, from the table as it was before the call, into a scratch
    file beside ``out`` (``<stem>.attempt<k>.json``), up to ``attempts`` builds in all. The
    first attempt at or under ``max_drift`` ends the search; otherwise the attempt with the
    smallest largest spread is kept. The kept table is left at ``out``, the others removed.

    Args:
        attempts: builds in all (1: build once, as :func:`build_table`).
        max_drift: the anchor spread (%) above which a build is measured again.
        limit: as :func:`build_table`; only with ``attempts == 1`` (a partial build has no
            spread to judge).
        kwargs: the other arguments of :func:`build_table`.

    Returns:
        the kept attempt's report, at ``out``, with ``attempts`` (each attempt's largest spread)
        and ``kept_attempt``; ``seconds`` is the time of all attempts.
    """
    if attempts < 1:
        raise NasError(f"--attempts must be >= 1, got {attempts}")
    if attempts > 1 and limit is not None:
        raise NasError("--attempts and --limit do not go together: a build stopped by --limit "
                       "has no complete anchor spread to judge; finish it, then rebuild")
    out = Path(out)
    before = out.read_bytes() if out.is_file() else None
    first = build_table(space, settings, out, limit=limit, progress=progress, **kwargs)  # type: ignore[arg-type]
    reports, paths = [first], [out]
    best = 0
    while (first.measured and reports[best].worst_spread > max_drift
           and len(reports) < attempts):
        k = len(reports) + 1
        path = out.with_name(f"{out.stem}.attempt{k}{out.suffix}")
        partial_path(path).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        if before is not None:
            path.write_bytes(before)
        print(f"nas: {out}: the anchor drifted {reports[best].worst_spread:.0f}% "
              f"(> {max_drift:g}%); measuring again (attempt {k} of {attempts})",
              file=sys.stderr)
        reports.append(build_table(space, settings, path, progress=progress, **kwargs))  # type: ignore[arg-type]
        paths.append(path)
        if reports[-1].worst_spread < reports[best].worst_spread:
            best = len(reports) - 1
    if best:
        os.replace(paths[best], out)
    for path in paths[1:]:
        path.unlink(missing_ok=True)
    return replace(reports[best], path=str(out), attempts=[r.worst_spread for r in reports],
                   kept_attempt=best + 1, seconds=sum(r.seconds for r in reports))
