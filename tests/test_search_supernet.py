"""Searching with a trained supernet: the ``supernet`` and ``predictor`` evaluators, locally and on
Ray, and the errors for a checkpoint that does not fit the search."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _supernet_tiny import write_mnist, write_recipe, write_space

from nas._errors import NasError
from nas.evaluators import encode, fit_predictor
from nas.search import SearchConfig, check_config, load_run, run_search
from nas.space import get_space
from nas.supernet import SubnetScorer, SupernetConfig, train_supernet


@pytest.fixture(scope="module")
def supernet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sn")
    space = write_space(root)
    data = write_mnist(root / "mnist")
    recipe = write_recipe(root / "recipe.yaml", space, data, epochs=1)
    train_supernet(SupernetConfig.load(recipe), root / "sn", progress=False)
    return {"space": str(space), "dataset": f"mnist:{data}", "checkpoint": str(root / "sn")}


def config(sn: dict[str, Any], evaluator: dict[str, Any], **extra: Any) -> SearchConfig:
    return SearchConfig.from_dict({
        "name": "sn_search", "space": sn["space"], "dataset": sn["dataset"], "resolutions": [12],
        "objectives": ["accuracy", "macs"], "sampler": {"name": "random", "seed": 0}, "n_trials": 8,
        "evaluator": {"checkpoint": sn["checkpoint"], "threads": 1, **evaluator}, **extra})


def test_supernet_scores_each_trial_with_inherited_weights(supernet: dict[str, Any], tmp_path: Path) -> None:
    run = run_search(config(supernet, {"kind": "supernet"}), tmp_path / "run", progress=False, report=False)
    trials = [t for t in run.trials() if t.cached_from is None]
    assert trials and all(t.state == "COMPLETE" for t in trials)
    assert all(t.user_attrs["scored_by"] == "supernet" for t in trials)
    scorer = SubnetScorer(supernet["checkpoint"], threads=1)
    for t in trials[:2]:  # the score is the scorer's, deterministic
        assert t.values["accuracy"] == pytest.approx(scorer.score(t.arch))
    assert len({t.values["accuracy"] for t in trials}) > 1


def test_predictor_scores_in_rounds_and_reports_its_tau(supernet: dict[str, Any], tmp_path: Path) -> None:
    cfg = config(supernet, {"kind": "predictor", "real": 10, "predicted": 10, "model": "ridge"},
                 n_trials=40)
    run = run_search(cfg, tmp_path / "run", progress=False, report=False)
    fresh = [t for t in run.trials() if t.cached_from is None]
    by = [t.user_attrs["scored_by"] for t in fresh]
    assert by[:10] == ["supernet"] * 10 and by[10:20] == ["predictor"] * 10 and by[20:30] == ["supernet"] * 10
    refits = [t for t in fresh if "predictor:tau" in t.user_attrs]
    assert [t.user_attrs["predictor:fitted_on"] for t in refits] == [10, 20][:len(refits)]
    assert all(-1 <= t.user_attrs["predictor:tau"] <= 1 for t in refits)
    assert all(np.isfinite(t.values["accuracy"]) for t in fresh)
    assert "predictor refitted on 10 supernet-scored subnets" in (tmp_path / "run" / "search.log").read_text()


def test_predictor_fit_ranks_a_learnable_target() -> None:
    space = get_space("mobilenet_v3")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(120)]
    x = np.stack([encode(a, space) for a in archs])
    y = x @ rng.normal(size=x.shape[1]) + rng.normal(scale=0.1, size=len(x))  # linear in the encoding
    fit = fit_predictor(x, y, model="auto", holdout=0.25, seed=0)
    assert fit.name in ("ridge", "forest", "boosting") and fit.n == 120
    assert fit.holdout_tau > 0.8
    with pytest.raises(NasError, match="at least 10"):
        fit_predictor(x[:5], y[:5])


def test_checkpoint_that_does_not_fit_the_search_is_named(supernet: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(NasError, match=r"dataset: 'digits', but the supernet .* was trained on 'mnist:"):
        check_config(config({**supernet, "dataset": "digits"}, {"kind": "supernet"}))
    with pytest.raises(NasError, match=r"evaluator.checkpoint: supernet folder .*missing: not a directory"):
        check_config(config({**supernet, "checkpoint": str(tmp_path / "missing")}, {"kind": "supernet"}))
    other = write_space(tmp_path, "tiny_other")
    with pytest.raises(NasError, match=r"space: 'tiny_other', but the supernet .* space 'tiny_sn'"):
        check_config(config({**supernet, "space": str(other)}, {"kind": "supernet"}))
    with pytest.raises(NasError, match=r"evaluator.real: 3 must be an integer >= 10"):
        config(supernet, {"kind": "predictor", "real": 3})


@pytest.mark.slow
def test_supernet_search_on_ray_matches_the_local_scores(supernet: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "sn.yaml"
    path.write_text(yaml.safe_dump({**config(supernet, {"kind": "supernet"}).to_dict(), "ray": {"num_cpus": 1}}))
    out = subprocess.run([sys.executable, "-m", "nas", "search", str(path), "--run-dir", str(tmp_path / "ray"),
                          "--no-progress", "--ray", "--workers", "2"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    local = run_search(config(supernet, {"kind": "supernet"}), tmp_path / "local", progress=False, report=False)
    ray = load_run(tmp_path / "ray")
    assert [t.arch for t in ray.trials()] == [t.arch for t in local.trials()]
    assert [t.values.get("accuracy") for t in ray.trials()] == pytest.approx(
        [t.values.get("accuracy") for t in local.trials()])
    assert all("ray_worker" in t.user_attrs for t in ray.trials() if t.cached_from is None)


def test_export_of_a_supernet_scored_run_carries_the_inherited_weights(supernet: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    import json

    from nas.cli._main import main

    run_search(config(supernet, {"kind": "supernet"}), tmp_path / "run", progress=False, report=False)
    assert main(["export", str(tmp_path / "run"), "--best", "accuracy", "--out", str(tmp_path / "x"),
                 "--no-onnx", "--json"]) == 0
    info = json.loads((tmp_path / "x" / "arch.json").read_text())
    assert info["weights"]["state"] == "supernet"
