"""Arch grammar: exact round trips, stable hashes, clear parse errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas import NasError
from nas.arch import REFERENCES, Arch, Layer, Stage, load_arch
from nas.space import get_space, list_spaces

layers = st.one_of(
    st.just(Layer(skip=True)),
    st.builds(
        Layer,
        kernel=st.sampled_from([1, 3, 5, 7, 9]),
        expand=st.one_of(st.integers(1, 8).map(float), st.floats(0.1, 10, allow_nan=False)),
        groups=st.integers(1, 4),
        se=st.booleans(),
    ),
)
stages = st.builds(Stage, channels=st.integers(1, 2048), layers=st.lists(layers, min_size=1, max_size=6).map(tuple))
archs = st.builds(
    Arch,
    space=st.sampled_from(["mobilenet_v3", "fbnet", "my_space-2.x"]),
    resolution=st.integers(8, 1024),
    stages=st.lists(stages, min_size=1, max_size=8).map(tuple),
    width=st.one_of(st.sampled_from([0.5, 1.0, 1.2, 1.4]), st.floats(0.05, 4, allow_nan=False)),
    depth_mult=st.one_of(st.just(1.0), st.floats(0.5, 3, allow_nan=False)),
)


@given(archs)
@settings(max_examples=300)
def test_text_round_trip_is_exact(arch: Arch) -> None:
    text = arch.text
    assert Arch.parse(text) == arch
    assert Arch.parse(text).text == text


@given(archs)
@settings(max_examples=200)
def test_json_round_trip_is_exact(arch: Arch) -> None:
    assert Arch.from_json(arch.to_json()) == arch
    assert Arch.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch


@given(archs, archs)
def test_hash_distinguishes_archs(a: Arch, b: Arch) -> None:
    assert (a.hash == b.hash) == (a == b)


def test_hash_is_stable_across_processes() -> None:
    text = REFERENCES["mobilenet_v2_100"].text
    code = f"from nas.arch import Arch; print(Arch.parse({text!r}).hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == Arch.parse(text).hash
    assert len(Arch.parse(text).hash) == 16


@pytest.mark.parametrize("name", list_spaces())
def test_sampled_archs_round_trip(name: str) -> None:
    rng = np.random.default_rng(7)
    space = get_space(name)
    for _ in range(20):
        arch = space.sample(rng)
        assert Arch.parse(arch.text) == arch
        assert Arch.from_json(arch.to_json()) == arch


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("mobilenet_v3", "no '|'"),
        ("mobilenet_v3:w1|c16:k3e1", "missing resolution"),
        ("mobilenet_v3:rX|c16:k3e1", "not an integer"),
        ("mobilenet_v3:r224:q1|c16:k3e1", "field 'q1'"),
        ("mobilenet_v3:r224|16:k3e1", "expected c<channels>"),
        ("mobilenet_v3:r224|c16:k4e1", "odd"),
        ("mobilenet_v3:r224|c16:k3", "k<kernel>e<expand>"),
        ("mobilenet_v3:r224|c16:k3e0", "positive"),
        ("mobilenet_v3:r224:w0|c16:k3e1", "positive"),
        ("bad space!:r224|c16:k3e1", "space name"),
    ],
)
def test_parse_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(NasError, match=fragment):
        Arch.parse(text)


def test_json_errors_name_the_field() -> None:
    with pytest.raises(NasError, match="missing field 'stages'"):
        Arch.from_dict({"space": "x", "resolution": 32}, source="f.json")
    with pytest.raises(NasError, match="version"):
        Arch.from_dict({"version": 9, "space": "x", "resolution": 32, "stages": []})
    with pytest.raises(NasError, match="not valid JSON"):
        Arch.from_json("{", source="f.json")


def test_load_arch_accepts_names_text_and_files(tmp_path) -> None:
    ref = REFERENCES["efficientnet_b0"]
    assert load_arch("efficientnet_b0") == ref.arch
    assert load_arch(ref.text) == ref.arch
    path = tmp_path / "a.json"
    path.write_text(ref.arch.to_json())
    assert load_arch(str(path)) == ref.arch
    with pytest.raises(NasError, match="not a reference name"):
        load_arch("no_such_thing")


def test_arch_is_immutable() -> None:
    arch = REFERENCES["mnasnet_a1"].arch
    with pytest.raises(AttributeError):
        arch.resolution = 3  # type: ignore[misc]
    assert arch.replace(resolution=192).resolution == 192
    assert arch.resolution == 224
