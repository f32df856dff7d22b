"""nas lut kit / import-kit: ONNX block models, the standalone runner, and the round trip back to a
table that `nas lut validate` checks on this machine (onnxruntime's CPU provider as the device)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nas._errors import NasError
from nas.cli._main import main
from nas.latency import load_table
from nas.latency._enumerate import enumerate_blocks
from nas.lutkit import import_kit_results, read_manifest, write_kit
from nas.space import get_space

TINY = """\
name: tinykit
resolution: 16
channel_divisor: 8
stem: {out: 8, kernel: 3, stride: 2, act: relu}
stages:
  - {out: 8, stride: 1, act: relu, depth: 1, kernel: 3, expand: 1}
  - {out: 16, stride: 2, act: hswish, depth: [1, 2], kernel: [3, 5], expand: [3], se: [false, true]}
head:
  - {kind: conv, out: 32, act: relu}
  - {kind: pool}
  - {kind: classifier}
"""


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit")
    (root / "tinykit.yaml").write_text(TINY)
    space = get_space(root / "tinykit.yaml")
    write_kit(space, root / "kit", resolutions=[16], classes=10)
    return root / "kit"


def run_kit(kit: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The runner as a user runs it: a copy in the kit, a plain Python process."""
    return subprocess.run([sys.executable, str(kit / "run_kit.py"), "--repeats", "3", "--rounds",
                           "2", "--warmup", "1", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300, check=False)


def test_kit_has_one_onnx_model_per_key_and_a_manifest(kit: Path) -> None:
    manifest = read_manifest(kit)
    space = get_space(manifest["space_file"])
    keys = [b.key for b in enumerate_blocks(space, resolutions=[16], classes=10)]
    assert [b["key"] for b in manifest["blocks"]] == keys
    assert manifest["configs"] == [{"space": "tinykit", "resolution": 16, "widths": [1.0],
                                    "classes": 10, "in_channels": 3}]
    for b in manifest["blocks"]:
        model = onnx.load(str(kit / b["file"]))
        assert model.opset_import[0].version >= 17
        sess = ort.InferenceSession(str(kit / b["file"]), providers=["CPUExecutionProvider"])
        (y,) = sess.run(None, {sess.get_inputs()[0].name:
                               np.zeros(b["input_shape"], dtype=np.float32)})
        assert y.shape[0] == 1
    # The runner is standalone: it imports nothing from hwnas.
    assert "nas" not in {line.split()[1].split(".")[0] for line in
                         (kit / "run_kit.py").read_text().splitlines()
                         if line.startswith(("import ", "from "))}


@pytest.mark.slow
def test_round_trip_runner_import_validate(kit: Path, tmp_path: Path, capsys) -> None:
    results = tmp_path / "results.csv"
    proc = run_kit(kit, results)
    assert proc.returncode == 0, proc.stderr
    lines = results.read_text().splitlines()
    fp = json.loads(lines[1].removeprefix("# fingerprint "))
    assert fp["onnxruntime"] == ort.__version__ and fp["provider"] == "CPUExecutionProvider"
    assert fp["kit_id"] == read_manifest(kit)["kit_id"] and fp["threads"] == 1
    table_path = tmp_path / "kit_table.json"
    assert main(["lut", "import-kit", str(results), "--kit", str(kit), "--out",
                 str(table_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["missing"] == [] and summary["entries"] == len(read_manifest(kit)["blocks"])
    table = load_table(table_path)
    assert table.device["runtime_version"] == ort.__version__
    assert table.device["provider"] == "CPUExecutionProvider"
    assert all(e.n == 6 for e in table.entries.values())  # 2 rounds x 3 repeats
    assert main(["lut", "validate", str(table_path), "--n", "3", "--out", str(tmp_path / "val"),
                 "--no-progress", "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert val["n"] == 3 and val["backend"] == "onnxruntime" and val["mape"] >= 0


def test_import_kit_statistic_chooses_what_the_table_predicts_from(kit: Path, tmp_path: Path
                                                                   ) -> None:
    results = tmp_path / "results.csv"
    assert run_kit(kit, results).returncode == 0
    for statistic in ("median", "min"):
        assert main(["lut", "import-kit", str(results), "--kit", str(kit), "--statistic",
                     statistic, "--out", str(tmp_path / f"{statistic}.json")]) == 0
    by_median, by_min = (load_table(tmp_path / f"{s}.json") for s in ("median", "min"))
    assert (by_median.statistic, by_min.statistic) == ("median", "min")
    keys = list(by_min.entries)
    blocks = [b for b in enumerate_blocks(get_space(read_manifest(kit)["space_file"]),
                                          resolutions=[16], classes=10) if b.key in keys]
    assert by_min.predict_blocks(blocks) == pytest.approx(
        sum(by_min.entries[b.key].min for b in blocks))
    assert by_median.predict_blocks(blocks) == pytest.approx(
        sum(by_median.entries[b.key].median for b in blocks))
    assert by_min.predict_blocks(blocks) < by_median.predict_blocks(blocks)


def test_import_kit_refuses_foreign_or_broken_results(kit: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    proc = run_kit(kit, results, "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    table, summary = import_kit_results(results, kit)
    assert len(table) == 2 and len(summary["missing"]) == len(read_manifest(kit)["blocks"]) - 2
    text = results.read_text()
    other = tmp_path / "other.csv"
    other.write_text(text.replace(read_manifest(kit)["kit_id"], "0" * 16))
    with pytest.raises(NasError, match="measured kit '0000000000000000'"):
        import_kit_results(other, kit)
    bad_key = tmp_path / "badkey.csv"
    lines = text.splitlines()
    lines[3] = '"conv(cin=999,cout=8,hw=16)"' + lines[3][lines[3].index(",models"):]
    bad_key.write_text("\n".join(lines) + "\n")
    with pytest.raises(NasError, match="is not in kit"):
        import_kit_results(bad_key, kit)
    plain = tmp_path / "plain.csv"
    plain.write_text("key,median_ms\nx,1\n")
    with pytest.raises(NasError, match="not a kit results CSV"):
        import_kit_results(plain, kit)
    with pytest.raises(NasError, match=r"no manifest\.json"):
        import_kit_results(results, tmp_path)


def test_killed_runner_resumes_and_keeps_the_models_it_timed(kit: Path, tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    assert run_kit(kit, results, "--limit", "4", "--chunk", "2").returncode == 0
    # What a kill after the first chunk leaves: the partial file, its last row torn.
    lines = results.read_text().splitlines()
    tmp = tmp_path / "r.csv.tmp"
    tmp.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])
    results.unlink()
    proc = run_kit(kit, results, "--chunk", "2")
    assert proc.returncode == 0, proc.stderr
    assert "2 of " in proc.stderr and not tmp.exists()
    again = results.read_text().splitlines()
    assert again[:5] == lines[:5]  # fingerprint, header and the 2 rows timed before: as they were
    total = len(read_manifest(kit)["blocks"])
    assert len(again) == 3 + total  # every model once: the torn one and the rest timed now
    table, summary = import_kit_results(results, kit)
    assert len(table) == total and not summary["missing"]
    # A partial file of other settings is refused and left as it was.
    tmp.write_text("\n".join(lines[:5]) + "\n")
    proc = run_kit(kit, results, "--threads", "2")
    assert proc.returncode == 1 and "other settings (threads)" in proc.stderr
    assert tmp.read_text() == "\n".join(lines[:5]) + "\n"


def test_runner_and_kit_argument_errors(kit: Path, tmp_path: Path, capsys) -> None:
    proc = run_kit(kit, tmp_path / "x.csv", "--provider", "NoSuchExecutionProvider")
    assert proc.returncode == 2 and "not in this onnxruntime build" in proc.stderr
    assert main(["lut", "kit", "--space", "fbnet", "--resolution", "32", "--format", "tflite",
                 "--out", str(tmp_path / "k")]) == 2
    assert "only onnx kits" in capsys.readouterr().err
    with pytest.raises(NasError, match="not empty"):
        write_kit(get_space("fbnet"), kit, resolutions=[32])
