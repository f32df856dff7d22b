"""Search spaces: loading, validation errors, genes, sampling, Optuna suggestion, membership."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from nas import NasError
from nas.arch import REFERENCES
from nas.space import SearchSpace, get_space, list_spaces

SHIPPED = ["efficientnet", "fbnet", "mnasnet", "mobilenet_v2", "mobilenet_v3"]
SPACE_DIR = Path(__file__).resolve().parents[1] / "search_spaces"


def test_shipped_spaces_are_listed() -> None:
    assert set(SHIPPED) <= set(list_spaces())


@pytest.mark.parametrize("name", SHIPPED)
def test_sample_is_in_space_and_encodes_back(name: str) -> None:
    space = get_space(name)
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert space.check(arch) == []
        assert space.decode(space.encode(arch)) == arch


@pytest.mark.parametrize("name", SHIPPED)
def test_sampling_is_reproducible_and_varied(name: str) -> None:
    space = get_space(name)
    a = [space.sample(np.random.default_rng(3)).text for _ in range(2)]
    assert a[0] == a[1]
    many = {space.sample(np.random.default_rng(s)).text for s in range(20)}
    assert len(many) > 15


@pytest.mark.parametrize("name", SHIPPED)
def test_optuna_suggests_every_gene_every_trial(name: str) -> None:
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    names = {g.name for g in space.genes}
    for _ in range(5):
        trial = study.ask()
        arch = space.suggest(trial)
        assert set(trial.params) == names
        assert space.contains(arch)
        study.tell(trial, 0.0)


def test_mobilenet_v3_space_matches_once_for_all() -> None:
    space = get_space("mobilenet_v3")
    assert space.resolutions == tuple(range(128, 225, 4))
    assert space.widths == (1.0, 1.2)
    searchable = space.stages[1:]
    assert len(searchable) == 5
    for spec in searchable:
        assert spec.depth == (2, 3, 4)
        assert {op.kernel for op in spec.ops} == {3, 5, 7}
        assert {op.expand for op in spec.ops} == {3.0, 4.0, 6.0}
    assert [all(op.se for op in s.ops) for s in searchable] == [False, True, False, True, True]
    assert [s.act for s in searchable] == ["relu", "relu", "hswish", "hswish", "hswish"]


def test_fbnet_space_has_22_layers_and_nine_ops() -> None:
    space = get_space("fbnet")
    assert sum(max(s.depth) for s in space.stages) == 22
    assert len(space.layer_choices(1, 0)) == 9  # 8 blocks + skip
    assert space.resolutions == (32,)


@pytest.mark.parametrize(
    ("name", "in_space"),
    [("mobilenet_v2_100", True), ("proxylessnas_mobile", True), ("efficientnet_b0", True),
     ("mnasnet_a1", True), ("mobilenet_v3_large_100", False)],
)
def test_reference_membership(name: str, in_space: bool) -> None:
    arch = REFERENCES[name].arch
    space = get_space(arch.space)
    assert space.contains(arch) is in_space
    if not in_space:  # MobileNetV3-Large's expand 2.5/2.3 are outside Once-for-All's 3/4/6
        assert all("e2." in reason for reason in space.check(arch))


def test_contains_rejects_out_of_space_archs() -> None:
    space = get_space("mobilenet_v3")
    arch = space.sample(np.random.default_rng(1))
    assert not space.contains(arch.replace(resolution=130))
    assert not space.contains(arch.replace(width=1.1))
    assert not space.contains(arch.replace(space="mobilenet_v2"))
    assert not space.contains(arch.replace(stages=arch.stages[:-1]))


def test_efficientnet_compound_scaling() -> None:
    space = get_space("efficientnet")
    b0 = REFERENCES["efficientnet_b0"].arch
    values = space.encode(b0)
    values["scale"] = "b3"
    b3 = space.decode(values)
    assert (b3.width, b3.depth_mult, b3.resolution) == (1.2, 1.4, 300)
    assert [len(s.layers) for s in b3.stages] == [math.ceil(d * 1.4) for d in (1, 2, 2, 3, 3, 4, 1)]
    assert space.contains(b3)


def test_with_resolutions_overrides_choices() -> None:
    space = get_space("mobilenet_v3").with_resolutions([32])
    arch = space.sample(np.random.default_rng(0))
    assert arch.resolution == 32 and space.contains(arch)
    assert get_space("mobilenet_v3").resolutions[0] == 128  # the original is unchanged


def _load_modified(tmp_path: Path, edit) -> SearchSpace:
    data = yaml.safe_load((SPACE_DIR / "mobilenet_v3.yaml").read_text())
    edit(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return SearchSpace.from_file(path)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d["stages"][2].update(kernel=[3, 4]), "stages[2].kernel"),
        (lambda d: d["stages"][1].update(act="gelu"), "stages[1].act"),
        (lambda d: d["stages"][1].update(depth=[0, 2]), "stages[1].depth"),
        (lambda d: d["stages"][1].update(expand="six"), "stages[1].expand"),
        (lambda d: d["stages"][1].update(colour="red"), "stages[1].colour"),
        (lambda d: d["stages"][1].pop("stride"), "stages[1].stride"),
        (lambda d: d.pop("stem"), "stem"),
        (lambda d: d.update(resolution={"min": 224, "max": 128, "step": 4}), "resolution"),
        (lambda d: d["head"].pop(), "head"),
        (lambda d: d["se"].update(gate="tanh"), "se.gate"),
        (lambda d: d["stages"][1].update(ops=["k3e6", "x"]), "stages[1].ops"),
    ],
)
def test_malformed_space_errors_name_file_and_field(tmp_path: Path, edit, fragment: str) -> None:
    with pytest.raises(NasError) as info:
        _load_modified(tmp_path, edit)
    assert "broken.yaml" in str(info.value)
    assert fragment in str(info.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed")
    with pytest.raises(NasError, match=r"bad\.yaml: not valid YAML"):
        SearchSpace.from_file(path)


def test_unknown_space_lists_known() -> None:
    with pytest.raises(NasError, match=r"known: .*mobilenet_v3"):
        get_space("nope")


def test_custom_space_file_is_usable(tmp_path: Path) -> None:
    space = _load_modified(tmp_path, lambda d: d.update(name="tiny_v3", width=1.0))
    assert space.name == "tiny_v3" and space.widths == (1.0,)
    assert get_space(str(tmp_path / "broken.yaml")).name == "tiny_v3"
