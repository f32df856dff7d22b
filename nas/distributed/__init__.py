"""Distributed search on Ray: the driver owns the Optuna study and dispatches evaluations as Ray tasks.

:func:`run_search_on_ray` is ``nas search CONFIG --ray``; :func:`ray_cluster` starts or joins Ray;
:func:`run_trials` is the generic ask/dispatch/tell loop with bounded retries for lost workers;
:class:`TrialResources` is the per-trial resource request (the config's ``ray:`` section).
Importing this package does not import Ray.
"""

from __future__ import annotations

from nas.distributed._cluster import ClusterInfo, describe_cluster, parse_address, ray_cluster, trials_fitting
from nas.distributed._config import load_search_config, read_ray_section
from nas.distributed._dispatch import (
    WORKER_ATTR,
    DispatchStats,
    Job,
    evaluate_on_worker,
    exception_text,
    run_trials,
    tell_failed,
    tell_values,
)
from nas.distributed._resources import TrialResources, parse_ray_section
from nas.distributed._search import (
    DRIVER_ATTR,
    evaluate_candidate,
    ray_search_loop,
    recover_interrupted,
    run_search_on_ray,
)
from nas.distributed._storage import open_storage

__all__ = [
    "DRIVER_ATTR",
    "WORKER_ATTR",
    "ClusterInfo",
    "DispatchStats",
    "Job",
    "TrialResources",
    "describe_cluster",
    "evaluate_candidate",
    "evaluate_on_worker",
    "exception_text",
    "load_search_config",
    "open_storage",
    "parse_address",
    "parse_ray_section",
    "ray_cluster",
    "ray_search_loop",
    "read_ray_section",
    "recover_interrupted",
    "run_search_on_ray",
    "run_trials",
    "tell_failed",
    "tell_values",
    "trials_fitting",
]
