"""Search config: validation errors name the field, constraint parsing, YAML and Python configs,
and the load-time checks of spaces, datasets and latency tables."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from _search_env import LAT, TABLE, config_dict

from nas._errors import NasError
from nas.search import (
    Constraint,
    HalvingConfig,
    SamplerConfig,
    SearchConfig,
    TrainConfig,
    ZeroCostConfig,
    check_config,
    load_config,
    run_search,
)

BASE: dict[str, Any] = {"space": "mobilenet_v3", "objectives": ["accuracy", "macs"],
                        "n_trials": 3, "evaluator": {"kind": "zero_cost"}}


def _with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.mark.parametrize("data, field", [
    (_with(space=None), "space:"),
    (_with(objectives=None), "objectives:"),
    (_with(objectives=[]), "objectives:"),
    (_with(objectives=["accuracy", "flops"]), "objectives[1]:"),
    (_with(objectives=["accuracy", "latency:"]), "objectives[1]:"),
    (_with(objectives=["macs", "macs"]), "objectives:"),
    (_with(constraints=["macs < 3"]), "constraints[0]:"),
    (_with(constraints=["macs <= 3", "accuracy >= 0.9"]), "constraints[1]:"),
    (_with(constraints=["macs <= lots"]), "constraints[0]:"),
    (_with(constraints=["speed <= 3"]), "constraints[0]:"),
    (_with(n_trials=None), "n_trials:"),
    (_with(n_trials=0), "n_trials:"),
    (_with(n_trials=2.5), "n_trials:"),
    (_with(timeout_s=-1), "timeout_s:"),
    (_with(resolutions=[4]), "resolutions[0]:"),
    (_with(widths=["wide"]), "widths[0]:"),
    (_with(sampler="cmaes"), "sampler.name:"),
    (_with(sampler={"name": "tpe", "seed": -1}), "sampler.seed:"),
    (_with(sampler={"name": "nsga2", "population_size": 1}), "sampler.population_size:"),
    (_with(sampler={"name": "nsga2", "colour": 1}), "sampler.colour:"),
    (_with(storage="study.db"), "storage:"),
    (_with(evaluator=None), "evaluator:"),
    (_with(evaluator={"kind": "oracle"}), "evaluator.kind:"),
    (_with(evaluator={"epochs": 2}), "evaluator.kind:"),
    (_with(evaluator={"kind": "train", "epochs": 0}), "evaluator.epochs:"),
    (_with(evaluator={"kind": "train", "lr": "fast"}), "evaluator.lr:"),
    (_with(evaluator={"kind": "train", "optimizer": "lion"}), "evaluator.optimizer:"),
    (_with(evaluator={"kind": "train", "lr_schedule": "step"}), "evaluator.lr_schedule:"),
    (_with(evaluator={"kind": "train", "train_subset": 0}), "evaluator.train_subset:"),
    (_with(evaluator={"kind": "train", "device": "tpu"}), "evaluator.device:"),
    (_with(evaluator={"kind": "train", "dropout": 1.5}), "evaluator.dropout:"),
    (_with(evaluator={"kind": "train", "epochs": 2, "halving": {"rungs": [2]}}),
     "evaluator.halving.rungs:"),
    (_with(evaluator={"kind": "train", "epochs": 4, "halving": {"rungs": [2, 1]}}),
     "evaluator.halving.rungs:"),
    (_with(evaluator={"kind": "train", "epochs": 4, "halving": {"eta": 1}}),
     "evaluator.halving.eta:"),
    (_with(evaluator={"kind": "train", "batchsize": 8}), "evaluator.batchsize:"),
    (_with(evaluator={"kind": "zero_cost", "proxies": ["snip"]}), "evaluator.proxies[0]:"),
    (_with(evaluator={"kind": "zero_cost", "proxies": []}), "evaluator.proxies:"),
    (_with(memory={"dtype": "float64"}), "memory.dtype:"),
    (_with(name="my run"), "name:"),
    (_with(epochs=3), "epochs:"),
])
def test_validation_error_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(NasError) as err:
        SearchConfig.from_dict(data)
    assert str(err.value).startswith(field), str(err.value)


def test_errors_from_a_file_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_with(evaluator={"kind": "train", "epochs": "two"})))
    with pytest.raises(NasError, match=r"^bad.yaml: evaluator.epochs: 'two'"):
        load_config(path)


@pytest.mark.parametrize("text, metric, op, bound", [
    ("latency:cpu_torch_mobilenet_v3 <= 12", "latency:cpu_torch_mobilenet_v3", "<=", 12.0),
    ("macs<=300e6", "macs", "<=", 300e6),
    ("macs <= 300M", "macs", "<=", 300e6),
    ("params >= 1.5k", "params", ">=", 1500.0),
    ("  peak_memory <= 2G ", "peak_memory", "<=", 2e9),
])
def test_constraint_parsing(text: str, metric: str, op: str, bound: float) -> None:
    c = Constraint.parse(text)
    assert (c.metric, c.op, c.bound) == (metric, op, bound)
    assert Constraint.parse(str(c)) == c  # the canonical text parses back to the same constraint
    assert c.satisfied(bound) and c.violation(bound) == 0
    worse = bound * 2 if op == "<=" else bound / 2
    assert not c.satisfied(worse) and c.violation(worse) > 0


@pytest.mark.parametrize("text, message", [
    ("macs == 3", "METRIC <= BOUND"),
    ("macs <= ", "METRIC <= BOUND"),
    ("macs <= 3x", "is not a number"),
    ("accuracy >= 0.9", "cannot be a hard constraint"),
    ("latency: <= 3", "needs a table id"),
])
def test_constraint_errors(text: str, message: str) -> None:
    with pytest.raises(NasError, match=message):
        Constraint.parse(text, "constraints[0]")


def test_python_built_config_equals_yaml_and_round_trips(tmp_path: Path) -> None:
    built = SearchConfig(
        name="demo", space="mobilenet_v3", resolutions=[32], objectives=["accuracy", "macs"],
        constraints=["macs <= 30M"], sampler=SamplerConfig("tpe", seed=3), n_trials=5,
        evaluator=TrainConfig(epochs=3, halving=HalvingConfig(rungs=(1, 2), eta=3)))
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(built.to_dict()))
    assert load_config(path) == built
    assert SearchConfig.from_dict(built.to_dict()) == built
    assert built.resolutions == (32,) and isinstance(built.objectives, tuple)
    assert built.replace(n_trials=9).problem_hash() == built.problem_hash()
    assert built.replace(constraints=["macs <= 20M"]).problem_hash() != built.problem_hash()


def test_config_passed_in_is_never_modified() -> None:
    data = _with(constraints=["macs <= 30M"], resolutions=[32, 64])
    before = copy.deepcopy(data)
    cfg = SearchConfig.from_dict(data)
    assert data == before
    cfg2 = cfg.replace(n_trials=10)
    assert cfg.n_trials == 3 and cfg2.n_trials == 10
    with pytest.raises(AttributeError):
        cfg.n_trials = 4  # type: ignore[misc]


def test_python_config_script(tmp_path: Path) -> None:
    script = tmp_path / "cfg.py"
    script.write_text(
        "from nas.search import SearchConfig, ZeroCostConfig, run_search\n"
        "config = SearchConfig(name='py', space='mobilenet_v3', resolutions=[32],\n"
        "                      objectives=['accuracy', 'params'], n_trials=2,\n"
        "                      evaluator=ZeroCostConfig(proxies=('naswot',)))\n"
        "if __name__ == '__main__':\n"
        "    raise SystemExit('the search must not run when the config is loaded')\n")
    cfg = load_config(script)
    assert cfg.name == "py" and cfg.evaluator == ZeroCostConfig(proxies=("naswot",))
    (tmp_path / "none.py").write_text("x = 1\n")
    with pytest.raises(NasError, match="must define `config"):
        load_config(tmp_path / "none.py")


def test_yaml_numbers_written_without_a_dot_are_read(tmp_path: Path) -> None:
    path = tmp_path / "n.yaml"
    path.write_text("space: mobilenet_v3\nobjectives: [accuracy]\nn_trials: 1e2\n"
                    "evaluator: {kind: train, lr: 3e-3}\n")
    cfg = load_config(path)
    assert cfg.n_trials == 100 and isinstance(cfg.evaluator, TrainConfig)
    assert cfg.evaluator.lr == pytest.approx(0.003)
    assert cfg.name == "n"


def test_check_config_resolves_space_dataset_and_tables(env: Path) -> None:
    cfg = SearchConfig.from_dict(config_dict(env, widths=[1.0], constraints=[f"{LAT} <= 5"]))
    problem = check_config(cfg)
    assert (problem.classes, problem.in_channels) == (10, 1)
    assert problem.space.widths == (1.0,) and set(problem.tables) == {TABLE}
    assert cfg.cheap_metrics == ("macs", "params", "peak_memory", LAT)


@pytest.mark.parametrize("changes, message", [
    ({"space": "no_such_space"}, r"^space: "),
    ({"widths": [2.0]}, r"^widths: \[2.0\] not in"),
    ({"dataset": "mnist"}, r"^dataset: 'mnist'"),
    ({"dataset": "cifar10:/nonexistent"}, r"^dataset: cifar10 path"),
    ({"objectives": ["accuracy", "latency:no_such_table"]}, r"^objectives\[1\]: unknown latency table 'no_such_table'"),
    ({"constraints": ["latency:no_such_table <= 3"]}, r"^constraints\[0\]: unknown latency table"),
])
def test_check_config_errors_name_the_field(env: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(NasError, match=message):
        check_config(SearchConfig.from_dict(config_dict(env, **changes)))


def test_a_resolution_the_table_did_not_measure_is_priced_by_its_kernel_model(env: Path, tmp_path: Path) -> None:
    cfg = SearchConfig.from_dict(config_dict(env, resolutions=[24], objectives=[LAT, "macs"], evaluator=None,
                                             n_trials=4))
    problem = check_config(cfg)
    n_modelled, n_keys = problem.modelled[TABLE]
    assert 0 < n_modelled <= n_keys
    import numpy as np
    arch = problem.space.sample(np.random.default_rng(0))
    assert problem.cheap_scores(arch)[LAT] > 0
    assert problem.table_info()[0]["modelled_keys"] == f"{n_modelled} of {n_keys}"
    assert not check_config(SearchConfig.from_dict(config_dict(env))).modelled  # all measured at 16 px
    run_search(cfg, tmp_path / "run", progress=False, report=False)
    log = (tmp_path / "run" / "search.log").read_text()
    assert (f"latency table {TABLE}: {n_modelled} of the {n_keys} block keys this space can produce are not "
            "measured; their latency comes from the table's kernel model") in log


def test_a_table_that_cannot_price_the_space_is_named_with_a_key_and_the_reason(env: Path) -> None:
    cfg = SearchConfig.from_dict(config_dict(env, resolutions=[128]))  # 8x the side it was measured at
    with pytest.raises(NasError) as err:
        check_config(cfg)
    text = str(err.value)
    assert text.startswith("objectives[1]:") and TABLE in text and "resolution 128" in text
    assert "not measured" in text and "hw=128" in text  # a concrete block key at 128x128 input
    assert "larger than the kernel model can price" in text and "nas lut build" in text


def test_zero_cost_config_accepts_a_single_proxy_name() -> None:
    cfg = SearchConfig.from_dict(_with(evaluator={"kind": "zero_cost", "proxies": "grad_norm"}))
    assert cfg.evaluator == ZeroCostConfig(proxies=("grad_norm",))


@pytest.mark.parametrize("path", sorted(str(p) for p in (Path(__file__).parents[1] / "experiments").glob("*.yaml")
                                        if not p.name.startswith("supernet_")))  # those are supernet recipes
def test_example_configs_are_valid_against_the_shipped_tables(path: str) -> None:
    problem = check_config(load_config(path))
    assert problem.config.table_ids and all(t in problem.tables for t in problem.config.table_ids)


@pytest.mark.parametrize("path", sorted(str(p) for p in (Path(__file__).parents[1] / "experiments")
                                        .glob("supernet_*.yaml")))
def test_shipped_supernet_recipes_are_valid(path: str) -> None:
    from nas.space import get_space
    from nas.supernet import SupernetConfig

    config = SupernetConfig.load(path)
    space = get_space(config.space)
    assert config.dataset in ("digits", "fashion_mnist") and config.epochs >= 1
    assert space.with_resolutions(list(config.resolutions)).name == space.name


def test_python_quickstart_builds_the_yaml_quickstart() -> None:
    root = Path(__file__).parents[1] / "experiments"
    from_yaml, from_py = load_config(root / "quickstart.yaml"), load_config(root / "quickstart.py")
    assert from_py.replace(name=from_yaml.name) == from_yaml
