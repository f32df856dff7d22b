"""``nas lut eval``: a table's predictions against measured whole networks."""

from __future__ import annotations

from typing import Any

import numpy as np

from nas._errors import NasError
from nas.latency import LatencyTable
from nas.lutkit._drift import drift_stats, lag1_autocorr, parse_window, resolve_window, session_drift
from nas.lutkit._measurements import Measurements, split_rows
from nas.lutkit._metrics import scores


def evaluate(table: LatencyTable, meas: Measurements, column: str, *,
             test_fraction: float | None = None, seed: int = 0, split: str = "random",
             approximate: bool = False, drift_window: int | str = 0) -> dict[str, Any]:
    """Scores of ``table`` on the rows of ``column`` (all, or the held-out rows of a split).

    The split is the one :func:`nas.lutkit.fit_table` makes with the same fraction, seed and
    ``split`` (``random`` or ``tail``), so ``--test-fraction F --seed S`` scores exactly the
    rows a fit with those options held out.
    With ``drift_window`` the scored rows are also scored with the device's session drift
    divided out, estimated (as in the fit) from the other rows of the split's training part
    (every other row when there is no split) within that many rows in file order; ``"auto"``
    chooses the window on those rows as the fit does.
    """
    drift_window = parse_window(drift_window)
    rows, y = meas.column(column)
    known = np.ones(len(rows), dtype=bool)
    scored = np.arange(len(rows))
    if test_fraction is None and split != "random":
        raise NasError(f"--split {split} chooses which rows a --test-fraction holds out; give "
                       "--test-fraction too (without it every row is scored)")
    if test_fraction is not None:
        train, scored = split_rows(len(rows), test_fraction, seed, split)
        known[:] = False
        known[train] = True
    use = scored if not drift_window else np.arange(len(rows))
    if not approximate:
        _check_covered(table, meas, rows[use])
    archs = [meas.archs[i] for i in rows[use]]
    pred_use = table.predict_many(archs, classes=meas.classes, in_channels=meas.in_channels,
                                  approximate=approximate)
    pred = pred_use if not drift_window else pred_use[scored]
    held = f"seed {seed}" if split == "random" else "last rows in file order"
    out: dict[str, Any] = {"table": table.id, "content_hash": table.content_hash,
                           "file": meas.path, "column": column,
                           "rows": "all" if test_fraction is None else
                           f"held-out (test fraction {test_fraction}, {held})"}
    out.update(scores(y[scored], pred))
    if drift_window:
        ratio = y / pred_use
        window, choice = resolve_window(ratio, known, drift_window)
        drift = session_drift(ratio, known, window)
        out["drift"] = {"window": window,
                        **({"window_choice_within_10pct": choice} if choice else {}),
                        **drift_stats(drift[known]),
                        "residual_lag1_autocorr": lag1_autocorr(ratio[known] - 1)}
        out["drift_corrected"] = scores(y[scored] / drift[scored], pred)
    return out


def _check_covered(table: LatencyTable, meas: Measurements, rows: np.ndarray) -> None:
    """A row whose network holds a block the table lacks is an error naming the file, the row,
    the block and the table (a fit on few rows can leave such blocks: see ``held_out_unscored``)."""
    for i in rows:
        gap = [k for k in meas.block_counts(int(i)) if k not in table]
        if gap:
            raise NasError(f"{meas.path}: row {int(i) + 2}: its network holds block {gap[0]}, "
                           f"which table {table.id!r} has no entry for; --approximate answers it "
                           "with the table's kernel model (listed as modelled)")
