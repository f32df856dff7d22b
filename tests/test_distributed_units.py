"""nas.distributed pieces that need no running Ray: config section, addresses, capacity."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nas._errors import NasError
from nas.cli._main import main
from nas.distributed import TrialResources, load_search_config, parse_address, parse_ray_section, trials_fitting


def test_ray_section_defaults_and_values() -> None:
    res, workers = parse_ray_section(None)
    assert res == TrialResources() and workers is None
    assert res.ray_options() == {"num_cpus": 1.0, "num_gpus": 0.0, "max_retries": 0}
    res, workers = parse_ray_section({"num_cpus": 0.5, "num_gpus": 1, "resources": {"jetson": 1},
                                      "max_retries": 0, "workers": 3})
    assert workers == 3 and res.max_retries == 0
    assert res.ray_options() == {"num_cpus": 0.5, "num_gpus": 1, "max_retries": 0, "resources": {"jetson": 1}}


def test_ray_section_copies_its_input() -> None:
    given = {"resources": {"jetson": 1}}
    res, _ = parse_ray_section(given)
    given["resources"]["jetson"] = 5
    assert res.resources == {"jetson": 1}


@pytest.mark.parametrize(("data", "message"), [
    ({"num_cpu": 1}, "unknown key(s) num_cpu"),
    ({"num_cpus": -1}, "ray.num_cpus: must be a number >= 0"),
    ({"num_gpus": "one"}, "ray.num_gpus"),
    ({"resources": {"CPU": 1}}, "ray.resources.CPU: reserved by Ray"),
    ({"resources": {"jetson": 0}}, "ray.resources.jetson: must be a number > 0"),
    ({"resources": [1]}, "ray.resources: must be a mapping"),
    ({"max_retries": 1.5}, "ray.max_retries: must be an integer >= 0"),
    ({"workers": 0}, "ray.workers: must be an integer >= 1"),
    ([1, 2], "ray: must be a mapping"),
])
def test_ray_section_errors_name_the_field(data: object, message: str) -> None:
    with pytest.raises(NasError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ray_section(data)  # type: ignore[arg-type]


def test_addresses() -> None:
    assert parse_address(None) == "local" and parse_address("") == "local"
    assert parse_address("auto") == "auto"
    assert parse_address("127.0.0.1:6379") == "127.0.0.1:6379"
    for bad in ("127.0.0.1", "host:port", ":6379", "h:70000"):
        with pytest.raises(NasError, match="expected nothing"):
            parse_address(bad)


def test_trials_fitting_takes_the_scarcest_resource() -> None:
    node = {"CPU": 4.0, "GPU": 1.0, "jetson": 2.0}
    assert trials_fitting(node, TrialResources(num_cpus=1)) == 4
    assert trials_fitting(node, TrialResources(num_cpus=0.5, num_gpus=0.5)) == 2
    assert trials_fitting(node, TrialResources(num_cpus=1, resources={"jetson": 1})) == 2
    assert trials_fitting({"CPU": 4.0}, TrialResources(resources={"jetson": 1})) == 0
    assert trials_fitting({"CPU": 4.0}, TrialResources(num_cpus=0)) >= 10**6


CONFIG = """
name: tiny
space: mobilenet_v3
resolutions: [32]
dataset: digits
objectives: [macs]
sampler: random
n_trials: 2
"""


def test_config_ray_section_is_read_beside_the_search_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + "ray: {num_cpus: 0.5, resources: {dev: 1}, workers: 3}\n")
    config, resources, workers = load_search_config(path)
    assert config.name == "tiny" and config.n_trials == 2
    assert resources == TrialResources(num_cpus=0.5, resources={"dev": 1}) and workers == 3
    path.write_text(CONFIG)
    assert load_search_config(path)[1:] == (TrialResources(), None)
    script = tmp_path / "c.py"
    script.write_text("from nas.search import SearchConfig\n"
                      "config = SearchConfig(space='mobilenet_v3', objectives=['macs'], n_trials=2)\n"
                      "ray = {'num_gpus': 1}\n")
    assert load_search_config(script)[1] == TrialResources(num_gpus=1)


def test_config_ray_section_errors_name_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + "ray: {num_cpu: 1}\n")
    with pytest.raises(NasError, match=r"c.yaml: ray: unknown key\(s\) num_cpu"):
        load_search_config(path)
    path.write_text(CONFIG + "ray: {resources: {gpu_node: -1}}\n")
    with pytest.raises(NasError, match=r"c.yaml: ray.resources.gpu_node: must be a number > 0"):
        load_search_config(path)


def test_cli_rejects_bad_ray_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    run = ["search", str(path), "--run-dir", str(tmp_path / "run")]
    assert main([*run, "--workers", "2"]) == 2
    assert "--workers: only with --ray" in capsys.readouterr().err
    assert main([*run, "--ray", "nowhere"]) == 2
    assert "--ray nowhere: expected nothing (local instance), 'auto' or HOST:PORT" in capsys.readouterr().err
    assert main([*run, "--ray", f"127.0.0.1:{_closed_port()}"]) == 2
    assert "no Ray head node answers there" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing was started


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns
