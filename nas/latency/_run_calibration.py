"""Validation runs as calibration networks: what a validation measured, folded into the fit.

A validation run times held-out networks end-to-end, exactly as a calibration does (same
backend, settings, rounds and anchors); once its score is recorded those timings can also teach
the calibration. Key scales in particular (one factor per block key, ~150 keys per resolution)
are limited by how many networks a calibration has. :func:`calibrate_from_runs` adds every
network that one or more validation CSVs measured to the table's calibration, each network's
timings combined over the runs that measured it (geometric mean of the drift-corrected timings,
rescaled to the table's anchor speed as :func:`nas.latency._runs.rebase_run` does), and refits.

The networks become calibration networks: a later ``validate --from-csv`` of those runs is
refused, since they are no longer held out. Score a table on fresh networks after this.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nas._errors import NasError
from nas.latency._anchor import config_key
from nas.latency._calibration import Calibration
from nas.latency._entry import Entry
from nas.latency._networks import NetItem, _fit, calibration_items, sample_record
from nas.latency._runs import RunRow, read_run, rebase_run
from nas.latency._table import LatencyTable


def networks_of_runs(table: LatencyTable, paths: Sequence[str | Path],
                     measured_with: LatencyTable | None = None
                     ) -> tuple[list[NetItem], list[Entry], list[dict[str, Any]]]:
    """Every network the CSVs measured, its timings combined over the runs that have it.

    Returns:
        the networks (in first-seen order), their combined timings, and per network the extra
        sample fields (``runs``: how many CSVs measured it; ``anchor_drift``: the geometric mean
        of its runs' drift, where every run recorded one).

    Raises:
        NasError: a CSV is missing, malformed or given twice, or a run's anchor is not the
            table's.
    """
    seen = [Path(p).resolve() for p in paths]
    twice = next((p for i, p in enumerate(seen) if p in seen[:i]), None)
    if twice is not None:
        raise NasError(f"{twice} is given twice: each run would count twice in its networks' "
                       "timings; name each CSV once")
    by_net: dict[tuple[str, int, int], list[RunRow]] = {}
    for path in paths:
        run = read_run(path)
        rebase_run(run, path, table, measured_with)
        for key, row in run.items():
            by_net.setdefault(key, []).append(row)
    items, entries, extra = [], [], []
    for rows in by_net.values():
        items.append(rows[0].item)
        entries.append(Entry(median=_geomean(rows, "measured_median_ms"),
                             min=_geomean(rows, "measured_min_ms")))
        drift = _geomean(rows, "anchor_drift")
        extra.append({"runs": len(rows), **({"anchor_drift": drift} if drift else {})})
    return items, entries, extra


def _geomean(rows: list[RunRow], column: str) -> float | None:
    """The geometric mean of a timing column over a network's runs (None if a run lacks it)."""
    if any(column not in r.times for r in rows):
        return None
    return float(np.exp(np.mean(np.log([r.times[column] for r in rows]))))


def calibrate_from_runs(table: LatencyTable, paths: Sequence[str | Path], *,
                        key_scales: bool = True, measured_with: LatencyTable | None = None
                        ) -> tuple[Calibration, dict[str, Any]]:
    """Add the networks that validation runs measured to ``table``'s calibration and refit.

    Args:
        table: a calibrated table; its new calibration is set on it (write it to keep it).
        paths: validation CSVs (``nas lut validate --out DIR``) of this table or of an earlier
            build with the same anchors; runs of different networks may be mixed.
        key_scales: fit key scales where cross-validation says they help.
        measured_with: the table the runs validated, for CSVs that do not record their anchor.

    Returns:
        the calibration, and a summary: ``added`` (networks), ``already`` (networks of the
        runs the calibration already had, skipped), ``runs_per_network`` (min, max).

    Raises:
        NasError: the table has no calibration, a CSV is missing or malformed or of another
            anchor, a network is of a config the table lacks, or the runs add no network.
    """
    if table.calibration is None:
        raise NasError(f"{table.where} has no calibration to add networks to; run "
                       "`nas lut calibrate` first")
    old_items, old_measured = calibration_items(table)
    have = {it.ident for it in old_items}
    configs = {config_key(c["space"], c["resolution"], c["classes"], c["in_channels"])
               for c in table.configs}
    items, entries, extra = networks_of_runs(table, paths, measured_with)
    keep = [i for i, it in enumerate(items) if it.ident not in have]
    # A key the table lacks is the table lookup's own error (it names the table and the key).
    for i in keep:
        it = items[i]
        if it.config not in configs:
            raise NasError(f"{it.arch.text} in these runs is of the config {it.config} "
                           f"({it.classes} classes, {it.in_channels} input channels), which "
                           f"{table.where} does not cover")
    if not keep:
        raise NasError(f"the runs {[str(p) for p in paths]} add no network to {table.where}'s "
                       "calibration (it has them all)")
    new_items = [items[i] for i in keep]
    new_measured = [entries[i] for i in keep]
    samples = [{**sample_record(table, items[i], entries[i]), **extra[i]} for i in keep]
    runs = [extra[i]["runs"] for i in keep]
    summary = {"added": len(keep), "already": len(items) - len(keep),
               "runs_per_network": [min(runs), max(runs)]}
    added = {"from_runs": [str(p) for p in paths], "networks": len(keep),
             "runs_per_network": summary["runs_per_network"],
             "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")}
    meta = dict(table.calibration.meta)
    meta["added"] = [*meta.get("added", []), added]
    cal = _fit(table, [*old_items, *new_items], [*old_measured, *new_measured],
               [*table.calibration.samples, *samples], meta, key_scales=key_scales)
    return cal, summary
