"""Cheap-only searches ask the sampler in batches and score them in one vectorized call: the
trials, their values, the cache copies and the resume must be what one trial at a time gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _search_env import LAT, TABLE, config

from nas.search import SAMPLERS, SamplerConfig, batch_room, check_config, load_run, register_sampler, run_search
from nas.search._samplers import BATCH_ROOMS


@pytest.fixture
def one_at_a_time() -> Iterator[str]:
    """Every batching sampler again under a name with no batch rule (asked one at a time)."""
    names = [n for n in BATCH_ROOMS if n in SAMPLERS]
    for name in names:
        register_sampler(f"{name}_single", SAMPLERS[name])
    yield "_single"
    for name in names:
        SAMPLERS.pop(f"{name}_single")


def _trials(env: Path, run_dir: Path, sampler: str, n_trials: int = 45) -> list[tuple]:
    cfg = config(env, objectives=[LAT, "macs"], evaluator=None, n_trials=n_trials,
                 constraints=[f"{LAT} <= {_median_latency(env)!r}"],
                 sampler={"name": sampler, "seed": 3, **({"population_size": 8} if "nsga" in sampler else {})})
    run_search(cfg, run_dir, progress=False, report=False)
    return [(t.number, t.state, t.arch, t.values.get(LAT), t.values.get("macs"), t.feasible, t.cached_from)
            for t in load_run(run_dir).trials()]


def _median_latency(env: Path) -> float:
    problem = check_config(config(env, objectives=[LAT, "macs"], evaluator=None))
    rng = np.random.default_rng(0)
    return float(np.median(problem.tables[TABLE].predict_many([problem.space.sample(rng) for _ in range(30)],
                                                              classes=problem.classes,
                                                              in_channels=problem.in_channels)))


@pytest.mark.parametrize("sampler", ["nsga2", "nsga3", "random"])
def test_a_batched_search_asks_and_tells_what_one_at_a_time_does(env: Path, tmp_path: Path, sampler: str,
                                                                  one_at_a_time: str) -> None:
    batched = _trials(env, tmp_path / "batched", sampler)
    single = _trials(env, tmp_path / "single", sampler + one_at_a_time)
    assert batched == single
    assert any(t[-1] is not None for t in batched), "the tiny space should repeat archs (cache copies)"
    assert any(t[5] is False for t in batched) and any(t[5] for t in batched)


def test_a_resumed_batched_search_keeps_whole_generations(env: Path, tmp_path: Path) -> None:
    """Stopped inside a generation, the resume first fills that generation, then goes on by whole ones."""
    _trials(env, tmp_path / "run", "nsga2", n_trials=21)  # generations of 8: stops 5 short
    cfg = config(env, objectives=[LAT, "macs"], evaluator=None, n_trials=45,
                 constraints=[f"{LAT} <= {_median_latency(env)!r}"],
                 sampler={"name": "nsga2", "seed": 3, "population_size": 8})
    run = run_search(cfg, tmp_path / "run", resume=True, progress=False, report=False)
    generations = [t.system_attrs["NSGAIISampler:generation"] for t in run.study().trials]
    assert len(generations) == 45
    assert generations == sorted(generations)
    assert [generations.count(g) for g in range(5)] == [8] * 5


def test_batch_rooms_keep_ga_generations_whole() -> None:
    cfg = SamplerConfig(name="nsga2", seed=0, population_size=8)
    assert [batch_room(cfg, told) for told in (0, 3, 8, 15, 16)] == [8, 5, 8, 1, 8]
    assert batch_room(SamplerConfig(name="tpe"), 100) == 1
    assert batch_room(SamplerConfig(name="random"), 7) > 1


def test_cheap_scores_many_equal_one_by_one(env: Path) -> None:
    problem = check_config(config(env, objectives=[LAT, "macs", "params"], evaluator=None))
    rng = np.random.default_rng(1)
    archs = [problem.space.sample(rng) for _ in range(25)]
    many = problem.cheap_scores_many(archs)
    for arch, scores in zip(archs, many, strict=True):
        table = problem.tables[TABLE].predict(arch, classes=problem.classes, in_channels=problem.in_channels)
        assert scores[LAT] == pytest.approx(table.latency_ms, rel=1e-9)
        assert scores == pytest.approx(problem.cheap_scores(arch), rel=1e-9)
