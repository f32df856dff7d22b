"""The Ray dispatcher on a real two-node cluster started on this machine with ``ray start``.

One cluster serves the whole module (a start costs ~15 s on 2 cores): a head with 1 CPU, and a
second node with 1 CPU and the custom resource ``dev``. Drivers run as their own processes, as a
user's would, so this pytest process never holds Ray state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from _cluster import LoopbackCluster, postgres_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DRIVER = str(Path(__file__).with_name("_ray_driver.py"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[LoopbackCluster]:
    c = LoopbackCluster.start([{"num_cpus": 1}, {"num_cpus": 1, "resources": {"dev": 1}}])
    try:
        yield c
    finally:
        c.stop()
    assert not c.processes(), "Ray processes left after the cluster was stopped"


def run_driver(cluster: LoopbackCluster, storage: str, study: str, *args: str, timeout: float = 240
               ) -> tuple[dict, str]:
    out = subprocess.run([sys.executable, DRIVER, cluster.address, storage, study, *args], capture_output=True,
                         text=True, timeout=timeout, env=cluster.env)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def load(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


def test_trials_spread_over_both_nodes_and_errors_are_recorded(cluster: LoopbackCluster, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    stats, log = run_driver(cluster, storage, "s", "--n-trials", "8", "--workers", "2", "--sleep", "0.5",
                            "--fail-above", "0.8", "--seed", "3")
    trials = load(storage, "s")
    assert len(trials) == 8 and stats["submitted"] == 8
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed, "seed 3 draws some x > 0.8; the test needs at least one failing evaluation"
    for t in failed:
        assert t.params["x"] > 0.8
        assert t.user_attrs["fail_reason"] == f"ValueError: x={t.params['x']:.3f} is above 0.8"
        assert t.user_attrs["fail_reason"] in log  # logged by the driver too, never swallowed
    for t in trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert t.values[0] == pytest.approx(t.params["x"] ** 2)
            assert t.user_attrs["ray_worker"]["attempts"] == 1
    # Two 1-CPU nodes, two workers: both nodes ran trials, two at a time.
    assert len({t.user_attrs["ray_worker"].get("node_id") for t in trials} - {None}) == 2
    assert stats["max_in_flight"] == 2
    # Each trial was asked while the other slot's trial was RUNNING in the storage (pending for samplers).
    assert max(t.user_attrs["running_at_ask"] for t in trials) == 1


def test_custom_resource_places_trials_on_its_node(cluster: LoopbackCluster, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    run_driver(cluster, storage, "s", "--n-trials", "4", "--workers", "2", "--resources", '{"dev": 1}')
    trials = load(storage, "s")
    nodes = {node for node, resources in _node_resources(cluster) if resources.get("dev")}
    assert len(nodes) == 1
    assert {t.user_attrs["ray_worker"]["node_id"] for t in trials} == nodes
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)


def _node_resources(cluster: LoopbackCluster) -> list[tuple[str, dict[str, float]]]:
    code = ("import json, ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(json.dumps([[n['NodeID'], n['Resources']] for n in ray.nodes() if n['Alive']]))")
    out = subprocess.run([sys.executable, "-c", code, cluster.address], capture_output=True, text=True,
                         env=cluster.env, timeout=120, check=True)
    return [(n, r) for n, r in json.loads(out.stdout.strip().splitlines()[-1])]


def test_killed_workers_are_retried_then_failed_with_reason(cluster: LoopbackCluster, tmp_path: Path) -> None:
    """Trial 0's worker is killed twice (one retry allowed: FAILED), trial 1's once (retried: COMPLETE)."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    kills: dict[str, list[int]] = {"ray::nas-trial-0": [], "ray::nas-trial-1": []}
    budget = {"ray::nas-trial-0": 2, "ray::nas-trial-1": 1}
    done = threading.Event()

    def killer() -> None:
        import os
        import signal

        while not done.is_set():
            for pid, name in cluster.task_pids().items():
                if name in kills and len(kills[name]) < budget[name] and pid not in kills[name]:
                    time.sleep(0.3)  # let the task get going
                    os.kill(pid, signal.SIGKILL)
                    kills[name].append(pid)
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        stats, log = run_driver(cluster, storage, "s", "--n-trials", "4", "--workers", "2", "--sleep", "3",
                                "--max-retries", "1")
    finally:
        done.set()
        thread.join()
    assert [len(kills[n]) for n in ("ray::nas-trial-0", "ray::nas-trial-1")] == [2, 1]
    trials = {t.number: t for t in load(storage, "s")}
    assert len(trials) == 4 and stats["retries"] == 2
    t0, t1 = trials[0], trials[1]
    assert t0.state == optuna.trial.TrialState.FAIL
    assert t0.user_attrs["ray_worker"] == {"attempts": 2}
    assert t0.user_attrs["fail_reason"].startswith("worker lost 2 time(s): WorkerCrashedError")
    assert t1.state == optuna.trial.TrialState.COMPLETE and t1.user_attrs["ray_worker"]["attempts"] == 2
    assert t1.values[0] == pytest.approx(t1.params["x"] ** 2)
    assert all(trials[n].state == optuna.trial.TrialState.COMPLETE for n in (2, 3))
    assert "retry 1 of 1" in log


@pytest.fixture
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_two_drivers_share_one_study_on_postgresql(cluster: LoopbackCluster, postgres: str) -> None:
    """Two driver processes ask and tell one study in a real PostgreSQL server at the same time."""
    args = ["--n-trials", "4", "--workers", "1", "--sleep", "0.5"]
    procs = [subprocess.Popen([sys.executable, DRIVER, cluster.address, postgres, "shared", *args, "--seed", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env)
             for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-4000:]
    trials = load(postgres, "shared")
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    by_driver = {pid: [t for t in trials if t.user_attrs["driver_pid"] == pid] for pid in (p.pid for p in procs)}
    assert [len(v) for v in by_driver.values()] == [4, 4]
    # The drivers ran at the same time: their trials interleave in the study's numbering.
    first, second = ([t.number for t in v] for v in by_driver.values())
    assert min(second) < max(first) and min(first) < max(second)
