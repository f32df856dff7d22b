"""nas.distributed pieces that need no running Ray: config section, addresses, capacity."""

from __future__ import annotations

import pytest

from nas._errors import NasError
from nas.distributed import TrialResources, parse_address, parse_ray_section, trials_fitting


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
