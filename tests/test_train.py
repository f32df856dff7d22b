"""nas train: the recipe's parts (config, schedule, decay groups, augmentation, EMA), real
training on the bundled digits, exact resume from a checkpoint, and errors that name the input."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from _search_env import build_fast_table, tiny_space_yaml

from nas._errors import NasError
from nas.arch import Arch
from nas.cli._main import main
from nas.export import arch_export_source, export_arch, read_export, train_export
from nas.models import build_model
from nas.recipe import ModelEMA, augment, lr_factor, param_groups, random_crop
from nas.space import get_space
from nas.train import TrainConfig, default_train_config, measure_latency, resolve_device, train

TINY_SPACE = tiny_space_yaml("tiny_train", "three-stage space for training tests")
TINY_ARCH = "tiny_train:r16:w1|c8:k3e1|c16:k5e4,k3e2|c24:k3e3_se,k3e3"
DIGITS_V3 = ("mobilenet_v3:r16:w1|c16:k3e1|c24:k3e3,k3e3|c40:k3e3_se,k3e3_se|c80:k3e3,k3e3"
             "|c112:k3e3_se,k3e3_se|c160:k3e3_se,k3e3_se")


@pytest.fixture(scope="module")
def tiny_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spaces") / "tiny_train.yaml"
    path.write_text(TINY_SPACE)
    get_space(path)
    return path


@pytest.fixture(scope="module")
def tiny_table(tiny_space: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fast_table(tiny_space, tmp_path_factory.mktemp("tables") / "tiny_train_cpu.json")


def _export(tmp: Path, spec: str, tables: list[str] | None = None, **config: object) -> Path:
    out = tmp / "export"
    src = arch_export_source(spec, classes=10, in_channels=1, dataset="digits", tables=tables or [])
    base = default_train_config("digits", Arch.parse(spec).resolution)
    export_arch(src, out, onnx=True, train_config=base.replace(**config))
    return out


# -- recipe parts ----------------------------------------------------------------------------

def test_config_yaml_round_trip_and_hash(tmp_path: Path) -> None:
    c = default_train_config("cifar10:/data/cifar", 32)
    c.save(tmp_path / "train.yaml")
    again = TrainConfig.load(tmp_path / "train.yaml")
    assert again == c and again.hash == c.hash
    assert c.replace(lr=0.2).hash != c.hash
    assert (c.optimizer, c.nesterov, c.hflip, c.crop_padding) == ("sgd", True, True, 4)
    d = default_train_config("digits", 32)
    assert (d.hflip, d.optimizer) == (False, "adamw")  # mirrored digits are not digits


@pytest.mark.parametrize(("text", "field"), [
    ("optimizer: rmsprop", "optimizer"), ("lr: -1", "lr"), ("epochs: 0", "epochs"),
    ("label_smoothing: 1.5", "label_smoothing"), ("ema: maybe", "ema"), ("schema: 9", "schema"),
    ("warmup_epochs: 50\nepochs: 10", "warmup_epochs"), ("bogus: 1", "bogus"),
])
def test_config_errors_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(text + "\n")
    with pytest.raises(NasError, match=rf"{path}.*{field}"):
        TrainConfig.load(path)


def test_schedule_warms_up_linearly_then_cosine_decays() -> None:
    c = TrainConfig(dataset="digits", epochs=10, lr=0.1, warmup_epochs=2, warmup_start_factor=0.1,
                    min_lr=0.001)
    f = lr_factor(c.recipe(), total_steps=50, steps_per_epoch=5)
    assert f(0) == pytest.approx(0.19) and f(4) == pytest.approx(0.55) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)  # the cosine starts at the full rate
    after = [f(s) for s in range(10, 51)]
    assert all(a >= b for a, b in itertools.pairwise(after))
    assert f(50) == pytest.approx(0.01)  # min_lr / lr
    assert f(30) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.5)))


def test_no_weight_decay_on_norms_and_biases() -> None:
    model = build_model(Arch.parse(DIGITS_V3), classes=10, in_channels=1)
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    norms_and_biases = [p for m in model.modules() for n, p in m.named_parameters(recurse=False)
                        if isinstance(m, torch.nn.BatchNorm2d) or n == "bias"]
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in norms_and_biases}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_random_crop_is_a_shifted_window_and_seeded() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    y = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(y[i], w) for w in windows)
    assert torch.equal(y, random_crop(x, 2, torch.Generator().manual_seed(0)))
    flipped = augment(x.repeat(16, 1, 1, 1), crop_padding=0, hflip=True,
                      gen=torch.Generator().manual_seed(1))
    n_flipped = sum(torch.equal(f, x[i % 2].flip(-1)) for i, f in enumerate(flipped))
    assert 0 < n_flipped < 32
    same = augment(x, crop_padding=0, hflip=False, gen=torch.Generator().manual_seed(1))
    assert torch.equal(same, x)


def test_ema_follows_the_weights_with_warmed_up_decay() -> None:
    model = torch.nn.Linear(3, 2)
    ema = ModelEMA(model, decay=0.9)
    start = ema.module.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    d = min(0.9, 2 / 11)
    assert torch.allclose(ema.module.weight, d * start + (1 - d) * model.weight)
    assert not ema.module.weight.requires_grad


def test_latency_measurement_restores_threads() -> None:
    before = torch.get_num_threads()
    m = measure_latency(build_model(Arch.parse(DIGITS_V3), classes=10, in_channels=1),
                        in_channels=1, resolution=16, runs=5, warmup=1)
    assert m["median_ms"] > 0 and m["p10_ms"] <= m["median_ms"] <= m["p90_ms"]
    assert (m["threads"], m["batch"], m["runs"]) == (1, 1, 5)
    assert torch.get_num_threads() == before


class _Thrice(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) + self.net(x) + self.net(x)


def test_latency_measurement_times_reference_networks_in_the_same_rounds() -> None:
    net = build_model(Arch.parse(DIGITS_V3), classes=10, in_channels=1)
    m = measure_latency(net, in_channels=1, resolution=16, runs=23, warmup=1,
                        references={"anchor": _Thrice(net)})
    assert m["rounds"] == 10 and m["runs"] == 23 and set(m["references"]) == {"anchor"}
    ref = m["references"]["anchor"]
    # the reference runs the same network three times: it is timed apart from the model
    assert ref["thread_cpu_min_ms"] > 2 * m["thread_cpu_min_ms"]
    assert ref["min_ms"] > 2 * m["min_ms"] and ref["median_ms"] > 0
    assert "references" not in measure_latency(net, in_channels=1, resolution=16, runs=3,
                                               warmup=1)


def test_latency_report_divides_out_the_anchor_drift_of_the_predicting_table_only() -> None:
    from nas.train._latency import latency_report

    here = {"device_type": "cpu", "runtime": "torch", "threads": 1, "batch": 1, "device": "cpu X",
            "clock": "thread_cpu", "statistic": "min", "content_hash": "h1",
            "anchor": {"arch": "a", "ms": 10.0}}
    info = {"tables": [{"id": "t", "content_hash": "h1", "here": here}],
            "scores": {"latency:t": {"kind": "predicted", "value": 8.0, "table": "t",
                                     "table_hash": "h1"}}}
    measured = {"device": "cpu X", "median_ms": 13.0, "thread_cpu_min_ms": 12.0,
                "references": {"t": {"thread_cpu_min_ms": 12.5, "min_ms": 13.0}}}
    (entry,) = latency_report(info, measured)["predicted"]
    assert entry["measured_over_predicted"] == pytest.approx(1.5)
    assert entry["anchor"]["drift"] == pytest.approx(1.25) and entry["comparable"]
    assert entry["measured_over_predicted_drift_corrected"] == pytest.approx(1.2)
    # a prediction from another build of the table: its anchor time at build is not this one's
    info["scores"]["latency:t"]["table_hash"] = "h0"
    (entry,) = latency_report(info, measured)["predicted"]
    assert "anchor" not in entry and "measured_over_predicted_drift_corrected" not in entry


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(NasError, match="--device cuda: CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(NasError, match="expected cpu or cuda"):
        resolve_device("tpu")


# -- bad inputs ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_export(tiny_space: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("plain"), TINY_ARCH)


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "cifar10:/no/such/dir"], "cifar10 path /no/such/dir"),
    (["--data", "mnist"], "dataset 'mnist'"),
    (["--data", "imagefolder:/no/such/dir"], "imagefolder path /no/such/dir"),
    (["--device", "tpu"], "--device 'tpu'"),
    (["--epochs", "0"], "--epochs"),
    (["--resume"], "--resume: no checkpoint"),
])
def test_cli_train_bad_input_names_it(plain_export: Path, argv: list[str], message: str,
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(plain_export), "--out", str(tmp_path / "t"), "--no-progress",
                 *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error:") and message in err


def test_wrong_format_dataset_file_is_named(plain_export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cifar"
    folder.mkdir()
    (folder / "data_batch_1").write_text("not a pickle")
    with pytest.raises(NasError, match=r"cifar10 file .*data_batch_1: not a CIFAR-10"):
        train(plain_export, data=f"cifar10:{folder}", out=tmp_path / "t", progress=False)


def test_class_mismatch_and_missing_dataset_are_named(tiny_space: Path, tmp_path: Path) -> None:
    out = tmp_path / "e"
    export_arch(arch_export_source(TINY_ARCH, classes=7, in_channels=1), out, onnx=False)
    with pytest.raises(NasError, match=r"train\.yaml: no dataset; pass --data"):
        train(out, progress=False)
    with pytest.raises(NasError, match=r"10 classes .* made for 7 classes .* --classes 10"):
        train(out, data="digits", progress=False)


# -- real training ---------------------------------------------------------------------------

@pytest.mark.slow
def test_short_digits_training_reaches_accuracy_well_above_chance(tmp_path: Path) -> None:
    export = _export(tmp_path, DIGITS_V3, epochs=4, lr=0.01, ema=False)
    result = train_export(export, progress=False, latency_runs=20, threads=1)
    assert result["final_test_acc"] > 0.6  # chance is 0.1
    assert result["best_test_acc"] >= result["final_test_acc"]
    rows = list(csv.DictReader((export / "train" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert {"lr", "train_loss", "train_acc", "test_loss", "test_acc", "time_s"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert (export / "train" / "learning_curve.png").stat().st_size > 1000
    latency = result["latency"]
    assert latency["measured"]["median_ms"] > 0 and latency["predicted"] == [] and latency["note"]
    saved = json.loads((export / "train" / "result.json").read_text())
    assert saved["final_test_acc"] == result["final_test_acc"]
    # the export now holds the trained weights, and says so
    info, _, _ = read_export(export)
    assert info["weights"]["state"] == "trained" and info["weights"]["test_acc"] > 0.6
    trained = torch.load(export / "train" / "model.pt", weights_only=True)
    exported = torch.load(export / "model.pt", weights_only=True)
    assert all(torch.equal(trained[k], exported[k]) for k in trained)
    assert info["onnx"]["check"]["passed"]


def test_two_epoch_cli_training_with_ema_scores_far_above_chance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The digits recipe nas export writes (AdamW, EMA): two epochs are 44 steps. The running
    # batch-norm statistics those steps leave scored chance (0.10) on the test split, with the
    # EMA and the raw weights alike, until they were re-estimated after every epoch.
    export = _export(tmp_path, DIGITS_V3)
    assert main(["train", str(export), "--epochs", "2", "--threads", "1", "--no-progress",
                 "--latency-runs", "5"]) == 0
    captured = capsys.readouterr()
    result = json.loads((export / "train" / "result.json").read_text())
    assert result["evaluated"] == "ema" and result["epochs"] == 2
    assert result["final_test_acc"] > 0.6 and result["raw_final_test_acc"] > 0.6
    # the summary it prints: accuracies as percentages, labeled
    assert f"test accuracy  {100 * result['final_test_acc']:.1f}% (ema weights" in captured.out
    assert f"raw weights    {100 * result['raw_final_test_acc']:.1f}%" in captured.out
    assert "Traceback" not in captured.err
    rows = list(csv.DictReader((export / "train" / "metrics.csv").open()))
    assert float(rows[0]["test_acc"]) > 0.3  # already after one epoch
    # the warning says so exactly when the EMA weights score worse than the raw ones
    worse = result["raw_final_test_acc"] > result["final_test_acc"]
    assert result["ema_worse_than_raw"] is worse
    assert bool(result["warnings"]) is worse
    assert ("EMA weights score" in captured.err) is worse


def test_ema_warning_names_both_scores_and_the_recipe_file(tmp_path: Path) -> None:
    from nas.train._loop import ema_warning

    yaml_path = tmp_path / "train.yaml"
    message = ema_warning({"test_acc": 0.17, "raw_test_acc": 0.93}, yaml_path)
    assert message and "0.1700" in message and "0.9300" in message and str(yaml_path) in message
    assert ema_warning({"test_acc": 0.93, "raw_test_acc": 0.93}, yaml_path) is None
    assert ema_warning({"test_acc": 0.5, "raw_test_acc": None}, yaml_path) is None  # no EMA


def test_bn_recalibration_changes_only_the_running_statistics() -> None:
    from nas.recipe import bn_batches, recalibrate_bn

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Dropout(0.5), torch.nn.Linear(4 * 6 * 6, 3))
    model.eval()
    x = torch.randn(10, 1, 8, 8) * 3 + 2
    assert [len(b) for b in bn_batches(x, 4, 9)] == [4, 5]  # no batch of 1 (BatchNorm needs 2)
    batches = bn_batches(x, 4, 8)
    rng_before = torch.get_rng_state()
    recalibrate_bn(model, batches)
    assert torch.equal(torch.get_rng_state(), rng_before)  # dropout stayed off
    assert not any(m.training for m in model.modules())  # modes restored
    bn = model[1]
    with torch.no_grad():
        h = model[0](x[:8])
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    assert bn.momentum == 0.1


@pytest.mark.slow
def test_resume_continues_at_the_right_epoch_and_matches_an_uninterrupted_run(
        tiny_space: Path, tiny_table: Path, tmp_path: Path) -> None:
    export = _export(tmp_path, TINY_ARCH, tables=[str(tiny_table)], epochs=3, lr=0.01, ema=True)
    full = train(export, out=tmp_path / "full", progress=False, latency_runs=5, threads=1)
    part = train(export, out=tmp_path / "part", progress=False, stop_after=2, threads=1)
    assert not part["complete"] and part["epochs_done"] == 2
    with pytest.raises(NasError, match="exists: pass --resume"):
        train(export, out=tmp_path / "part", progress=False)
    with pytest.raises(NasError, match="another arch or training config"):
        train(export, out=tmp_path / "part", resume=True, epochs=5, progress=False)
    resumed = train_export(export, out=tmp_path / "part", resume=True, progress=False, latency_runs=5,
                           threads=1)
    rows = list(csv.DictReader((tmp_path / "part" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    keys = ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "raw_test_acc")
    full_rows = list(csv.DictReader((tmp_path / "full" / "metrics.csv").open()))
    assert [[r[k] for k in keys] for r in rows] == [[r[k] for k in keys] for r in full_rows]
    assert resumed["final_test_acc"] == full["final_test_acc"]
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the latency measured here sits beside the table's prediction for this arch
    (pred,) = resumed["latency"]["predicted"]
    info, _, _ = read_export(export)
    assert pred["table_hash"] == info["tables"][0]["content_hash"]
    assert pred["predicted_ms"] == info["scores"][f"latency:{pred['table']}"]["value"]
    measured = resumed["latency"]["measured"]
    table = info["tables"][0]["here"]  # `nas lut build` on 1 CPU thread: thread-CPU clock
    statistic = table["statistic"]
    assert table["clock"] == "thread_cpu" and statistic in ("median", "min")
    assert pred["compared_as"] == f"thread_cpu clock, {statistic}"
    assert pred["measured_ms"] == measured[f"thread_cpu_{statistic}_ms"]
    assert pred["measured_over_predicted"] == pytest.approx(pred["measured_ms"] / pred["predicted_ms"])
    assert pred["wall_median_over_predicted"] == pytest.approx(
        measured["median_ms"] / pred["predicted_ms"])
    assert pred["same_device"] is True and pred["comparable"] is True
    # the table's anchor network was timed beside the model: the machine's drift divided out
    anchor = info["tables"][0]["here"]["anchor"]
    anchor_arch, arch = Arch.parse(anchor["arch"]), Arch.parse(info["arch"])
    assert (anchor_arch.space, anchor_arch.resolution) == (arch.space, arch.resolution)
    assert anchor["ms"] > 0
    now = measured["references"][pred["table"]]["thread_cpu_min_ms"]
    assert pred["anchor"] == {"arch": anchor["arch"], "ms_at_build": anchor["ms"], "ms_now": now,
                              "drift": pytest.approx(now / anchor["ms"])}
    assert pred["measured_over_predicted_drift_corrected"] == pytest.approx(
        pred["measured_over_predicted"] * anchor["ms"] / now)
    assert info["weights"]["state"] == "trained"
    assert np.isfinite(resumed["latency"]["measured"]["median_ms"])


def test_imagefolder_training_with_flips_and_three_channels(tiny_space: Path, tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path / "folder"
    for label in (0, 1):
        (root / f"digit_{label}").mkdir(parents=True)
        for i, img in enumerate(digits.images[digits.target == label][:12]):
            rgb = np.repeat((img * 255 / 16).astype(np.uint8)[:, :, None], 3, axis=2)
            Image.fromarray(rgb).resize((16, 16)).save(root / f"digit_{label}" / f"{i}.png")
    out = tmp_path / "e"
    export_arch(arch_export_source(TINY_ARCH, classes=2, in_channels=3,
                                   dataset=f"imagefolder:{root}"), out, onnx=False)
    config = TrainConfig.load(out / "train.yaml")
    assert config.hflip and config.optimizer == "sgd" and config.crop_padding == 2
    result = train(out, epochs=1, progress=False, latency_runs=3, threads=1)
    assert result["complete"] and 0.0 <= result["final_test_acc"] <= 1.0
    assert result["dataset"] == f"imagefolder:{root}"
    (root / "digit_1" / "broken.png").write_text("not an image")
    with pytest.raises(NasError, match=r"imagefolder image .*broken\.png: cannot read"):
        train(out, out=tmp_path / "t2", progress=False)
