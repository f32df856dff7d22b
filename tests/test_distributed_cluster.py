"""The Ray dispatcher on a real two-node cluster started on this machine with ``ray start``.

One cluster serves the whole module (a start costs ~15 s on 2 cores): a head with 1 CPU, and a
second node with 1 CPU and the custom resource ``dev``. Drivers run as their own processes, as a
user's would, so this pytest process never holds Ray state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from _cluster import LoopbackCluster, postgres_server

from nas.search import load_run

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
        assert t.user_attrs["fail_reason"] == f"error: ValueError: x={t.params['x']:.3f} is above 0.8"
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


# -- `nas search CONFIG --ray ADDRESS`: the real search driver on the cluster ---------------------------------

TRAIN = {"kind": "train", "epochs": 1, "batch_size": 32, "train_subset": 256, "test_subset": 64, "threads": 1}
ZERO_COST = {"kind": "zero_cost", "proxies": ["naswot"], "batch_size": 16}


def write_config(path: Path, **fields: object) -> Path:
    data = {"name": "dist", "space": "mobilenet_v3", "resolutions": [32], "dataset": "digits",
            "objectives": ["accuracy", "macs"], "sampler": {"name": "random", "seed": 0}, **fields}
    path.write_text(yaml.safe_dump(data))
    return path


def nas_search(cluster: LoopbackCluster, config: Path, run_dir: Path, *args: str, address: str | None = None
               ) -> list[str]:
    return [sys.executable, "-m", "nas", "search", str(config), "--run-dir", str(run_dir), "--ray",
            address or cluster.address, "--no-progress", *args]


def test_search_on_two_nodes_survives_a_killed_worker(cluster: LoopbackCluster, tmp_path: Path) -> None:
    """A small training search over both nodes; one trial's worker is SIGKILLed mid-trial and retried."""
    config = write_config(tmp_path / "s.yaml", n_trials=4, evaluator=TRAIN, ray={"num_cpus": 1, "max_retries": 2})
    killed: list[str] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and not killed:
            for pid, name in cluster.task_pids().items():
                os.kill(pid, signal.SIGKILL)  # at once: the task has just started, it is mid-trial
                killed.append(name)
                break
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        out = subprocess.run(nas_search(cluster, config, tmp_path / "run", "--workers", "2"), capture_output=True,
                             text=True, timeout=300, env=cluster.env)
    finally:
        done.set()
        thread.join()
    assert out.returncode == 0, out.stderr[-4000:]
    assert len(killed) == 1
    run = load_run(tmp_path / "run")
    trials = run.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 4  # every trial accounted for, none lost
    victim = run.trial(int(killed[0].removeprefix("ray::nas-trial-")))
    assert victim.user_attrs["ray_worker"]["attempts"] == 2 and victim.user_attrs["trained"] is True
    assert sum(t.user_attrs["ray_worker"]["attempts"] for t in trials) == 5
    assert len({t.user_attrs["ray_worker"]["node_id"] for t in trials}) == 2  # both nodes ran trials
    assert "retry 1 of 2" in (tmp_path / "run" / "search.log").read_text()
    # Results as a local run writes them.
    for name in ("trials.csv", "pareto.csv", "report.html", "run.json"):
        assert (tmp_path / "run" / name).is_file()
    assert "Pareto front" in out.stdout and "report:" in out.stdout


def test_driver_killed_mid_search_then_resumed(cluster: LoopbackCluster, tmp_path: Path) -> None:
    """SIGKILL the driver with trials in flight: completed trials stay, and --resume finishes the
    budget. Trials in flight when it died are not in the run folder's journal, except as RUNNING
    placeholders where a later trial finished first: those are recorded interrupted and run again."""
    config = write_config(tmp_path / "s.yaml", n_trials=4, evaluator=TRAIN)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(nas_search(cluster, config, run_dir, "--workers", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=cluster.env)
    deadline = time.monotonic() + 240
    try:
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "the search ended before it could be killed"
            if [t for t in _journal_trials(run_dir) if t.state == optuna.trial.TrialState.COMPLETE]:
                time.sleep(0.3)  # two workers: the next trainings are under way
                proc.kill()
                break
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    before = {t.number: t for t in _journal_trials(run_dir)}
    completed = {n: t for n, t in before.items() if t.state == optuna.trial.TrialState.COMPLETE}
    running = {n: t for n, t in before.items() if t.state == optuna.trial.TrialState.RUNNING}
    assert completed

    out = subprocess.run(nas_search(cluster, config, run_dir, "--workers", "2", "--resume"), capture_output=True,
                         text=True, timeout=300, env=cluster.env)
    assert out.returncode == 0, out.stderr[-4000:]
    after = {t.number: t for t in _journal_trials(run_dir)}
    for n, t in completed.items():  # nothing completed was lost or changed
        assert after[n].state == optuna.trial.TrialState.COMPLETE and after[n].values == t.values
    for n in running:  # a placeholder at the kill: recorded interrupted, run again from its params
        assert after[n].state == optuna.trial.TrialState.FAIL and after[n].user_attrs["fail_reason"] == "interrupted"
        reruns = [r for r in after.values() if r.user_attrs.get("requeued_from") == n]
        assert len(reruns) == 1 and reruns[0].state == optuna.trial.TrialState.COMPLETE
        assert reruns[0].params == after[n].params
    counted = [t for t in after.values() if t.user_attrs.get("fail_reason") != "interrupted"]
    assert len(counted) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in counted)
    if running:
        assert f"resume: trials {sorted(running)} were interrupted" in (run_dir / "search.log").read_text()


