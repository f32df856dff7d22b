"""Sampler registry: name -> factory building a seeded Optuna sampler with constraints support.

Hard constraints reach the sampler through Optuna's ``constraints_func``, which reads the
constraint values the runner stores in the trial's user attribute ``constraints`` before
``study.tell`` (so it works with ask/tell, and with several drivers sharing one storage).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import optuna

if TYPE_CHECKING:
    from nas.search._config import SamplerConfig

CONSTRAINTS_ATTR = "constraints"
ConstraintsFunc = Callable[[optuna.trial.FrozenTrial], Sequence[float]]
SamplerFactory = Callable[["SamplerConfig", "ConstraintsFunc | None"], optuna.samplers.BaseSampler]


def stored_constraints(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
    """The constraint values (<= 0 is satisfied) the runner stored on ``trial``."""
    return [float(v) for v in trial.user_attrs[CONSTRAINTS_ATTR]]


def _nsga2(cfg: SamplerConfig, constraints: ConstraintsFunc | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=cfg.seed, constraints_func=constraints,
                                         population_size=cfg.population_size or 50)


def _nsga3(cfg: SamplerConfig, constraints: ConstraintsFunc | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIIISampler(seed=cfg.seed, constraints_func=constraints,
                                          population_size=cfg.population_size or 50)


def _tpe(cfg: SamplerConfig, constraints: ConstraintsFunc | None) -> optuna.samplers.BaseSampler:
    startup = cfg.n_startup_trials if cfg.n_startup_trials is not None else 10
    # multivariate TPE models the genes jointly; constant_liar keeps parallel workers apart.
    return optuna.samplers.TPESampler(seed=cfg.seed, constraints_func=constraints,
                                      multivariate=True, constant_liar=True,
                                      n_startup_trials=startup)


def _random(cfg: SamplerConfig, constraints: ConstraintsFunc | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=cfg.seed)


SAMPLERS: dict[str, SamplerFactory] = {
    "nsga2": _nsga2,
    "nsga3": _nsga3,
    "tpe": _tpe,
    "random": _random,
}


def register_sampler(name: str, factory: SamplerFactory) -> None:
    """Add a sampler under ``name`` (``factory(sampler_config, constraints_func_or_None)``)."""
    SAMPLERS[name] = factory


def make_sampler(cfg: SamplerConfig, *, constrained: bool) -> optuna.samplers.BaseSampler:
    """The sampler ``cfg`` names, reading stored constraint values when ``constrained``."""
    with warnings.catch_warnings():
        # constraints_func and multivariate TPE are marked experimental; we rely on them knowingly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[cfg.name](cfg, stored_constraints if constrained else None)
