"""A search process killed with SIGKILL mid-training loses no completed trial, and ``--resume``
re-runs the interrupted candidate and finishes the budget (real subprocesses, real SQLite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from _search_env import FAST_TRAIN, TINY_SPACE, config_dict

from nas.search import load_run

N_TRIALS = 5


def _search(cfg: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "nas", "search", str(cfg), "--run-dir",
                             str(run_dir), "--no-progress", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    # run.json is written once the study exists in the storage.
    if not (run_dir / "run.json").is_file():
        return []
    storage = f"sqlite:///{run_dir / 'study.db'}"
    return optuna.load_study(study_name="kill", storage=storage).get_trials()


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (tmp_path / "tiny_search.yaml").write_text(TINY_SPACE)
    cfg = tmp_path / "kill.yaml"
    # Long enough trainings (several epochs) that the kill lands inside one.
    cfg.write_text(yaml.safe_dump(config_dict(
        tmp_path, name="kill", objectives=["accuracy", "macs"], n_trials=N_TRIALS,
        evaluator=dict(FAST_TRAIN, epochs=12))))
    run_dir = tmp_path / "run"
    proc = _search(cfg, run_dir)
    deadline = time.monotonic() + 240
    victim = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            trials = _trials(run_dir)
            done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
            training = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
                        and t.user_attrs.get("feasible") is True]
            if done and training:
                proc.send_signal(signal.SIGKILL)
                victim = training[0]
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and victim is None:
            proc.kill()
        proc.wait(timeout=60)
    assert victim is not None, f"never saw a trial in training; stderr: {proc.stderr.read()}"
    assert proc.returncode == -signal.SIGKILL

    before = {t.number: t for t in load_run(run_dir).trials()}
    completed = {n: t for n, t in before.items() if t.state == "COMPLETE"}
    assert completed, "completed trials must survive the kill"
    assert before[victim.number].state == "RUNNING"

    resumed = _search(cfg, run_dir, "--resume")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert "Pareto front" in out

    after = {t.number: t for t in load_run(run_dir).trials()}
    for n, t in completed.items():  # nothing completed was lost or changed
        assert after[n].state == "COMPLETE" and after[n].values == t.values
    interrupted = after[victim.number]
    assert interrupted.state == "FAIL" and interrupted.fail_reason == "interrupted"
    rerun = [t for t in after.values() if t.number > victim.number and t.params == victim.params]
    assert rerun and rerun[0].state in ("COMPLETE", "PRUNED") and rerun[0].cached_from is None
    assert rerun[0].user_attrs["trained"] is True
    counted = [t for t in after.values() if t.fail_reason != "interrupted"]
    assert len(counted) == N_TRIALS and len(after) == N_TRIALS + 1