def _journal_trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    """The run folder's trials as Optuna reads its journal (none before the study exists)."""
    if not (run_dir / "run.json").is_file():
        return []
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(str(run_dir / "study.journal")))
    return optuna.load_study(study_name="dist", storage=storage).get_trials(deepcopy=False)


@pytest.fixture
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def test_two_drivers_share_one_study_on_postgresql(cluster: LoopbackCluster, postgres: str, tmp_path: Path) -> None:
    """Two `nas search --ray` drivers, each in its own run folder, work on one study in a real PostgreSQL.

    Driver b's config asks for the custom resource ``dev``: its trials run on that node only. Driver b
    finds the cluster with ``--ray auto`` (from ``$RAY_ADDRESS``, as on a cluster node).
    """
    common = {"n_trials": 8, "evaluator": ZERO_COST, "storage": postgres, "study_name": "shared"}
    configs = {"a": write_config(tmp_path / "a.yaml", **common, ray={"num_cpus": 1}),
               "b": write_config(tmp_path / "b.yaml", **common, ray={"num_cpus": 1, "resources": {"dev": 1}})}
    procs = [subprocess.Popen(nas_search(cluster, configs["a"], tmp_path / "a", "--workers", "1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env),
             subprocess.Popen(nas_search(cluster, configs["b"], tmp_path / "b", "--workers", "1", address="auto"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**cluster.env, "RAY_ADDRESS": cluster.address})]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-4000:]
    trials = optuna.load_study(study_name="shared", storage=postgres).get_trials(deepcopy=False)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # The budget is the study's: each driver stops at 8 finished trials, counting the other's; at
    # most one trial more when both ask their last one at the same moment.
    assert 8 <= len(trials) <= 9
    by_driver: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:  # the tag is host:run folder
        by_driver.setdefault(Path(t.user_attrs["driver"].split(":", 1)[1]).name, []).append(t)
    assert sorted(by_driver) == ["a", "b"]
    dev_node = [node for node, resources in _node_resources(cluster) if resources.get("dev")]
    assert {t.user_attrs["ray_worker"]["node_id"] for t in by_driver["b"]} == set(dev_node)
    for name in ("a", "b"):  # each folder reads the shared study back, results and all
        assert len(load_run(tmp_path / name).trials()) == len(trials)
        assert (tmp_path / name / "report.html").is_file()


def test_trial_on_a_node_that_dies_is_retried_elsewhere(cluster: LoopbackCluster, tmp_path: Path) -> None:
    """A third node joins, runs a trial, and is SIGKILLed whole (raylet, workers): the trial runs again."""
    cluster.add_node(num_cpus=1, resources={"doomed": 1})
    doomed = cluster.nodes[-1].pid
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    killed: list[str] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and not killed:
            for pid, name in cluster.task_pids().items():
                if os.getsid(pid) == doomed:
                    time.sleep(0.5)
                    killed.append(name)
                    os.killpg(doomed, signal.SIGKILL)  # the node's whole session: ray start, raylet, workers
                    break
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        stats, log = run_driver(cluster, storage, "s", "--n-trials", "3", "--workers", "3", "--sleep", "4")
    finally:
        done.set()
        thread.join()
    assert len(killed) == 1
    trials = {t.number: t for t in load(storage, "s")}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials.values()) and len(trials) == 3
    victim = trials[int(killed[0].removeprefix("ray::nas-trial-"))]
    assert victim.user_attrs["ray_worker"]["attempts"] == 2
    # NodeDiedError, or WorkerCrashedError when the worker's death is seen first
    assert stats["retries"] == 1 and "worker lost (" in log
