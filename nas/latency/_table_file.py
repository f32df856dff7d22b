"""Reading a latency table file: every field checked, errors name the table and the field.

The file layout is documented in :mod:`nas.latency._table`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.blocks import Block
from nas.latency._calibration import Calibration
from nas.latency._entry import Entry
from nas.latency._kernels import KernelModel
from nas.latency._table import FORMAT, SCHEMA_VERSION, LatencyTable

# The fields a table file may hold: any other is refused, so that a misspelt one is not dropped.
_TOP_FIELDS = ("format", "schema_version", "device", "measurement", "spaces", "resolutions",
               "configs", "source", "citation", "notes", "space_files", "entries", "calibration",
               "kernel_model")


def table_from_dict(data: Any, *, path: str | Path | None = None, table_id: str | None = None
                    ) -> LatencyTable:
    """Validate a parsed JSON document into a :class:`LatencyTable`; errors name the table."""
    name = table_id or (Path(path).stem if path is not None else "unsaved")
    where = f"latency table {name!r} ({path})" if path is not None else f"latency table {name!r}"
    if not isinstance(data, dict):
        raise NasError(f"{where}: expected a JSON object")
    if data.get("format") != FORMAT:
        raise NasError(f"{where}: field 'format' is {data.get('format')!r}, expected {FORMAT!r}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise NasError(f"{where}: unknown schema_version {version!r}; this version of hwnas "
                       f"reads {SCHEMA_VERSION}")
    unknown = set(data) - set(_TOP_FIELDS)
    if unknown:
        raise NasError(f"{where}: unknown field(s) {sorted(unknown)}")
    for fld, typ in (("device", dict), ("measurement", dict), ("spaces", list),
                     ("resolutions", list), ("configs", list), ("entries", dict),
                     ("space_files", dict)):
        if not isinstance(data.get(fld, typ()), typ):
            kind = "object" if typ is dict else "list"
            raise NasError(f"{where}: field {fld!r} must be a JSON {kind}")
    if not isinstance(data.get("entries"), dict):
        raise NasError(f"{where}: missing field 'entries'")
    entries = {}
    for key, raw in data["entries"].items():
        try:
            block = Block.parse(key)
        except NasError as exc:
            raise NasError(f"{where}: entries: {exc}") from None
        entries[block.key] = Entry.from_dict(raw, f"{where}: entries[{key!r}]")
    try:
        resolutions = [int(r) for r in data.get("resolutions", [])]
    except (TypeError, ValueError):
        raise NasError(f"{where}: field 'resolutions' must be a list of integers") from None
    cal_raw = data.get("calibration")
    calibration = (Calibration.from_dict(cal_raw, f"{where}: calibration")
                   if cal_raw is not None else None)
    km_raw = data.get("kernel_model")
    kernel_model = (KernelModel.from_dict(km_raw, f"{where}: kernel_model")
                    if km_raw is not None else None)
    for fld in ("source", "citation"):
        if data.get(fld) is not None and not isinstance(data[fld], str):
            raise NasError(f"{where}: field {fld!r} must be a string or null")
    return LatencyTable(
        entries,
        device=data.get("device", {}),
        measurement=data.get("measurement", {}),
        spaces=[str(s) for s in data.get("spaces", [])],
        resolutions=resolutions,
        configs=data.get("configs", []),
        calibration=calibration,
        source=data.get("source"),
        citation=data.get("citation"),
        notes=str(data.get("notes", "")),
        space_files=data.get("space_files", {}),
        path=path,
        table_id=table_id,
        kernel_model=kernel_model,
    )


def read_table(path: str | Path) -> LatencyTable:
    """Load a table file; corrupt or unknown-schema files raise :class:`NasError` naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise NasError(f"latency table {path.stem!r} ({path}): cannot read "
                       f"({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NasError(f"latency table {path.stem!r} ({path}): corrupt, not valid JSON "
                       f"({exc})") from None
    return table_from_dict(data, path=path)
