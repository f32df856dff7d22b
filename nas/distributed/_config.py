"""Reading a search config together with its ``ray:`` section.

The ``ray:`` mapping says what each trial asks of the cluster and how many run at once::

    ray:
      num_cpus: 1          # per trial (default 1)
      num_gpus: 0          # per trial
      resources: {jetson: 1}   # custom node resources: the trial runs only on such a node
      max_retries: 2       # resubmissions of a trial whose worker or node died
      workers: 4           # trials at once (default: as many as the cluster fits); --workers wins

A Python config script gives the same as a module-level ``ray = {...}`` beside ``config``. The
section is read here and the rest of the file goes to :class:`nas.search.SearchConfig` unchanged.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import yaml

from nas._errors import NasError
from nas.distributed._resources import TrialResources, parse_ray_section

RAY_KEY = "ray"


def read_ray_section(path: str | Path) -> Any:
    """The raw ``ray:`` mapping of a YAML/JSON config or the ``ray`` variable of a ``.py`` config."""
    path = Path(path)
    if not path.is_file():
        raise NasError(f"config {path}: not found")
    if path.suffix == ".py":
        from nas.search._load import SCRIPT_RUN_NAME

        try:
            section = runpy.run_path(str(path), run_name=SCRIPT_RUN_NAME).get(RAY_KEY)
        except NasError as exc:
            raise NasError(f"{path.name}: {exc}") from None
        return section  # checked by parse_ray_section
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise NasError(f"{path.name}: not valid YAML ({exc})") from None
    return data.get(RAY_KEY) if isinstance(data, dict) else None


def load_search_config(path: str | Path) -> tuple[Any, TrialResources, int | None]:
    """``(SearchConfig, per-trial resources, workers or None)`` from a config file.

    Errors name the file and the field, as :func:`nas.search.load_config` does.
    """
    from nas.search import SearchConfig, load_config

    path = Path(path)
    section = read_ray_section(path)
    try:
        resources, workers = parse_ray_section(section)
    except NasError as exc:
        raise NasError(f"{path.name}: {exc}") from None
    if path.suffix == ".py" or section is None:
        return load_config(path), resources, workers
    data = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != RAY_KEY}
    try:
        return SearchConfig.from_dict(data, default_name=path.stem), resources, workers
    except NasError as exc:
        raise NasError(f"{path.name}: {exc}") from None
