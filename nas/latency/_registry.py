"""Finding tables: ``$HWNAS_TABLE_PATH`` folders first, then the shipped ``latency_tables/``.

A file in ``$HWNAS_TABLE_PATH`` with the id of a shipped table takes its place; when that file
does not load (corrupt JSON, a wrong field), loading the id fails with an error naming the file
and the shipped table it hides, never falling back to the shipped one unnoticed.

A CPU table describes one CPU design: tables built on another are off in level and rank
networks worse (``docs/latency-validation.md``). So a folder may hold, besides ``ID.json``, *host variants* of the
same id, ``hosts/NAME/ID.json``, each measured on another machine. Looking up ``ID`` picks the
variant whose recorded device matches this machine (kind, CPU name and CPU identity, as
``nas lut validate`` compares them), else the folder's own ``ID.json``. ``$HWNAS_TABLE_HOST``
overrides the choice: ``default`` always takes ``ID.json``, ``NAME`` takes ``hosts/NAME/``
where it has the id (to reproduce a run from another machine).
"""

from __future__ import annotations

import functools
import json
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.latency._fingerprint import cpu_device, fingerprint_mismatches
from nas.latency._table import LatencyTable
from nas.latency._table_file import read_table

# Package data mapped from the repository's top-level latency_tables/ (setup.py).
SHIPPED_TABLES = Path(str(files("nas.latency_tables")))
HOSTS_DIR = "hosts"
HOST_ENV = "HWNAS_TABLE_HOST"
_CACHE: dict[tuple[str, float, int], LatencyTable] = {}
_DEVICES: dict[tuple[str, float, int], dict[str, Any]] = {}
# The fields that say which machine a table was measured on (runtime versions are checked by
# validate and calibrate; they do not make another machine's table the better guess).
_MACHINE_FIELDS = ("kind", "name", "cpu")


def table_dirs() -> list[Path]:
    """Folders searched for ``ID.json``, in order."""
    extra = [Path(p) for p in os.environ.get("HWNAS_TABLE_PATH", "").split(os.pathsep) if p]
    return [*extra, SHIPPED_TABLES]


@functools.cache
def this_machine() -> dict[str, Any]:
    """This machine's CPU as a table's ``device`` field records it (:func:`cpu_device`), read
    once per process."""
    return cpu_device()


def _recorded_device(path: Path) -> dict[str, Any]:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime, stat.st_size)
    if key not in _DEVICES:
        try:
            device = json.loads(path.read_text()).get("device", {})
        except (json.JSONDecodeError, AttributeError):
            device = {}  # read_table names the problem when the table is loaded
        _DEVICES[key] = device if isinstance(device, dict) else {}
    return _DEVICES[key]


def machine_matches(device: dict[str, Any], machine: dict[str, Any] | None = None) -> bool:
    """Whether a table's recorded ``device`` was measured on a machine like ``machine`` (this
    one by default): same kind, CPU name and, where both record it, CPU identity."""
    here = this_machine() if machine is None else machine
    mine = {k: device[k] for k in _MACHINE_FIELDS if k in device}
    return "name" in mine and not fingerprint_mismatches(mine, here)


def table_choices() -> dict[str, dict[str, Path]]:
    """Table id -> host -> file, for every table found: ``"default"`` is a folder's ``ID.json``,
    any other host a ``hosts/NAME/ID.json`` beside it. Folders add to each other: an earlier
    folder wins a repeated (id, host), and its variants are tried first."""
    found: dict[str, dict[str, Path]] = {}
    for d in table_dirs():
        if not d.is_dir():
            continue
        files = [("default", p) for p in sorted(d.glob("*.json"))]
        files += [(p.parent.name, p) for p in sorted((d / HOSTS_DIR).glob("*/*.json"))]
        for host, p in files:
            found.setdefault(p.stem, {}).setdefault(host, p)
    return dict(sorted(found.items()))


def chosen_host(hosts: dict[str, Path]) -> str | None:
    """Which of an id's ``hosts`` (:func:`table_choices`) a lookup takes: ``$HWNAS_TABLE_HOST``
    if set, else the first host variant measured on a machine like this one, else
    ``"default"``; ``None`` where the chosen one does not exist."""
    forced = os.environ.get(HOST_ENV, "").strip()
    if forced:
        return forced if forced in hosts else ("default" if "default" in hosts else None)
    for host, path in hosts.items():
        if host != "default" and machine_matches(_recorded_device(path)):
            return host
    return "default" if "default" in hosts else None


def resolve_tables() -> dict[str, tuple[str, dict[str, Path]]]:
    """Table id -> (the host a lookup takes, all its hosts), for every id some host of which
    is there (:func:`table_choices`, :func:`chosen_host`).

    Raises:
        NasError: ``$HWNAS_TABLE_HOST`` names a host no table folder has.
    """
    choices = table_choices()
    forced = os.environ.get(HOST_ENV, "").strip()
    known = {h for hosts in choices.values() for h in hosts}
    if forced and forced not in known:
        raise NasError(f"${HOST_ENV}={forced!r}: no table folder has such a host; known: "
                       f"{', '.join(sorted(known | {'default'}))}")
    out = {}
    for tid, hosts in choices.items():
        host = chosen_host(hosts)
        if host is not None:
            out[tid] = (host, hosts)
    return out


def table_paths() -> dict[str, Path]:
    """Table id -> file, for every table found: the host variant for this machine, else the
    first folder's ``ID.json`` (:func:`chosen_host`)."""
    return {tid: hosts[host] for tid, (host, hosts) in resolve_tables().items()}


def host_of(path: str | Path) -> str:
    """The host a table file is a variant for: ``NAME`` for ``.../hosts/NAME/ID.json``, else
    ``"default"``."""
    parent = Path(path).parent
    return parent.name if parent.parent.name == HOSTS_DIR else "default"


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
        try:
            _CACHE[key] = read_table(path)
        except NasError as exc:
            shipped = _shipped_twin(path)
            if shipped is None:
                raise
            raise NasError(f"{exc}; this file in $HWNAS_TABLE_PATH has the id of the shipped "
                           f"table {shipped} and takes its place: fix or remove it, or take its "
                           "folder out of $HWNAS_TABLE_PATH to use the shipped one") from None
    return _CACHE[key]


def _shipped_twin(path: Path) -> Path | None:
    """The shipped table with the id (and host) of ``path``, when ``path`` is not shipped."""
    try:
        path.resolve().relative_to(SHIPPED_TABLES.resolve())
        return None
    except ValueError:
        pass
    host = host_of(path)
    twin = SHIPPED_TABLES / (path.name if host == "default" else f"{HOSTS_DIR}/{host}/{path.name}")
    return twin if twin.is_file() else None


def list_tables() -> list[LatencyTable]:
    """Every table found, sorted by id. A corrupt file raises :class:`NasError` naming it."""
    return [load_table(p) for p in table_paths().values()]
