"""Whole networks measured end-to-end: sampling them from a table's configs, timing, calibrating."""

from __future__ import annotations

import datetime
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import KINDS, arch_to_blocks
from nas.cost import arch_cost
from nas.latency._anchor import config_key, speed_warnings, table_anchors
from nas.latency._backends import check_available, make_runner, measure_interleaved, pinned
from nas.latency._calibration import Calibration, fit_calibration
from nas.latency._entry import Entry
from nas.latency._enumerate import restrict_space
from nas.latency._fingerprint import device_fingerprint, fingerprint_mismatches
from nas.latency._journal import NetworkJournal, Timed, run_key
from nas.latency._settings import Settings
from nas.latency._table import LatencyTable

# Separate random streams: validation archs never come from the calibration's stream.
STREAM_CALIBRATION = 0xCA1
STREAM_VALIDATION = 0x7A1
# Sample fields a refit keeps as measured (the rest it recomputes from the table): the anchor
# drift a network was timed at, and how many validation runs its timing combines (--add-runs).
_SAMPLE_EXTRAS = ("anchor_drift", "runs")
# Whole networks take milliseconds each: longer bursts than for blocks. Many rounds, because on a
# shared VM the core runs at full speed only in short quiet spells, and the fastest time is only
# seen by a network timed in one of them. Two passes over the same 32 networks, the settings
# alternating in the same minutes, agreed to tau 0.47-0.81 with 6 rounds and 0.77-0.83 with 20
# (RESULTS.md, section network_rounds).
NETWORK_TIMING = {"rounds": 20, "round_ms": 40.0, "min_reps": 2, "max_reps": 50,
                  "warmup_ms": 60.0}


