"""Finding tables: ``$HWNAS_TABLE_PATH`` folders first, then the shipped ``latency_tables/``."""

from __future__ import annotations

import os
from pathlib import Path

from nas._errors import NasError
from nas.latency._table import LatencyTable, read_table

SHIPPED_TABLES = Path(__file__).resolve().parents[2] / "latency_tables"
_CACHE: dict[tuple[str, float, int], LatencyTable] = {}


def table_dirs() -> list[Path]:
    """Folders searched for ``ID.json``, in order."""
    extra = [Path(p) for p in os.environ.get("HWNAS_TABLE_PATH", "").split(os.pathsep) if p]
    return [*extra, SHIPPED_TABLES]


def table_paths() -> dict[str, Path]:
    """Table id -> file, for every table found (an earlier folder wins a repeated id)."""
    found: dict[str, Path] = {}
    for d in table_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.json")):
                found.setdefault(p.stem, p)
    return dict(sorted(found.items()))


def _is_path(text: str) -> bool:
    return text.endswith(".json") or os.sep in text or (os.altsep is not None and os.altsep in text)


def find_table(id_or_path: str | Path) -> Path:
    """The file of a table given by id (file stem, searched in :func:`table_dirs`) or by path."""
    text = str(id_or_path)
    if _is_path(text):
        path = Path(text)
        if not path.is_file():
            raise NasError(f"latency table file {text}: not found")
        return path
    paths = table_paths()
    if text not in paths:
        raise NasError(f"unknown latency table {text!r}; known: {', '.join(paths) or 'none'} "
                       f"(searched {', '.join(str(d) for d in table_dirs())})")
    return paths[text]


def load_table(id_or_path: str | Path) -> LatencyTable:
    """A table by id (file stem, searched in :func:`table_dirs`) or by the path of its JSON file.

    Loaded tables are cached by path and modification time; the same object is returned until
    the file changes, so its prediction caches are shared. Code that changes a table (its
    calibration, statistic or path) reads its own copy: ``read_table(find_table(...))``.
    """
    path = find_table(id_or_path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    if key not in _CACHE:
        _CACHE[key] = read_table(path)
    return _CACHE[key]


def list_tables() -> list[LatencyTable]:
    """Every table found, sorted by id. A corrupt file raises :class:`NasError` naming it."""
    return [load_table(p) for p in table_paths().values()]
