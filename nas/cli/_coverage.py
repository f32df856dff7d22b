"""What ``nas lut list`` shows beyond a table's summary: the share of its space's block keys it
measured, and the validation score it records."""

from __future__ import annotations

from typing import Any

from nas._errors import NasError
from nas.latency import LatencyTable, enumerate_blocks


def coverage(table: LatencyTable, cache: dict[tuple[Any, ...], set[str]]
             ) -> tuple[int, int, str | None]:
    """``(measured, total, problem)``: of the block keys the table's spaces produce at each
    recorded config (space, resolution, widths, classes, input channels), how many the table
    holds; ``problem`` says why they could not be counted (a space that no longer loads).

    ``cache`` holds the keys per config between calls (tables of one space share them).
    """
    wanted: set[str] = set()
    try:
        for c in table.configs:
            widths = tuple(float(w) for w in c.get("widths") or ())
            key = (c["space"], table.space_files.get(c["space"]), int(c["resolution"]), widths,
                   int(c.get("classes", 1000)), int(c.get("in_channels", 3)))
            if key not in cache:
                space = table.space(c["space"])
                use = [w for w in widths if w in space.widths or space.scales] or None
                cache[key] = {b.key for b in enumerate_blocks(
                    space, resolutions=[key[2]], widths=use, classes=key[4], in_channels=key[5])}
            wanted |= cache[key]
    except (NasError, KeyError, TypeError, ValueError) as exc:
        return 0, 0, str(exc)
    have = set(table.entries)
    return len(have & wanted), len(wanted), None


def validation_score(table: LatencyTable) -> str | None:
    """The held-out score a table records (``nas lut fit`` keeps one): share of networks within
    ±10% and MAPE, or ``None``."""
    fit = table.measurement.get("fit")
    held = fit.get("held_out") if isinstance(fit, dict) else None
    if not isinstance(held, dict) or not held.get("n"):
        return None
    within, mape = held.get("within_10pct"), held.get("mape")
    parts = []
    if isinstance(within, int | float):
        parts.append(f"{100 * within:.1f}% within ±10%")
    if isinstance(mape, int | float):
        parts.append(f"MAPE {mape:.1f}%")
    return f"{', '.join(parts)}, n={held['n']}" if parts else None
