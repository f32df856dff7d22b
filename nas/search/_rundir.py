"""The run folder: ``run.json`` (what the run is), the default SQLite storage, a driver lock.

``run.json`` is a stable contract for tools that read runs (export, reports)::

    {"format": "hwnas-search-run", "version": 1, "hwnas_version": "0.1.0",
     "storage": "journal:///abs/run/study.journal", "storage_in_run_dir": true, "study_name": "...",
     "space": {"name", "resolutions", "widths", "path"}, "classes": 10, "in_channels": 1,
     "dataset": "digits", "evaluator": "train",
     "objectives": [{"name": "accuracy", "direction": "maximize"}, ...],
     "constraints": [{"text": "macs <= 30000000", "metric": "macs", "op": "<=", "bound": 3e7}],
     "tables": [{"id", "content_hash", "device", "path"}],
     "config_hash": "16 hex", "config": {... SearchConfig.to_dict() ...}}

When ``storage_in_run_dir`` is true the storage is ``study.journal`` (or, for runs whose workers
read the study, ``study.db``) inside the folder wherever the folder has moved to.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nas import __version__
from nas._errors import NasError
from nas.search._journal import JOURNAL_FILE, JOURNAL_SCHEME, journal_url
from nas.search._problem import Problem

RUN_JSON = "run.json"
RUN_FORMAT = "hwnas-search-run"
RUN_VERSION = 1
DEFAULT_DB = "study.db"
LOCK_FILE = ".lock"


def default_storage(run_dir: Path, *, journal: bool = True) -> str:
    """The run folder's own storage: its journal (the default), or a SQLite file (for workers in
    other processes that read the study while it runs: successive halving on Ray)."""
    if journal:
        return journal_url(run_dir / JOURNAL_FILE)
    return f"sqlite:///{(run_dir / DEFAULT_DB).resolve()}"


def storage_url(info: dict[str, Any], run_dir: Path) -> str:
    """The storage URL of a run, following the folder when the storage lives in it."""
    if info.get("storage_in_run_dir"):
        return default_storage(run_dir, journal=str(info["storage"]).startswith(JOURNAL_SCHEME))
    return str(info["storage"])


def run_info(problem: Problem, storage: str, in_run_dir: bool) -> dict[str, Any]:
    cfg = problem.config
    return {
        "format": RUN_FORMAT,
        "version": RUN_VERSION,
        "hwnas_version": __version__,
        "storage": storage,
        "storage_in_run_dir": in_run_dir,
        "study_name": cfg.study,
        "space": {"name": problem.space.name, "resolutions": list(problem.space.resolutions),
                  "widths": list(problem.space.widths), "path": problem.space.path},
        "classes": problem.classes,
        "in_channels": problem.in_channels,
        "dataset": cfg.dataset,
        "evaluator": cfg.evaluator.kind if cfg.evaluator else None,
        "objectives": [{"name": o.metric, "direction": o.direction} for o in cfg.objectives],
        "constraints": [{"text": str(c), "metric": c.metric, "op": c.op, "bound": c.bound}
                        for c in cfg.constraints],
        "tables": problem.table_info(),
        "config_hash": cfg.problem_hash(),
        "config": cfg.to_dict(),
    }


def write_run_info(run_dir: Path, info: dict[str, Any]) -> Path:
    """Write ``run.json`` atomically (a reader never sees half a file)."""
    path = run_dir / RUN_JSON
    tmp = path.with_name(RUN_JSON + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_run_info(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    path = run_dir / RUN_JSON
    if not path.is_file():
        raise NasError(f"{run_dir}: not a search run folder (no {RUN_JSON})")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NasError(f"{path}: corrupt, not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise NasError(f"{path}: field 'format' is not {RUN_FORMAT!r}")
    if info.get("version") != RUN_VERSION:
        raise NasError(f"{path}: unknown version {info.get('version')!r}; this hwnas reads "
                       f"version {RUN_VERSION}")
    return info


@contextlib.contextmanager
def driver_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder (released by the OS even on SIGKILL)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / LOCK_FILE).open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NasError(f"{run_dir}: another search is running in this run folder") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