def network_timing(timing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """How whole networks are timed: :data:`NETWORK_TIMING` with ``timing``'s overrides."""
    return {**NETWORK_TIMING, **(timing or {})}


@dataclass(frozen=True)
class NetItem:
    """One network to measure: an arch and the classes and input channels it is built for."""

    arch: Arch
    classes: int
    in_channels: int

    @property
    def ident(self) -> tuple[str, int, int]:
        return (self.arch.text, self.classes, self.in_channels)

    @property
    def config(self) -> str:
        """The table config it belongs to (:func:`nas.latency._anchor.config_key`)."""
        return config_key(self.arch.space, self.arch.resolution, self.classes, self.in_channels)


def table_settings(table: LatencyTable, **timing: Any) -> Settings:
    """The settings to re-measure with on this machine; refuses another device or runtime."""
    settings = Settings.from_table(table.measurement, table.where, **timing)
    check_available(settings)
    diff = fingerprint_mismatches(table.device, device_fingerprint(settings))
    if diff:
        raise NasError(f"{table.where} was measured on another device or runtime "
                       f"({'; '.join(diff)}); measure on that device, or build a table here")
    return settings


def sample_items(table: LatencyTable, n: int, seed: int, stream: int,
                 exclude: set[tuple[str, int, int]] | None = None,
                 resolutions: Sequence[int] | None = None) -> list[NetItem]:
    """``n`` distinct archs per table config (its space, resolution, widths, classes, channels);
    only the configs at ``resolutions`` where given."""
    if n < 1:
        raise NasError(f"--n must be >= 1, got {n}")
    if not table.configs:
        raise NasError(f"{table.where} records no space configs (space, resolution, classes); "
                       f"it was not built by `nas lut build`")
    have = sorted({int(c["resolution"]) for c in table.configs})
    unknown = sorted(set(resolutions or ()) - set(have))
    if unknown:
        raise NasError(f"{table.where} covers resolutions {have}; --resolution {unknown[0]} "
                       f"is not among them")
    seen = set(exclude or ())
    items = []
    for ci, cfg in enumerate(table.configs):
        if resolutions and int(cfg["resolution"]) not in resolutions:
            continue
        space = restrict_space(table.space(cfg["space"]), [int(cfg["resolution"])],
                               cfg.get("widths") or None)
        rng = np.random.default_rng([seed, ci, stream])
        got = 0
        for _ in range(50 * n):  # bounded: a tiny space may hold fewer than n distinct archs
            if got == n:
                break
            item = NetItem(space.sample(rng), int(cfg["classes"]), int(cfg["in_channels"]))
            if item.ident not in seen:
                seen.add(item.ident)
                items.append(item)
                got += 1
    return items


@dataclass(frozen=True)
class NetworkTimings:
    """Timed networks: ``entries`` (divided by the drift when anchors were timed), ``raw``
    (as timed), ``drift`` (per network: anchor now / anchor at build; 1.0 without one) and
    ``anchor_ms`` (per network: its config's anchor timed in the same chunk; None without one).
    With several passes these combine the passes (see :func:`combine_passes`), and
    ``pass_entries`` holds each pass's ``entries`` (pass-major, item order)."""

    entries: list[Entry]
    raw: list[Entry]
    drift: list[float]
    anchor_ms: list[float | None]
    pass_entries: list[list[Entry]] = field(default_factory=list)


def measure_items(items: Sequence[NetItem], settings: Settings, *, seed: int = 0, chunk: int = 16,
                  timing: dict[str, Any] | None = None, progress: bool = True,
                  desc: str = "networks",
                  anchors: Mapping[str, tuple[Arch, float]] | None = None,
                  passes: int = 1, journal: str | Path | None = None) -> NetworkTimings:
    """Time each network end-to-end (same backend, settings and clock as the blocks).

    ``timing`` overrides :data:`NETWORK_TIMING` (rounds, round_ms, min_reps, max_reps,
    warmup_ms). ``anchors`` (``config_key -> (arch, ms at build)``, see
    :mod:`nas.latency._anchor`): each chunk also times the anchor of every config it holds, and
    its networks' timings are divided by ``anchor now / anchor at build``.

    ``passes``: measure every network this many times, each pass with freshly built networks,
    in a new order and so in other chunks; the result is the median of the passes' statistics.
    What one pass still carries (the minutes it ran in, the chunk it shared) averages out over
    passes, at ``passes`` times the time; more rounds per pass are the cheaper first step.

    ``journal``: a file each timed chunk is appended to (:mod:`nas.latency._journal`); called
    again with the same arguments after an interruption, only the networks it lacks are timed.
    The caller deletes it once the result is safely written.
    """
    from tqdm import tqdm

    if passes < 1:
        raise NasError(f"--passes must be >= 1, got {passes}")
    net_settings = Settings(**{**settings.to_dict(), **network_timing(timing)})
    idents = [it.arch.text for it in items]
    log = None if journal is None else NetworkJournal(journal, run_key({
        "items": [it.ident for it in items], "settings": net_settings.to_dict(),
        "passes": passes, "seed": seed, "chunk": chunk,
        "anchors": {k: [a.text, ms] for k, (a, ms) in sorted((anchors or {}).items())}}))
    done = log.load(idents) if log else {}
    runs = []
    with pinned(settings), tqdm(total=len(items) * passes, initial=len(done), desc=desc,
                                unit="net", disable=not progress, file=sys.stderr) as bar:
        for p in range(passes):
            rng = np.random.default_rng([seed, 0x5EED, p])
            order = np.arange(len(items)) if p == 0 else rng.permutation(len(items))
            todo = [int(i) for i in order if (p, int(i)) not in done]
            save = None if log is None else (
                lambda idx, timed, p=p: log.append(p, idx, idents, timed))
            done.update({(p, i): t for i, t in zip(
                todo, _one_pass(items, todo, net_settings, rng, chunk, anchors or {}, bar, save),
                strict=True)})
            per = [done[(p, i)] for i in range(len(items))]
            runs.append(NetworkTimings([t[0] for t in per], [t[1] for t in per],
                                       [t[2] for t in per], [t[3] for t in per]))
    return runs[0] if passes == 1 else combine_passes(runs)


def _one_pass(items: Sequence[NetItem], todo: Sequence[int], net_settings: Settings,
              rng: np.random.Generator, chunk: int, anchors: Mapping[str, tuple[Arch, float]],
              bar: Any, save: Callable[[list[int], list[Timed]], None] | None) -> list[Timed]:
    """Time ``items[i]`` for ``i`` in ``todo``, in chunks; each chunk is passed to ``save``."""
    out: list[Timed] = []
    for start in range(0, len(todo), chunk):
        idx = list(todo[start:start + chunk])
        part = [items[i] for i in idx]
        keys = [it.config for it in part]
        here = [k for k in dict.fromkeys(keys) if k in anchors]
        runners = [make_runner(arch_to_blocks(it.arch, classes=it.classes,
                                              in_channels=it.in_channels), net_settings)
                   for it in part]
        runners += [make_runner(arch_to_blocks(anchors[k][0], classes=int(k.split("/")[2]),
                                               in_channels=int(k.split("/")[3])),
                                net_settings) for k in here]
        samples = measure_interleaved(runners, net_settings, rng)
        now = {k: float(s.min()) for k, s in zip(here, samples[len(part):], strict=True)}
        timed: list[Timed] = []
        for key, s in zip(keys, samples[:len(part)], strict=True):
            f = now[key] / anchors[key][1] if key in now else 1.0
            timed.append((Entry.from_samples(s / f), Entry.from_samples(s), f, now.get(key)))
        if save is not None:
            save(idx, timed)
        out += timed
        bar.update(len(part))
    return out


def _median_entry(entries: Sequence[Entry]) -> Entry:
    """One entry from several passes' entries of a network: the median of each statistic."""
    def med(name: str) -> float | None:
        vals = [getattr(e, name) for e in entries]
        return None if any(v is None for v in vals) else float(np.median(vals))
    return Entry(median=med("median"), n=sum(e.n for e in entries), mean=med("mean"),
                 p90=med("p90"), std=med("std"), min=med("min"))


def combine_passes(runs: Sequence[NetworkTimings]) -> NetworkTimings:
    """Several passes over the same networks (each in item order) as one measurement."""
    n = len(runs[0].entries)
    anchors = [[r.anchor_ms[i] for r in runs] for i in range(n)]
    return NetworkTimings(
        entries=[_median_entry([r.entries[i] for r in runs]) for i in range(n)],
        raw=[_median_entry([r.raw[i] for r in runs]) for i in range(n)],
        drift=[float(np.median([r.drift[i] for r in runs])) for i in range(n)],
        anchor_ms=[None if None in a else float(np.median(a)) for a in anchors],  # type: ignore[arg-type]
        pass_entries=[list(r.entries) for r in runs])


def drift_summary(drift: Sequence[float]) -> dict[str, Any]:
    """The anchors' drift over a session (``{}`` when no anchor was timed)."""
    if not drift or all(f == 1.0 for f in drift):
        return {}
    return {"anchor_drift_p5_p50_p95": [float(v) for v in np.percentile(drift, [5, 50, 95])]}


def sample_record(table: LatencyTable, item: NetItem, measured: Entry) -> dict[str, Any]:
    feats = table.features(item.arch, classes=item.classes, in_channels=item.in_channels)
    cost = arch_cost(item.arch, classes=item.classes, in_channels=item.in_channels)
    return {"arch": item.arch.text, "classes": item.classes, "in_channels": item.in_channels,
            "resolution": item.arch.resolution, "macs": cost.macs,
            "naive_ms": float(feats[:len(KINDS)].sum()),
            "measured": measured.to_dict()}


def calibrate_table(table: LatencyTable, *, n: int = 30, seed: int = 0,
                    timing: dict[str, Any] | None = None, progress: bool = True,
                    passes: int = 1, journal: str | Path | None = None,
                    resolutions: Sequence[int] | None = None, add: bool = False,
                    key_scales: bool = True) -> Calibration:
    """Measure ``n`` sampled networks per config end-to-end and fit the table's calibration.

    ``passes``: measure each network in that many independent passes (see
    :func:`measure_items`); less noise in the calibration, ``passes`` times the time.
    ``journal``: where the timings are journaled as they come (see :func:`measure_items`), so
    that the same call after an interruption resumes; delete it once the table is written.
    ``resolutions``: only the configs at these resolutions get networks.
    ``add``: keep the networks the calibration already measured, add ``n`` new ones per config
    (none it has already) and refit on all; the new networks' settings go to ``meta["added"]``.
    ``key_scales``: fit key scales where cross-validation says they help (see
    :mod:`nas.latency._calibration`).

    The calibration (coefficients and the measured networks) is set on ``table``; write the
    table to keep it.
    """
    t0 = time.perf_counter()
    settings = table_settings(table)
    old_cal = table.calibration if add else None
    old_items, old_measured = calibration_items(table) if add else ([], [])
    if add and old_cal is None:
        raise NasError(f"{table.where} has no calibration to add networks to; run "
                       f"`nas lut calibrate` without --add first")
    items = sample_items(table, n, seed, STREAM_CALIBRATION,
                         exclude={it.ident for it in old_items}, resolutions=resolutions)
    missing = {b.key for it in items for b in table.missing(
        arch_to_blocks(it.arch, classes=it.classes, in_channels=it.in_channels))}
    if missing:
        raise NasError(f"{table.where} lacks {len(missing)} keys its configs need, e.g. "
                       f"{sorted(missing)[0]}; finish `nas lut build` first")
    timed = measure_items(items, settings, seed=seed, timing=timing, progress=progress,
                          desc="calibrate", anchors=table_anchors(table.configs),
                          passes=passes, journal=journal)
    measured = timed.entries
    samples = [{**sample_record(table, it, m), "anchor_drift": f}
               for it, m, f in zip(items, measured, timed.drift, strict=True)]
    for line in speed_warnings([it.config for it in items], timed.drift):
        print(f"nas: warning: {table.where}: {line}", file=sys.stderr)
    meta: dict[str, Any] = {
        "n_per_config": n, "seed": seed, "networks": len(items), "passes": passes,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "timing": network_timing(timing),
        "seconds": round(time.perf_counter() - t0, 2), **drift_summary(timed.drift),
        **({"resolutions": sorted(resolutions)} if resolutions else {})}
    if old_cal is not None:
        old = dict(old_cal.meta)
        meta = {**old, "added": [*old.get("added", []), meta]}
        samples = [*old_cal.samples, *samples]
        items, measured = [*old_items, *items], [*old_measured, *measured]
    return _fit(table, items, measured, samples, meta, key_scales=key_scales)


def refit_calibration(table: LatencyTable, *, key_scales: bool = True) -> Calibration:
    """Refit the calibration from the networks it already measured (no measuring).

    For a changed table statistic, or after re-measuring some entries.
    """
    items, measured = calibration_items(table)
    if not items or table.calibration is None:
        raise NasError(f"{table.where} has no calibration networks to refit on; run "
                       f"`nas lut calibrate` first")
    samples = [{**sample_record(table, it, m),
                **{k: v for k, v in old.items() if k in _SAMPLE_EXTRAS}}
               for it, m, old in zip(items, measured, table.calibration.samples, strict=True)]
    return _fit(table, items, measured, samples, dict(table.calibration.meta),
                key_scales=key_scales)


def feature_matrix(table: LatencyTable, items: Sequence[NetItem]) -> np.ndarray:
    """The networks' calibration features ``(n, len(FEATURES))`` under ``table``."""
    return np.array([table.features(it.arch, classes=it.classes, in_channels=it.in_channels)
                     for it in items])


def calibration_matrix(table: LatencyTable, items: Sequence[NetItem], measured: Sequence[Entry]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a calibration is fitted on: the networks' features ``(n, len(FEATURES))``, their
    measured latencies (the table's statistic) and their input resolutions."""
    x = feature_matrix(table, items)
    y = np.array([m.value(table.statistic) for m in measured])
    return x, y, np.array([it.arch.resolution for it in items])


def key_matrix(table: LatencyTable, items: Sequence[NetItem]) -> tuple[np.ndarray, list[str]]:
    """Per network, the isolated ms of each block key's blocks in it ``(n, keys)``, and the keys
    (what key scales are fitted on)."""
    lowered = [table.block_ms(it.arch, classes=it.classes, in_channels=it.in_channels)
               for it in items]
    names = sorted({k for keys, _ in lowered for k in keys})
    column = {k: j for j, k in enumerate(names)}
    out = np.zeros((len(items), len(names)))
    for i, (keys, ms) in enumerate(lowered):
        np.add.at(out[i], [column[k] for k in keys], ms)
    return out, names


def _fit(table: LatencyTable, items: Sequence[NetItem], measured: Sequence[Entry],
         samples: list[dict[str, Any]], meta: dict[str, Any], *, key_scales: bool = True
         ) -> Calibration:
    x, y, resolutions = calibration_matrix(table, items, measured)
    meta = {k: v for k, v in meta.items() if k != "key_scales"}  # the choice is refitted
    cal = fit_calibration(x, y, resolutions.tolist(), samples,
                          {**meta, "statistic": table.statistic},
                          keys=key_matrix(table, items) if key_scales else None)
    table.set_calibration(cal)
    return cal


def journal_path(out: str | Path, what: str) -> Path:
    """Where ``what`` (``calibrate``, ``validate``) journals its timings for output ``out``."""
    out = Path(out)
    return out.with_name(f"{out.name}.{what}.partial.jsonl")


def calibrate_and_write(table: LatencyTable, out: str | Path, **options: Any
                        ) -> tuple[Calibration, Path]:
    """:func:`calibrate_table` with its timings journaled beside ``out``, then the table written
    to ``out`` and the journal deleted: run again after an interruption, it resumes.

    ``options``: those of :func:`calibrate_table` (``n``, ``seed``, ``timing``, ...).
    """
    journal = journal_path(out, "calibrate")
    cal = calibrate_table(table, journal=journal, **options)
    path = table.write(out)
    journal.unlink(missing_ok=True)
    return cal, path


def calibration_items(table: LatencyTable) -> tuple[list[NetItem], list[Entry]]:
    """The networks a table's calibration was fitted on, with their measurements."""
    if table.calibration is None:
        return [], []
    items, entries = [], []
    for i, s in enumerate(table.calibration.samples):
        try:
            arch = Arch.parse(str(s["arch"]))
            item = NetItem(arch, int(s["classes"]), int(s["in_channels"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise NasError(f"{table.where}: calibration.samples[{i}] is malformed ({exc})") from None
        items.append(item)
        entries.append(Entry.from_dict(s.get("measured"), f"{table.where}: calibration.samples[{i}]"))
    return items, entries
