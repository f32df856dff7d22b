"""experiments/gpu_tables.py (issue 8's one command), checked on the CPU with tiny spaces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.latency import read_table

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "gpu_tables.py"


@pytest.mark.slow
def test_tiny_cpu_run_builds_calibrates_validates_and_resumes(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), str(tmp_path), "--device", "cpu", "--tiny",
           "--batches", "1", "--n", "3", "--cal-n", "4", "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    summary = json.loads((tmp_path / "summary.json").read_text())
    ids = {r["table"] for r in summary["rows"]}
    assert ids == {f"cpu_torch_{s}_tiny_b1_float32"
                   for s in ("mobilenet_v3", "mobilenet_v2", "efficientnet")}
    for tid in ids:
        table = read_table(tmp_path / "tables" / f"{tid}.json")
        assert table.calibration is not None and table.resolutions == [32, 64]
        assert {(c["resolution"], c["in_channels"], c["classes"]) for c in table.configs} == {
            (64, 3, 1000), (32, 1, 10)}
        val = json.loads((tmp_path / "validation" / f"{tid}.json").read_text())
        assert val["n"] == 6 and set(val["per_resolution"]) == {"32", "64"}
        assert (tmp_path / "validation" / f"validate_{tid}.png").stat().st_size > 1000
    assert "| `cpu_torch_mobilenet_v2_tiny_b1_float32` | 32 |" in (
        tmp_path / "summary.md").read_text()
    # A rerun finds everything done: no key or network is measured again.
    hashes = {t: read_table(tmp_path / "tables" / f"{t}.json").content_hash for t in ids}
    again = subprocess.run([*cmd[:5], "--tiny", "--spaces", "mobilenet_v2", "--batches", "1"],
                           check=True, capture_output=True, text=True, timeout=600)
    assert "0 keys measured" in again.stdout and "calibrated" not in again.stdout
    assert {t: read_table(tmp_path / "tables" / f"{t}.json").content_hash
            for t in ids} == hashes
