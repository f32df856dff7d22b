"""Accuracy evaluators: short proxy training with successive halving, and zero-cost proxies.

An evaluator is a picklable callable ``(arch, reporter) -> EvalResult``; the search runner calls it
only for candidates that passed every hard constraint.
"""

from __future__ import annotations

from nas.evaluators._config import (
    DEVICES,
    EVALUATOR_KINDS,
    LR_SCHEDULES,
    OPTIMIZERS,
    ZERO_COST_PROXIES,
    EvaluatorConfig,
    HalvingConfig,
    TrainConfig,
    ZeroCostConfig,
    evaluator_from_dict,
    evaluator_to_dict,
)
from nas.evaluators._evaluator import AccuracyEvaluator, evaluate_accuracy
from nas.evaluators._result import COMPLETE, FAILED, STOPPED, EvalFailed, EvalResult, RungReporter
from nas.evaluators._train import train_accuracy
from nas.evaluators._zero_cost import PROXIES, grad_norm, naswot, synflow
from nas.recipe import recalibrate_bn

__all__ = [
    "COMPLETE",
    "DEVICES",
    "EVALUATOR_KINDS",
    "FAILED",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "PROXIES",
    "STOPPED",
    "ZERO_COST_PROXIES",
    "AccuracyEvaluator",
    "EvalFailed",
    "EvalResult",
    "EvaluatorConfig",
    "HalvingConfig",
    "RungReporter",
    "TrainConfig",
    "ZeroCostConfig",
    "evaluate_accuracy",
    "evaluator_from_dict",
    "evaluator_to_dict",
    "grad_norm",
    "naswot",
    "recalibrate_bn",
    "synflow",
    "train_accuracy",
]
