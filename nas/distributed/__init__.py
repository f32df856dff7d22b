"""Distributed search on Ray: the driver owns the Optuna study, evaluations run as Ray tasks.

The search loop is :func:`nas.search.run_search`'s; :class:`RayExecutor` is the strategy that
sends its evaluations to Ray (``nas search CONFIG --ray``)::

    from nas.distributed import RayExecutor, load_search_config
    from nas.search import run_search
    config, resources, workers = load_search_config("experiments/quickstart.yaml")
    run = run_search(config, "runs/on_ray", executor=RayExecutor(workers=workers, resources=resources))

:func:`ray_cluster` starts or joins Ray; :class:`TrialResources` is the per-trial resource request
(the config's ``ray:`` section). Importing this package does not import Ray.
"""

from __future__ import annotations

from nas.distributed._cluster import ClusterInfo, describe_cluster, parse_address, ray_cluster, trials_fitting
from nas.distributed._config import load_search_config
from nas.distributed._executor import (
    WORKER_ATTR,
    DispatchStats,
    RayExecutor,
    evaluate_on_worker,
    exception_text,
)
from nas.distributed._resources import TrialResources, parse_ray_section

__all__ = [
    "WORKER_ATTR",
    "ClusterInfo",
    "DispatchStats",
    "RayExecutor",
    "TrialResources",
    "describe_cluster",
    "evaluate_on_worker",
    "exception_text",
    "load_search_config",
    "parse_address",
    "parse_ray_section",
    "ray_cluster",
    "trials_fitting",
]
