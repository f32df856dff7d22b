"""Files a resumable training writes after every epoch: each replaced whole, never half written."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename it over ``path`` (a kill leaves the old one)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_metrics(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: Path) -> None:
    """``rows`` as a CSV with ``columns`` (missing or None values empty), replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    os.replace(tmp, path)
