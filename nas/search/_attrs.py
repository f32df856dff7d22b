"""Names of the trial user attributes a search writes (a stable contract for readers of runs).

Every trial: ``arch`` (canonical text), ``arch_hash``, every cheap metric under its name
(``macs``, ``params``, ``peak_memory``, ``latency:TABLE_ID``), ``feasible``, ``trained``
(whether the accuracy evaluator ran in this trial), ``cheap_ms`` (asking and cheap scoring; a
trial asked in a batch has its share of the batch).
Trained trials: ``accuracy``, ``eval_s``, and evaluator details (``epochs``, ``rung:E``,
``stopped_at_epoch``, ``epoch_accuracy``, ``zero_cost:NAME``). A trial answered from the cache
has ``cached_from`` (the trial number it copies). A failed trial has ``fail_reason``. In a study
other drivers may share (an external ``storage:``), every trial has ``driver`` (host and run
folder of the driver that asked it); trials evaluated on Ray have ``ray_worker`` (where it ran).

Hard constraints are not a user attribute: every trial's relative violations (config order, <= 0
satisfied) are Optuna's own constraint values, the ``constraints`` system attribute, read by the
samplers, ``FrozenTrial.constraints`` and optuna-dashboard.
"""

from __future__ import annotations

ARCH = "arch"
ARCH_HASH = "arch_hash"
CONSTRAINTS = "constraints"  # system attr: optuna.study._constrained_optimization._CONSTRAINTS_KEY
FEASIBLE = "feasible"
TRAINED = "trained"
CACHED_FROM = "cached_from"
FAIL_REASON = "fail_reason"
CHEAP_MS = "cheap_ms"
EVAL_S = "eval_s"
EPOCHS = "epochs"
STOPPED_AT = "stopped_at_epoch"
EPOCH_ACCURACY = "epoch_accuracy"
RUNG_PREFIX = "rung:"
ZERO_COST_PREFIX = "zero_cost:"
INTERRUPTED = "interrupted"
DRIVER = "driver"
REQUEUED_FROM = "requeued_from"  # a re-run of an interrupted trial: that trial's number
CONFIG_HASH = "hwnas_config_hash"  # study attr: the problem the study was created for
TABLES = "hwnas_tables"  # study attr: table id -> content hash its latencies were scored with


def rung_attr(epoch: int) -> str:
    return f"{RUNG_PREFIX}{epoch}"
