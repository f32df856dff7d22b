"""Recorded latency data kept as compact test fixtures (``tests/data/latency/``).

Tables are gzipped table files; validation runs are gzipped CSVs with the columns
``nas lut validate`` writes that scoring reads, plus a ``run`` column naming the run. Tests get
them unpacked into a temporary folder as the plain files the package reads.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "latency"


def unpack_table(name: str, into: Path) -> Path:
    """``DATA/<name>.json.gz`` as ``into/<name>.json``."""
    into.mkdir(parents=True, exist_ok=True)
    target = into / f"{name}.json"
    target.write_bytes(gzip.decompress((DATA / f"{name}.json.gz").read_bytes()))
    return target


def unpack_runs(name: str, table_id: str, into: Path) -> list[Path]:
    """The runs of ``DATA/<name>_validate_<table_id>.csv.gz``, each written as
    ``into/<name>/<run>/validate_<table_id>.csv`` (the layout of ``nas lut validate --out``),
    in the order they are recorded."""
    with gzip.open(DATA / f"{name}_validate_{table_id}.csv.gz", "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f for f in reader.fieldnames or () if f != "run"]
        groups: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            groups.setdefault(row.pop("run"), []).append(row)
    out = []
    for run, rows in groups.items():
        path = into / name / run / f"validate_{table_id}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        out.append(path)
    return out
