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


# How many trials a sampler may be asked for before any is told, given how many were told, such
# that it proposes what it would one at a time: cheap-only searches score them in one batch.
BatchRoom = Callable[["SamplerConfig", int], int]
RANDOM_BATCH = 64  # random proposals do not depend on the history: any size; this bounds memory


def _generation_room(cfg: SamplerConfig, told: int) -> int:
    # A GA sampler puts a trial in the generation whose completed trials are fewer than the
    # population, and breeds a generation from the last complete one: a batch must not run past
    # the end of the current generation. Every trial of a cheap-only search completes.
    population = cfg.population_size or 50
    return population - told % population


BATCH_ROOMS: dict[str, BatchRoom] = {
    "nsga2": _generation_room,
    "nsga3": _generation_room,
    "random": lambda cfg, told: RANDOM_BATCH,
}


def register_sampler(name: str, factory: SamplerFactory, batch_room: BatchRoom | None = None) -> None:
    """Add a sampler under ``name``: ``factory(sampler_config) -> optuna sampler``; ``batch_room``
    (default: one trial at a time) says how many it may be asked for at once (:data:`BatchRoom`)."""
    SAMPLERS[name] = factory
    if batch_room is not None:
        BATCH_ROOMS[name] = batch_room
    else:
        BATCH_ROOMS.pop(name, None)


def batch_room(cfg: SamplerConfig, told: int) -> int:
    """Trials the configured sampler may be asked for before any is told (TPE and samplers
    registered without a rule: 1, as each proposal depends on every result before it)."""
    rule = BATCH_ROOMS.get(cfg.name)
    return 1 if rule is None else max(1, rule(cfg, told))


def make_sampler(cfg: SamplerConfig) -> optuna.samplers.BaseSampler:
    """The seeded sampler ``cfg`` names."""
    with warnings.catch_warnings():
        # multivariate/constant-liar TPE is marked experimental; we rely on it knowingly.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[cfg.name](cfg)
