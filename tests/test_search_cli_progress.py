"""What ``nas search`` says while it runs and when it is stopped: a line per trial when stderr is
not a terminal, SIGTERM handled as Ctrl-C with a message naming --resume, and no folder left
behind by a --resume of a run that does not exist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from _search_env import FAST_TRAIN, LAT, config_dict

from nas.search import load_run


def search(cfg: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nas", "search", str(cfg), "--run-dir", str(run_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_a_line_per_trial_when_stderr_is_not_a_terminal(env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "lines.yaml"
    cfg.write_text(yaml.safe_dump(config_dict(env, objectives=[LAT, "macs"], evaluator=None, n_trials=5)))
    _, err = search(cfg, tmp_path / "run").communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.startswith("trial ")]
    assert len(lines) == 5, err
    assert all(f"[{i + 1}/5" in line and "ETA" in line for i, line in enumerate(lines))
    assert "COMPLETE" in lines[0] and f"{LAT}=" in lines[0]
    _, quiet = search(cfg, tmp_path / "quiet", "--no-progress").communicate(timeout=300)
    assert not [line for line in quiet.splitlines() if line.startswith("trial ")]


@pytest.mark.slow
def test_sigterm_is_an_interrupt_that_names_resume(env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "term.yaml"
    # Each trial trains for seconds, so the signal lands inside a training, not between two.
    cfg.write_text(yaml.safe_dump(config_dict(env, name="term", objectives=["accuracy", "macs"], n_trials=40,
                                              evaluator=dict(FAST_TRAIN, epochs=200))))
    run_dir = tmp_path / "run"
    proc = search(cfg, run_dir)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "run.json").is_file() and load_run(run_dir).trials(["COMPLETE"]):
            break
        time.sleep(0.05)
    time.sleep(1.0)  # the next training has started and is far from done
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert [t for t in load_run(run_dir).trials() if t.fail_reason == "interrupted"]


def test_resume_of_a_missing_run_leaves_no_folder(env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config_dict(env, objectives=[LAT, "macs"], evaluator=None, n_trials=2)))
    _, err = search(cfg, tmp_path / "nowhere", "--resume").communicate(timeout=120)
    assert "holds no run to resume" in err and "Traceback" not in err
    assert not (tmp_path / "nowhere").exists()
