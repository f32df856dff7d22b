"""A search config together with its ``ray:`` section, read as the per-trial resources.

The ``ray:`` mapping says what each trial asks of the cluster and how many run at once::

    ray:
      num_cpus: 1          # per trial (default 1)
      num_gpus: 0          # per trial
      resources: {jetson: 1}   # custom node resources: the trial runs only on such a node
      max_retries: 2       # resubmissions of a trial whose worker or node died
      workers: 4           # trials at once (default: as many as the cluster fits); --workers wins

A Python config script gives the same as a module-level ``ray = {...}`` beside ``config``. The file
is read once, by :func:`nas.search.read_config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas.distributed._resources import TrialResources, parse_ray_section
from nas.search import read_config


def load_search_config(path: str | Path) -> tuple[Any, TrialResources, int | None]:
    """``(SearchConfig, per-trial resources, workers or None)``; defaults without a ``ray:`` section.

    Errors name the file and the field, as :func:`nas.search.load_config` does.
    """
    config, section = read_config(path)
    try:
        resources, workers = parse_ray_section(section)
    except NasError as exc:
        raise NasError(f"{Path(path).name}: {exc}") from None
    return config, resources, workers
