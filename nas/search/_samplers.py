"""Sampler registry: name -> factory building a seeded Optuna sampler.

Hard constraints reach every sampler through Optuna's per-trial constraint values
(the ``constraints`` system attr a ``constraints_func`` would write, stored with the trial
before ``study.tell``): NSGA-II/III use
constrained domination, TPE ranks infeasible trials by their total violation, random ignores
them. Being stored on the trial, they work with ask/tell and with several drivers on one storage.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import optuna

if TYPE_CHECKING:
    from nas.search._config import SamplerConfig

SamplerFactory = Callable[["SamplerConfig"], optuna.samplers.BaseSampler]


def _nsga2(cfg: SamplerConfig) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=cfg.seed, population_size=cfg.population_size or 50)


def _nsga3(cfg: SamplerConfig) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIIISampler(seed=cfg.seed, population_size=cfg.population_size or 50)


def _tpe(cfg: SamplerConfig) -> optuna.samplers.BaseSampler:
    startup = cfg.n_startup_trials if cfg.n_startup_trials is not None else 10
    # multivariate TPE models the genes jointly; constant_liar keeps parallel workers apart.
    return optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True, constant_liar=True,
                                      n_startup_trials=startup)


def _random(cfg: SamplerConfig) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=cfg.seed)


SAMPLERS: dict[str, SamplerFactory] = {
    "nsga2": _nsga2,
    "nsga3": _nsga3,
    "tpe": _tpe,
    "random": _random,
}


def register_sampler(name: str, factory: SamplerFactory) -> None:
    """Add a sampler under ``name``: ``factory(sampler_config) -> optuna sampler``."""
    SAMPLERS[name] = factory


def make_sampler(cfg: SamplerConfig) -> optuna.samplers.BaseSampler:
    """The seeded sampler ``cfg`` names."""
    with warnings.catch_warnings():
        # multivariate/constant-liar TPE is marked experimental; we rely on it knowingly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[cfg.name](cfg)
