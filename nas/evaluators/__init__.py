"""Accuracy evaluators: short proxy training with successive halving, and zero-cost proxies.

An evaluator is a picklable callable ``(arch, reporter) -> EvalResult``; the search runner calls it
only for candidates that passed every hard constraint.
"""

from __future__ import annotations

from nas.evaluators._config import (
    DEVICES,
    EVALUATOR_CLASSES,
    EVALUATOR_KINDS,
    LR_SCHEDULES,
    OPTIMIZERS,
    PREDICTOR_MODELS,
    ZERO_COST_PROXIES,
    EvaluatorConfig,
    HalvingConfig,
    PredictorConfig,
    SupernetEvalConfig,
    TrainConfig,
    ZeroCostConfig,
    evaluator_from_dict,
    evaluator_to_dict,
)
from nas.evaluators._evaluator import AccuracyEvaluator, evaluate_accuracy
from nas.evaluators._predictor import Fit, encode, fit_predictor
from nas.evaluators._result import COMPLETE, FAILED, STOPPED, EvalFailed, EvalResult, RungReporter
from nas.evaluators._train import train_accuracy
from nas.evaluators._zero_cost import PROXIES, grad_norm, naswot, synflow
from nas.recipe import recalibrate_bn

__all__ = [
    "COMPLETE",
    "DEVICES",
    "EVALUATOR_CLASSES",
    "EVALUATOR_KINDS",
    "FAILED",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "PREDICTOR_MODELS",
    "PROXIES",
    "STOPPED",
    "ZERO_COST_PROXIES",
    "AccuracyEvaluator",
    "EvalFailed",
    "EvalResult",
    "EvaluatorConfig",
    "Fit",
    "HalvingConfig",
    "PredictorConfig",
    "RungReporter",
    "SupernetEvalConfig",
    "TrainConfig",
    "ZeroCostConfig",
    "encode",
    "evaluate_accuracy",
    "evaluator_from_dict",
    "evaluator_to_dict",
    "fit_predictor",
    "grad_norm",
    "naswot",
    "recalibrate_bn",
    "synflow",
    "train_accuracy",
]
