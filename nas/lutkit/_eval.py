"""``nas lut eval``: a table's predictions against measured whole networks."""

from __future__ import annotations

from typing import Any

from nas.latency import LatencyTable
from nas.lutkit._measurements import Measurements, split_rows
from nas.lutkit._metrics import scores


def evaluate(table: LatencyTable, meas: Measurements, column: str, *,
             test_fraction: float | None = None, seed: int = 0,
             approximate: bool = False) -> dict[str, Any]:
    """Scores of ``table`` on the rows of ``column`` (all, or the held-out rows of a split).

    The split is the one :func:`nas.lutkit.fit_table` makes with the same fraction and seed, so
    ``--test-fraction F --seed S`` scores exactly the rows a fit with those options held out.
    """
    rows, y = meas.column(column)
    if test_fraction is not None:
        _, test = split_rows(len(rows), test_fraction, seed)
        rows, y = rows[test], y[test]
    archs = [meas.archs[i] for i in rows]
    pred = table.predict_many(archs, classes=meas.classes, in_channels=meas.in_channels,
                              approximate=approximate)
    out = {"table": table.id, "content_hash": table.content_hash, "file": meas.path,
           "column": column, "rows": "all" if test_fraction is None else
           f"held-out (test fraction {test_fraction}, seed {seed})"}
    return {**out, **scores(y, pred)}
