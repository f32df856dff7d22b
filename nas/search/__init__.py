"""Multi-objective hardware-aware search: config, cheap-first constraints, runner, results.

    from nas.search import load_config, run_search, load_run
    config = load_config("experiments/quickstart.yaml")
    run = run_search(config, "runs/quickstart")
    front = run.pareto()
"""

from __future__ import annotations

from nas.evaluators import (
    EVALUATOR_KINDS,
    LR_SCHEDULES,
    OPTIMIZERS,
    ZERO_COST_PROXIES,
    EvaluatorConfig,
    HalvingConfig,
    TrainConfig,
    ZeroCostConfig,
)
from nas.search._config import MemoryConfig, SamplerConfig, SearchConfig
from nas.search._driver import Candidate, SearchDriver
from nas.search._evaluate import evaluate
from nas.search._halving import StorageRungs, should_stop
from nas.search._load import load_config
from nas.search._metrics import ACCURACY, COST_METRICS, Constraint, Objective
from nas.search._pareto import hypervolume, non_dominated, to_minimization
from nas.search._problem import Problem, check_config, dataset_shape
from nas.search._report import pareto_table, write_results
from nas.search._results import Run, TrialRecord, load_run
from nas.search._runner import default_run_dir, open_study, run_search, search_loop
from nas.search._samplers import SAMPLERS, make_sampler, register_sampler

__all__ = [
    "ACCURACY",
    "COST_METRICS",
    "EVALUATOR_KINDS",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "SAMPLERS",
    "ZERO_COST_PROXIES",
    "Candidate",
    "Constraint",
    "EvaluatorConfig",
    "HalvingConfig",
    "MemoryConfig",
    "Objective",
    "Problem",
    "Run",
    "SamplerConfig",
    "SearchConfig",
    "SearchDriver",
    "StorageRungs",
    "TrainConfig",
    "TrialRecord",
    "ZeroCostConfig",
    "check_config",
    "dataset_shape",
    "default_run_dir",
    "evaluate",
    "hypervolume",
    "load_config",
    "load_run",
    "make_sampler",
    "non_dominated",
    "open_study",
    "pareto_table",
    "register_sampler",
    "run_search",
    "search_loop",
    "should_stop",
    "to_minimization",
    "write_results",
]
