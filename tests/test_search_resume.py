"""A search process killed mid-training loses no completed trial, and ``--resume`` finishes the
budget (real subprocesses): with the run folder's journal (SIGKILL loses only the trial in flight;
Ctrl-C records it interrupted and the resume re-runs it) and with an external SQLite study (the
killed driver's RUNNING trial is recovered and re-run)."""

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

from nas.search import TrialRecord, load_run

N_TRIALS = 5


def _search(cfg: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "nas", "search", str(cfg), "--run-dir",
                             str(run_dir), "--no-progress", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A child inherits an ignored SIGINT, and Python then never raises KeyboardInterrupt: after the
    # Ray tests this pytest process may ignore it, so the child would run on through a Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _config(tmp_path: Path, **extra: object) -> Path:
    (tmp_path / "tiny_search.yaml").write_text(TINY_SPACE)
    cfg = tmp_path / "kill.yaml"
    # Long enough trainings (20 epochs of 400 images: 3 s or more even on a quiet machine) that the
    # kill lands inside one, not after the last trial.
    cfg.write_text(yaml.safe_dump(config_dict(
        tmp_path, name="kill", objectives=["accuracy", "macs"], n_trials=N_TRIALS,
        evaluator=dict(FAST_TRAIN, epochs=20, train_subset=400), **extra)))
    return cfg


def _trained(run_dir: Path) -> list[int]:
    """Numbers of the trials the journal holds as trained and complete."""
    if not (run_dir / "run.json").is_file():
        return []
    return [t.number for t in load_run(run_dir).trials(["COMPLETE"]) if t.user_attrs.get("trained")]


def _stop_mid_training(cfg: Path, run_dir: Path, sig: int) -> subprocess.Popen[str]:
    """Start a search, wait for one trained trial in its journal, let the next training start,
    then send ``sig``."""
    proc = _search(cfg, run_dir)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not _trained(run_dir):
        time.sleep(0.05)
    time.sleep(0.3)  # the next candidate is being trained: every training takes seconds
    assert proc.poll() is None, f"the search ended before it could be stopped: {proc.stderr.read()}"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


def _resume(cfg: Path, run_dir: Path) -> dict[int, TrialRecord]:
    resumed = _search(cfg, run_dir, "--resume")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert "Pareto front" in out
    return {t.number: t for t in load_run(run_dir).trials()}


@pytest.mark.slow
def test_sigkill_loses_only_the_trial_in_flight(tmp_path: Path) -> None:
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    proc = _stop_mid_training(cfg, run_dir, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    before = {t.number: t for t in load_run(run_dir).trials()}
    assert before and all(t.state == "COMPLETE" for t in before.values())  # finished ones only
    after = _resume(cfg, run_dir)
    for n, t in before.items():  # nothing completed was lost or changed
        assert after[n].state == "COMPLETE" and after[n].values == t.values
    assert len(after) == N_TRIALS and not [t for t in after.values() if t.fail_reason]


@pytest.mark.slow
def test_ctrl_c_records_the_trial_and_resume_reruns_it(tmp_path: Path) -> None:
    cfg, run_dir = _config(tmp_path), tmp_path / "run"
    proc = _stop_mid_training(cfg, run_dir, signal.SIGINT)
    assert proc.returncode == 130, proc.stderr.read() if proc.stderr else ""
    (victim,) = [t for t in load_run(run_dir).trials() if t.fail_reason == "interrupted"]
    after = _resume(cfg, run_dir)
    rerun = [t for t in after.values() if t.user_attrs.get("requeued_from") == victim.number]
    assert len(rerun) == 1 and rerun[0].params == victim.params and rerun[0].user_attrs["trained"] is True
    counted = [t for t in after.values() if t.fail_reason != "interrupted"]
    assert len(counted) == N_TRIALS and len(after) == N_TRIALS + 1


def _trials(run_dir: Path, storage: str) -> list[optuna.trial.FrozenTrial]:
    # run.json is written once the study exists in the storage.
    if not (run_dir / "run.json").is_file():
        return []
    return optuna.load_study(study_name="kill", storage=storage).get_trials()


@pytest.mark.slow
def test_sigkill_mid_trial_then_resume_on_an_external_sqlite_study(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cfg = _config(tmp_path, storage=storage, study_name="kill")
    run_dir = tmp_path / "run"
    proc = _search(cfg, run_dir)
    deadline = time.monotonic() + 240
    victim = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            trials = _trials(run_dir, storage)
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
