"""``nas lut import``: a published per-block table -> our table format, with a mapping report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.blocks import Block
from nas.latency import LatencyTable
from nas.lutkit._mapping import ImportReport, SourceRecord, SpaceIndex, Stats, coverage, map_records
from nas.lutkit._parsers import (
    PROFILE_NAME,
    dpu_records,
    hancai_records,
    nnmeter_records,
    profile_pool_share,
)
from nas.lutkit._sources import SourceInfo, source_info
from nas.space import list_spaces

IMPORT_FORMATS = ("ofa", "proxylessnas", "nnmeter", "dpu-csv")
_DEFAULT_FILES = {"proxylessnas": "mobile_trim.yaml", "dpu-csv": "fpga_dpu_block_latency.csv"}


def _files(src: Path, fmt: str) -> list[Path]:
    if not src.exists():
        raise NasError(f"{src}: no such file or folder")
    if src.is_file():
        return [src]
    if fmt == "ofa":
        files = sorted(src.glob("*_lookup_table.yaml"))
        if not files:
            raise NasError(f"{src}: no <R>_lookup_table.yaml files for --format ofa")
        return files
    if fmt in _DEFAULT_FILES:
        path = src / _DEFAULT_FILES[fmt]
        if not path.is_file():
            raise NasError(f"{src}: no {_DEFAULT_FILES[fmt]} in this folder for --format {fmt}")
        return [path]
    raise NasError(f"{src}: --format {fmt} takes one file (e.g. pixel4_lut_ln_v3.json)")


def _records(files: list[Path], fmt: str, info: SourceInfo) -> list[SourceRecord]:
    records: list[SourceRecord] = []
    for path in files:
        if fmt == "ofa":
            records += hancai_records(path, ratio_expand=False, act="relu", head_act="hswish",
                                      logits_split=None)
        elif fmt == "proxylessnas":
            share = profile_pool_share(path.parent / PROFILE_NAME)
            records += hancai_records(path, ratio_expand=True, act="relu6", head_act="relu6",
                                      logits_split=share)
        elif fmt == "dpu-csv":
            records += dpu_records(path)
        else:
            records += nnmeter_records(path, int(info.extra["runs"]))
    return records


def _device(info: SourceInfo, files: list[Path], device_name: str | None) -> dict[str, Any]:
    device = dict(info.device)
    if info.fmt == "nnmeter":
        prefix = files[0].name.split("_lut")[0]
        device["name"] = info.extra["devices"].get(prefix, f"{prefix} CPU")
    if device_name:
        device["name"] = device_name
    return device


def parse_assumption(text: str) -> tuple[str, float]:
    """``KEY=MS`` (an entry the source lacks, set by the user) -> (canonical key, ms)."""
    key, sep, ms = text.rpartition("=")
    try:
        value = float(ms)
    except ValueError:
        value = -1.0
    if not sep or not value >= 0:
        raise NasError(f"--assume {text!r}: expected BLOCK_KEY=MS with MS >= 0")
    return Block.parse(key).key, value


def _with_assumptions(report: ImportReport, index: SpaceIndex, stats: dict[str, Stats],
                      assumptions: dict[str, float]) -> ImportReport:
    """Coverage recomputed with the assumed entries (they count as present, and are listed)."""
    report.coverage = coverage(index, set(stats))
    for key, ms in assumptions.items():
        report.approximations.append({"source": "--assume", "note": f"{key} = {ms} ms assumed "
                                      "(not timed by the source)"})
    return report


def import_table(src: str | Path, fmt: str, *, device_name: str | None = None,
                 space: str | None = None, assume: Sequence[str] = ()
                 ) -> tuple[LatencyTable, dict[str, Any]]:
    """Convert a published table; returns our table and the mapping report (JSON-ready).

    Args:
        src: the file, or the folder holding it (``ofa``: every ``<R>_lookup_table.yaml``).
        fmt: ``ofa``, ``proxylessnas``, ``nnmeter`` or ``dpu-csv``.
        device_name: overrides the device name recorded in the table.
        space: map onto this space (name or YAML file) instead of the format's own; ``nnmeter``
            maps onto every shipped space by default.
        assume: ``KEY=MS`` entries for blocks the source does not time; each is recorded in the
            table (``measurement.assumptions``) and in the report, never mixed up with data.
    """
    if fmt not in IMPORT_FORMATS:
        raise NasError(f"unknown import format {fmt!r}; known: {', '.join(IMPORT_FORMATS)}")
    info = source_info(fmt)
    files = _files(Path(src), fmt)
    records = _records(files, fmt, info)
    targets: list[tuple[str, Sequence[int] | None, Sequence[float] | None]]
    if space is not None:
        targets = [(space, None, None)]
    elif info.space:
        targets = [(info.space, None, list(info.widths))]
    else:
        targets = [(name, None, None) for name in list_spaces()]
    index = SpaceIndex(targets)
    stats, report = map_records(records, index)
    assumptions = {}
    for text in assume:
        key, ms = parse_assumption(text)
        if key in stats:
            raise NasError(f"--assume {key}: the source times this block; not overriding data")
        assumptions[key] = ms
        stats[key] = Stats(ms, 1)
    if assumptions:
        report = _with_assumptions(report, index, stats, assumptions)
    device = _device(info, files, device_name)
    table = LatencyTable(
        device=device,
        measurement={"backend": device["runtime"], "device_type": device["kind"],
                     "method": "imported", "format": fmt, "licence": info.licence,
                     "files": [p.name for p in files],
                     "mapping": {"source_keys": report.source_keys, "mapped": len(report.mapped),
                                 "unmapped": len(report.unmapped),
                                 "approximations": report.approximations},
                     "assumptions": [{"key": k, "ms": v} for k, v in assumptions.items()]},
        source=info.source,
        citation=info.citation,
        notes=(f"Imported with `nas lut import --format {fmt}`: {len(report.mapped)} of "
               f"{report.source_keys} source keys mapped onto our block keys. {info.notes}").strip(),
    )
    for key, s in stats.items():
        table.add_entry(key, s.entry())
    for cov in report.coverage:  # the points whose stem the table has
        table.add_config(cov["space"], cov["resolution"], in_channels=index.in_channels,
                         classes=index.classes, widths=[cov["width"]])
    summary = {"format": fmt,
               "assumptions": [{"key": k, "ms": v} for k, v in assumptions.items()],
               "files": [str(p) for p in files], "device": device["name"],
               "entries": len(table), "spaces": table.spaces, "resolutions": table.resolutions,
               **report.to_dict()}
    return table, summary
