"""Distributed search on Ray: the driver owns the Optuna study and dispatches evaluations as Ray tasks.

:func:`ray_cluster` starts or joins Ray; :func:`run_trials` is the ask/dispatch/tell loop with
bounded retries for lost workers; :class:`TrialResources` is the per-trial resource request.
"""

from __future__ import annotations

from nas.distributed._cluster import ClusterInfo, describe_cluster, parse_address, ray_cluster, trials_fitting
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
from nas.distributed._storage import open_storage

__all__ = [
    "WORKER_ATTR",
    "ClusterInfo",
    "DispatchStats",
    "Job",
    "TrialResources",
    "describe_cluster",
    "evaluate_on_worker",
    "exception_text",
    "open_storage",
    "parse_address",
    "parse_ray_section",
    "ray_cluster",
    "run_trials",
    "tell_failed",
    "tell_values",
    "trials_fitting",
]
