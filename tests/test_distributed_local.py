"""``nas search CONFIG --ray`` with no address: a private local Ray instance, same results as a local run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.search import load_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CONFIG = {"name": "same", "space": "mobilenet_v3", "resolutions": [32], "dataset": "digits",
          "objectives": ["accuracy", "macs"], "constraints": ["macs <= 10M"], "sampler": {"name": "random", "seed": 1},
          "n_trials": 6, "evaluator": {"kind": "zero_cost", "proxies": ["naswot"], "batch_size": 16}}


def test_local_ray_instance_gives_the_local_runs_results(tmp_path: Path) -> None:
    config = tmp_path / "same.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "ray": {"num_cpus": 1}}))
    runs = {}
    for name, extra in (("local", []), ("ray", ["--ray", "--workers", "2"])):
        out = subprocess.run([sys.executable, "-m", "nas", "search", str(config), "--run-dir", str(tmp_path / name),
                              "--no-progress", *extra], capture_output=True, text=True, timeout=400)
        assert out.returncode == 0, out.stderr[-4000:]
        assert "Pareto front" in out.stdout
        runs[name] = load_run(tmp_path / name).trials()
    local, ray = runs["local"], runs["ray"]
    # The random sampler ignores history, so both drivers ask the same candidates in the same order;
    # the constraint decides which are trained (on Ray) and both record the same scores.
    assert [t.arch for t in ray] == [t.arch for t in local]
    assert [t.state for t in ray] == [t.state for t in local] == ["COMPLETE"] * 6
    assert [t.feasible for t in ray] == [t.feasible for t in local]
    assert any(t.feasible for t in ray) and not all(t.feasible for t in ray)
    for a, b in zip(ray, local, strict=True):
        assert a.values.keys() == b.values.keys()
        for key, value in b.values.items():
            assert a.values[key] == pytest.approx(value, rel=1e-5), (a.number, key)
    trained = [t for t in ray if t.feasible]
    assert all(t.user_attrs["ray_worker"]["attempts"] == 1 for t in trained)
    assert not any("ray_worker" in t.user_attrs for t in ray if not t.feasible)  # never left the driver
    for name in ("trials.csv", "pareto.csv", "report.html"):
        assert (tmp_path / "ray" / name).is_file()
