"""Tables for devices we cannot hold: import published tables, fit tables from whole-network
timings, and an on-device kit (ONNX blocks + a standalone runner) for phones and NPUs.
"""

from __future__ import annotations

from nas.lutkit._import import IMPORT_FORMATS, import_table, parse_assumption
from nas.lutkit._mapping import Candidate, ImportReport, SourceRecord, SpaceIndex, Stats
from nas.lutkit._sources import SOURCES, SourceInfo, source_info, sources_dir

__all__ = [
    "IMPORT_FORMATS",
    "SOURCES",
    "Candidate",
    "ImportReport",
    "SourceInfo",
    "SourceRecord",
    "SpaceIndex",
    "Stats",
    "import_table",
    "parse_assumption",
    "source_info",
    "sources_dir",
]
