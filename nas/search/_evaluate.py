"""Accuracy evaluation as a plain function of (config, arch): what a worker process runs.

Everything it needs travels in its arguments (a frozen, picklable config and the canonical arch
text); the dataset is loaded on first use in the calling process and kept for later calls with the
same evaluator settings (a small memo, not shared state: results never depend on it).
"""

from __future__ import annotations

from functools import lru_cache

from nas._errors import NasError
from nas.evaluators import AccuracyEvaluator, EvalResult, EvaluatorConfig, RungReporter
from nas.search._config import SearchConfig


@lru_cache(maxsize=4)
def _evaluator(config: EvaluatorConfig, dataset: str, space: str) -> AccuracyEvaluator:
    return AccuracyEvaluator(config, dataset=dataset, space=space)


def evaluate(config: SearchConfig, arch: str, reporter: RungReporter | None = None) -> EvalResult:
    """Score ``arch`` (canonical text) with ``config``'s evaluator on its dataset.

    Failures tied to the candidate (diverging loss, out of memory, an invalid network) come back
    as a ``failed`` :class:`~nas.evaluators.EvalResult`; anything else raises.
    """
    if config.evaluator is None:
        raise NasError("evaluator: the config has no accuracy evaluator")
    return _evaluator(config.evaluator, config.dataset, config.space)(arch, reporter)
