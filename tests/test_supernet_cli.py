"""``nas supernet train/eval``, exact resume after SIGKILL, clear errors, export and fine-tune."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _supernet_tiny import write_mnist, write_recipe, write_space

from nas import NasError
from nas.cli._main import main
from nas.supernet import SubnetScorer, SupernetConfig, load_supernet, read_checkpoint, train_supernet

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("supernet")
    space = write_space(root)
    data = write_mnist(root / "mnist")
    recipe = write_recipe(root / "recipe.yaml", space, data, epochs=2)
    out = root / "run"
    assert main(["supernet", "train", str(recipe), "--out", str(out), "--no-progress"]) == 0
    return {"root": root, "space": space, "data": data, "recipe": recipe, "run": out}


def test_train_writes_checkpoint_metrics_and_plot(tiny: dict[str, Path]) -> None:
    run = tiny["run"]
    for name in ("checkpoint.pt", "supernet.yaml", "metrics.csv", "accuracy.png"):
        assert (run / name).is_file(), name
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss,largest_acc,smallest_acc,random_acc") and len(rows) == 3
    ckpt = read_checkpoint(run)
    assert ckpt["space"]["name"] == "tiny_sn" and len(ckpt["space"]["hash"]) == 16
    assert ckpt["dataset"].startswith("mnist:") and ckpt["config"]["epochs"] == 2
    sn = load_supernet(run)
    assert sn.complete and sn.epochs_done == 2 and sn.recipe == SupernetConfig.load(tiny["recipe"])


def test_eval_json_matches_the_training_record(tiny: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sn = load_supernet(tiny["run"])
    archs = [sn.smallest.text, sn.largest.text]
    assert main(["supernet", "eval", str(tiny["run"]), *archs, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in rows] == archs and all(0 <= r["accuracy"] <= 1 for r in rows)
    last = read_checkpoint(tiny["run"])["history"][-1]
    assert rows[0]["accuracy"] == pytest.approx(last["smallest_acc"])
    assert rows[1]["accuracy"] == pytest.approx(last["largest_acc"])
    assert SubnetScorer(tiny["run"]).score(archs[0]) == rows[0]["accuracy"]  # deterministic
    assert main(["supernet", "eval", str(tiny["run"]), archs[0]]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["accuracy", "MACs", "s"] and archs[0] in table[1]


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_inputs_give_one_line_errors(tiny: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    run = str(tiny["run"])
    sn = load_supernet(run)
    big = sn.largest.text.replace("k7e4", "k9e4")
    assert "outside the supernet's choices" in _error(["supernet", "eval", run, big], capsys)
    assert "k9e4_se not in" in _error(["supernet", "eval", run, big], capsys)
    other = "mobilenet_v3:r12:w1|c16:k3e1|c24:k3e3,k3e3|c40:k3e3_se,k3e3_se|c80:k3e3,k3e3|" \
            "c112:k3e3_se,k3e3_se|c160:k3e3_se,k3e3_se"
    assert "supernet is of space 'tiny_sn'" in _error(["supernet", "eval", run, other], capsys)
    assert "no checkpoint.pt" in _error(["supernet", "eval", str(tmp_path), other], capsys)
    assert "--resume" in _error(["supernet", "train", str(tiny["recipe"]), "--out", run], capsys)
    changed = write_recipe(tmp_path / "r.yaml", tiny["space"], tiny["data"], epochs=3)
    err = _error(["supernet", "train", str(changed), "--out", run, "--resume"], capsys)
    assert "another recipe: field(s) epochs differ" in err
    other_threads = write_recipe(tmp_path / "t.yaml", tiny["space"], tiny["data"], epochs=2, threads=2)
    assert main(["supernet", "train", str(other_threads), "--out", run, "--resume", "--no-progress"]) == 0
    missing = write_recipe(tmp_path / "m.yaml", tiny["space"], tmp_path / "no_such_dir")
    assert "not a directory" in _error(["supernet", "train", str(missing), "--out", str(tmp_path / "o")],
                                       capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("space: tiny_sn\ndataset: digits\nepochs: 0\n")
    assert "field 'epochs' is 0" in _error(["supernet", "train", str(bad), "--out", str(tmp_path / "o")],
                                           capsys)


def test_checkpoint_of_another_space_version_is_refused(tmp_path: Path, tiny: dict[str, Path]) -> None:
    space = write_space(tmp_path, "tiny_sn_edit")
    recipe = write_recipe(tmp_path / "r.yaml", space, tiny["data"], epochs=1, train_subset=50,
                          eval_subnets=0)
    train_supernet(SupernetConfig.load(recipe), tmp_path / "run", progress=False)
    load_supernet(tmp_path / "run")
    text = space.read_text().replace("kernel: [3, 5, 7]", "kernel: [3, 5]")
    space.write_text(text)
    os.utime(space, (time.time() + 5, time.time() + 5))
    with pytest.raises(NasError, match=r"tiny_sn_edit.* content hash .* another version of the space"):
        load_supernet(tmp_path / "run")


def _state(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path, tiny: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", tiny["space"], tiny["data"], epochs=3, train_subset=100)
    config = SupernetConfig.load(recipe)
    train_supernet(config, tmp_path / "whole", progress=False)

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nas", "supernet", "train", str(recipe), "--out",
                             str(killed), "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (killed / "checkpoint.pt").is_file() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    epoch = read_checkpoint(killed)["epoch"]
    assert proc.returncode == -signal.SIGKILL and epoch < 3  # interrupted, not finished
    result = train_supernet(config, killed, resume=True, progress=False)
    assert result["complete"] and result["epochs_done"] == 3
    whole, resumed = _state(tmp_path / "whole"), _state(killed)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert read_checkpoint(killed)["history"][-1]["largest_acc"] == \
        read_checkpoint(tmp_path / "whole")["history"][-1]["largest_acc"]


def test_export_with_inherited_weights_then_fine_tune(tiny: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from nas.export import read_export
    from nas.models import build_model
    from nas.recipe import evaluate

    scorer = SubnetScorer(tiny["run"])
    sn = scorer.supernet
    arch = sn.largest
    out = tmp_path / "export"
    assert main(["export", arch.text, "--out", str(out), "--no-onnx", "--from-supernet",
                 str(tiny["run"])]) == 0
    capsys.readouterr()
    info, _, space = read_export(out)
    assert info["weights"]["state"] == "supernet" and info["classes"] == 10 and info["in_channels"] == 1
    model = build_model(arch, space, classes=10, in_channels=1, dropout=info["dropout"])
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    acc = evaluate(model, scorer.x, scorer.y, 100, torch.device("cpu"))[1]
    assert acc == pytest.approx(scorer.score(arch)) == pytest.approx(info["weights"]["minival_acc"])
    assert main(["train", str(out), "--epochs", "1", "--threads", "1", "--no-progress",
                 "--latency-runs", "2", "--no-update-export", "--out", str(tmp_path / "ft")]) == 0
    result = json.loads((tmp_path / "ft" / "result.json").read_text())
    assert result["complete"] and result["epochs"] == 1


@pytest.mark.parametrize("mode", ["per_subnet", "per_step"])
def test_resolution_sampling_modes(tiny: dict[str, Path], mode: str) -> None:
    from nas.supernet._train import _sandwich

    sn = load_supernet(tiny["run"])
    config = SupernetConfig.from_dict({"space": "tiny_sn", "dataset": "digits", "resolutions": [8, 12],
                                       "random_subnets": 3, "resolution_sampling": mode})
    rng = np.random.default_rng(0)
    seen: set[int] = set()
    for _ in range(20):
        teacher, subnets = _sandwich(sn, sn.largest, sn.smallest, config, rng)
        res = {a.resolution for a in [teacher, *subnets]}
        assert teacher.replace(resolution=12) == sn.largest
        assert subnets[0].replace(resolution=8) == sn.smallest and len(subnets) == 4
        if mode == "per_step":  # one resolution for the whole sandwich, each drawn in turn
            assert len(res) == 1
            seen |= res
        else:  # BigNAS: the extremes pinned to the extreme resolutions
            assert teacher.resolution == 12 and subnets[0].resolution == 8
    assert mode == "per_subnet" or seen == {8, 12}
    with pytest.raises(NasError, match="'resolution_sampling' is 'x'; expected one of per_subnet, per_step"):
        SupernetConfig.from_dict({"space": "s", "dataset": "d", "resolution_sampling": "x"})


def test_a_checkpoint_from_before_a_new_recipe_field_resumes(tmp_path: Path, tiny: dict[str, Path]) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", tiny["space"], tiny["data"], epochs=2, train_subset=100)
    config = SupernetConfig.load(recipe)
    train_supernet(config, tmp_path / "run", progress=False, stop_after=1)
    ckpt_path = tmp_path / "run" / "checkpoint.pt"
    ckpt = read_checkpoint(tmp_path / "run")
    del ckpt["config"]["resolution_sampling"]  # as an older version recorded it
    torch.save(ckpt, ckpt_path)
    per_step = write_recipe(tmp_path / "s.yaml", tiny["space"], tiny["data"], epochs=2, train_subset=100,
                            resolution_sampling="per_step")
    with pytest.raises(NasError, match=r"field\(s\) resolution_sampling differ"):
        train_supernet(SupernetConfig.load(per_step), tmp_path / "run", resume=True, progress=False)
    assert train_supernet(config, tmp_path / "run", resume=True, progress=False)["complete"]
    assert train_supernet(SupernetConfig.load(per_step), tmp_path / "step", progress=False)["complete"]
