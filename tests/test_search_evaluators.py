"""Accuracy evaluators on real data and models: successive halving against the study storage,
divergence recorded as a failure, zero-cost proxies."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from _search_env import FAST_TRAIN, TINY_SPACE, config

from nas.evaluators import (
    AccuracyEvaluator,
    HalvingConfig,
    TrainConfig,
    ZeroCostConfig,
)
from nas.recipe import lr_factor
from nas.search import StorageRungs, load_run, run_search, should_stop
from nas.space import get_space


@pytest.fixture(scope="module")
def space_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("space") / "tiny_search.yaml"
    path.write_text(TINY_SPACE)
    yield path


def _archs(space_file: Path, n: int, seed: int = 0) -> list[str]:
    space = get_space(space_file)
    rng = np.random.default_rng(seed)
    return [space.sample(rng).text for _ in range(n)]


@pytest.mark.parametrize("value, peers, eta, min_trials, stop", [
    (0.5, [], 2, 1, False),               # alone at the rung: it is the best
    (0.5, [0.9], 2, 3, False),            # too few trials at the rung to judge
    (0.5, [0.9, 0.8], 2, 3, True),        # 3 trials, keep top 1 (=0.9): 0.5 stops
    (0.85, [0.9, 0.8, 0.1], 2, 3, False),  # 4 trials, keep top 2 (0.9, 0.85)
    (0.8, [0.9, 0.85, 0.1], 2, 3, True),
    (0.9, [0.9, 0.9], 3, 1, False),       # ties with the k-th best continue
])
def test_should_stop(value: float, peers: list[float], eta: int, min_trials: int, stop: bool) -> None:
    assert should_stop(value, peers, eta, min_trials) is stop


def _study_with_rung_peers(tmp_path: Path, values: list[float]) -> tuple[optuna.Study, str]:
    url = f"sqlite:///{tmp_path / 'rungs.db'}"
    study = optuna.create_study(study_name="h", storage=url, directions=["maximize", "minimize"])
    for v in values:
        study.add_trial(optuna.trial.create_trial(values=[v, 1.0], user_attrs={"rung:1": v}))
    return study, url


@pytest.mark.slow
def test_successive_halving_stops_a_bad_training_and_records_it(space_file: Path,
                                                                tmp_path: Path) -> None:
    # Three earlier trials reached epoch 1 with 0.99; a fresh network on 96 images cannot.
    study, url = _study_with_rung_peers(tmp_path, [0.99, 0.99, 0.99])
    trial = study.ask()
    halving = HalvingConfig(rungs=(1,), eta=2, min_trials=3)
    cfg = TrainConfig(**{k: v for k, v in FAST_TRAIN.items() if k != "kind"} | {"epochs": 3},
                      halving=halving)
    reporter = StorageRungs(halving, storage_url=url, study_name="h", trial_id=trial._trial_id)
    evaluator = AccuracyEvaluator(cfg, dataset="digits", space=str(space_file))
    result = evaluator(_archs(space_file, 1)[0], reporter)
    assert result.status == "stopped" and result.attrs["stopped_at_epoch"] == 1
    assert result.attrs["epochs"] == 1 and len(result.attrs["epoch_accuracy"]) == 1
    # The rung value is in the storage, where other workers and a resumed search read it.
    stored = optuna.load_study(study_name="h", storage=url).trials[-1].user_attrs
    assert stored["rung:1"] == result.accuracy < 0.99


@pytest.mark.slow
def test_good_training_passes_the_rung_and_completes(space_file: Path, tmp_path: Path) -> None:
    study, url = _study_with_rung_peers(tmp_path, [0.0, 0.0, 0.0])
    trial = study.ask()
    halving = HalvingConfig(rungs=(1,), eta=2, min_trials=3)
    cfg = TrainConfig(**{k: v for k, v in FAST_TRAIN.items() if k != "kind"} | {"epochs": 2},
                      halving=halving)
    reporter = StorageRungs(halving, storage_url=url, study_name="h", trial_id=trial._trial_id)
    result = AccuracyEvaluator(cfg, dataset="digits", space=str(space_file))(
        _archs(space_file, 1)[0], reporter)
    assert result.status == "complete" and result.attrs["epochs"] == 2
    assert len(result.attrs["epoch_accuracy"]) == 2 and 0 < result.accuracy <= 1


@pytest.mark.slow
def test_halving_in_a_search_stops_trials_below_the_rung_cut(space_file: Path, tmp_path: Path) -> None:
    train = dict(FAST_TRAIN, epochs=2, halving={"rungs": [1], "eta": 2, "min_trials": 2})
    run = run_search(config(tmp_path, space=str(space_file), objectives=["accuracy", "macs"],
                            n_trials=8, evaluator=train), tmp_path / "h", progress=False)
    trials = [t for t in run.trials() if t.cached_from is None]
    seen: list[float] = []
    for t in trials:  # sequential run: the peers of a trial are the trials before it
        value = t.user_attrs["rung:1"]
        if t.state == "PRUNED":
            assert t.user_attrs["stopped_at_epoch"] == 1 and t.values["accuracy"] == value
            assert should_stop(value, seen, 2, 2)
        else:
            assert t.state == "COMPLETE" and t.user_attrs["epochs"] == 2
            assert not should_stop(value, seen, 2, 2)
        seen.append(value)
    # Only fully trained trials make the front.
    assert all(t.state == "COMPLETE" for t in load_run(tmp_path / "h").pareto())


@pytest.mark.slow
def test_diverging_training_is_recorded_failed_and_the_search_goes_on(space_file: Path,
                                                                      tmp_path: Path) -> None:
    train = dict(FAST_TRAIN, optimizer="sgd", lr=1e12, momentum=0.0)
    run = run_search(config(tmp_path, space=str(space_file), objectives=["accuracy", "params"],
                            n_trials=3, evaluator=train), tmp_path / "nan", progress=False)
    trials = run.trials()
    assert len(trials) == 3
    first = [t for t in trials if t.cached_from is None]
    assert all(t.state == "FAIL" and t.fail_reason.startswith("diverged: loss is nan")
               for t in first), [t.fail_reason for t in first]
    assert (tmp_path / "nan" / "report.html").is_file()
    assert run.pareto() == []


@pytest.mark.slow
def test_zero_cost_proxies_are_finite_and_tell_archs_apart(space_file: Path) -> None:
    evaluator = AccuracyEvaluator(ZeroCostConfig(proxies=("synflow", "naswot", "grad_norm"),
                                                 batch_size=16, threads=1),
                                  dataset="digits", space=str(space_file))
    archs = sorted(set(_archs(space_file, 6, seed=3)))[:3]
    scores = {name: [] for name in ("synflow", "naswot", "grad_norm")}  # type: dict[str, list[float]]
    for arch in archs:
        result = evaluator(arch)
        assert result.status == "complete"
        assert result.accuracy == result.attrs["zero_cost:synflow"]
        for name in scores:
            value = result.attrs[f"zero_cost:{name}"]
            assert math.isfinite(value)
            scores[name].append(value)
    for name, values in scores.items():
        assert len(set(values)) == len(values), f"{name} gives equal scores to different archs"
    # Deterministic for a seed, and the global torch RNG is left alone.
    state = torch.random.get_rng_state()
    again = evaluator(archs[0])
    assert again.attrs["zero_cost:naswot"] == scores["naswot"][0]
    assert torch.equal(state, torch.random.get_rng_state())


def test_evaluator_pickles_without_its_data(space_file: Path) -> None:
    import pickle

    evaluator = AccuracyEvaluator(ZeroCostConfig(proxies=("naswot",), batch_size=8),
                                  dataset="digits", space=str(space_file))
    evaluator.data(16)
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone._data == {} and clone.config == evaluator.config


def test_lr_schedules() -> None:
    def schedule(name: str, warmup_epochs: float) -> Callable[[int], float]:  # one step per epoch
        recipe = TrainConfig(epochs=10, lr_schedule=name, warmup_epochs=warmup_epochs).recipe()
        return lr_factor(recipe, total_steps=10, steps_per_epoch=1)

    warm = schedule("constant", 2)
    assert [warm(s) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]  # linearly, full rate at its last step
    cos = [schedule("cosine", 0)(s) for s in range(10)]
    assert cos[0] == 1.0 and all(a > b for a, b in itertools.pairwise(cos)) and cos[-1] > 0
    assert schedule("linear", 0)(9) == pytest.approx(0.1)
