"""Multi-objective hardware-aware search: config, cheap-first constraints, one loop, results.

    from nas.search import load_config, run_search, load_run
    config = load_config("experiments/quickstart.yaml")
    run = run_search(config, "runs/quickstart")
    front = run.pareto()

Evaluations run in this process unless ``run_search`` gets another :class:`Executor`
(``nas.distributed.RayExecutor`` runs them on Ray); the loop is the same.
"""

from __future__ import annotations

from nas.data import dataset_shape
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
from nas.search._attrs import DRIVER as DRIVER_ATTR
from nas.search._attrs import TABLES as STUDY_TABLES_ATTR
from nas.search._config import MemoryConfig, SamplerConfig, SearchConfig
from nas.search._driver import Candidate, SearchDriver
from nas.search._executor import Evaluator, Executor, InProcessExecutor, Outcome
from nas.search._halving import StorageRungs, should_stop
from nas.search._load import load_config, read_config
from nas.search._loop import search_loop
from nas.search._metrics import ACCURACY, COST_METRICS, Constraint, Display, Objective, display
from nas.search._pareto import hypervolume, non_dominated, non_dominated_2d, to_minimization
from nas.search._plots import (
    PairView,
    front_figure,
    hypervolume_curve,
    hypervolume_figure,
    pair_view,
    plot_pairs,
)
from nas.search._problem import Problem, check_config
from nas.search._report import pareto_table, write_results
from nas.search._results import Run, SnapshotRun, TrialRecord, load_run
from nas.search._runner import LOG_FILE, default_run_dir, run_search
from nas.search._samplers import SAMPLERS, batch_room, make_sampler, register_sampler
from nas.search._storage import open_storage
from nas.search._study import driver_tag, open_study

__all__ = [
    "ACCURACY",
    "COST_METRICS",
    "DRIVER_ATTR",
    "EVALUATOR_KINDS",
    "LOG_FILE",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "SAMPLERS",
    "STUDY_TABLES_ATTR",
    "ZERO_COST_PROXIES",
    "Candidate",
    "Constraint",
    "Display",
    "Evaluator",
    "EvaluatorConfig",
    "Executor",
    "HalvingConfig",
    "InProcessExecutor",
    "MemoryConfig",
    "Objective",
    "Outcome",
    "PairView",
    "Problem",
    "Run",
    "SamplerConfig",
    "SearchConfig",
    "SearchDriver",
    "SnapshotRun",
    "StorageRungs",
    "TrainConfig",
    "TrialRecord",
    "ZeroCostConfig",
    "batch_room",
    "check_config",
    "dataset_shape",
    "default_run_dir",
    "display",
    "driver_tag",
    "front_figure",
    "hypervolume",
    "hypervolume_curve",
    "hypervolume_figure",
    "load_config",
    "load_run",
    "make_sampler",
    "non_dominated",
    "non_dominated_2d",
    "open_storage",
    "open_study",
    "pair_view",
    "pareto_table",
    "plot_pairs",
    "read_config",
    "register_sampler",
    "run_search",
    "search_loop",
    "should_stop",
    "to_minimization",
    "write_results",
]
