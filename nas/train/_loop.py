"""``nas train``: train an exported architecture with a standard recipe, resumably.

Recipe (fields in :class:`TrainConfig`): SGD with Nesterov momentum or AdamW; per-step cosine
schedule after a linear warm-up; label smoothing; weight decay on conv/linear weights only (not
on norms and biases); optional EMA of the weights, which is what gets evaluated and exported
(``result["warnings"]`` says when it scores worse than the raw weights); batch-norm statistics
re-estimated on fixed training images after every epoch, before evaluation;
batch augmentation with torch ops (:mod:`nas.train._augment`); mixed precision (autocast +
GradScaler) on CUDA, plain float32 on the CPU. Every epoch writes ``checkpoint.pt`` (model,
optimizer, scheduler, scaler, EMA, epoch, metric history, every RNG state) atomically, so
``resume=True`` continues exactly where the last completed epoch left off.

Randomness: a ``numpy.random.Generator`` for the split and batch order, a ``torch.Generator`` for
augmentation, and the global torch RNG (initialization, dropout) seeded inside
``torch.random.fork_rng`` so the caller's RNG state is untouched.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas import __version__
from nas._errors import NasError
from nas.data import ImageData, load_dataset
from nas.recipe import (
    Diverged,
    EpochStats,
    ModelEMA,
    augment,
    bn_batches,
    evaluate,
    make_optimizer,
    make_scheduler,
    recalibrate_bn,
    save_atomic,
    torch_threads,
    train_epoch,
    write_metrics,
)
from nas.space import SearchSpace
from nas.train._config import TrainConfig, default_train_config
from nas.train._export_dir import fine_tune_weights, initial_model, read_export
from nas.train._latency import (
    anchor_references,
    cpu_name,
    latency_report,
    measure_latency,
)
from nas.train._plot import plot_learning_curve

CHECKPOINT = "checkpoint.pt"
# Writes trained weights back into the export folder: (export_dir, state_dict, *, dropout,
# weights_info) -> anything; ``nas.export.update_weights`` is the one hwnas uses.
WriteBack = Callable[..., Any]
# Training images (a fixed seeded sample, not augmented) over which the batch-norm statistics of
# the raw and the EMA weights are re-estimated after every epoch, before they are evaluated.
BN_IMAGES = 2048
METRICS_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc",
                   "raw_test_loss", "raw_test_acc", "time_s")


def resolve_device(name: str) -> torch.device:
    """``cpu`` or ``cuda[:N]``; CUDA must be available."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise NasError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                           f"CUDA build {torch.version.cuda or 'none'}); use --device cpu")
        return torch.device(name)
    raise NasError(f"--device {name!r}: expected cpu or cuda")


def _load_data(config: TrainConfig, info: dict[str, Any], resolution: int, export_dir: Path
               ) -> ImageData:
    data = load_dataset(config.dataset, resolution=resolution, test_fraction=config.test_fraction,
                        rng=np.random.default_rng(config.seed))
    if data.classes != info["classes"] or data.in_channels != info["in_channels"]:
        raise NasError(
            f"dataset {config.dataset!r} has {data.classes} classes and {data.in_channels} input "
            f"channels, but the export {export_dir} was made for {info['classes']} classes and "
            f"{info['in_channels']} channels; re-export with --classes {data.classes} "
            f"--in-channels {data.in_channels}")
    if len(data.y_train) < 2:
        raise NasError(f"dataset {config.dataset!r}: fewer than 2 training images")
    return data


def load_train_config(export_dir: Path, info: dict[str, Any], resolution: int, *,
                      data: str | None, epochs: int | None) -> TrainConfig:
    """``train.yaml`` of the export (or the defaults), with ``--data`` / ``--epochs`` applied."""
    path = export_dir / "train.yaml"
    config = TrainConfig.load(path) if path.is_file() else default_train_config(data or "", resolution)
    if data:
        config = config.replace(dataset=data)
    if epochs is not None:
        if epochs < 1:
            raise NasError(f"--epochs must be >= 1, got {epochs}")
        config = config.replace(epochs=epochs, warmup_epochs=min(config.warmup_epochs, epochs))
    if not config.dataset:
        raise NasError(f"{path}: no dataset; pass --data digits|cifar10:PATH|imagefolder:PATH "
                       "or set the field 'dataset'")
    return config


def train(export_dir: str | Path, *, data: str | None = None, epochs: int | None = None,
          device: str = "cpu", resume: bool = False, out: str | Path | None = None,
          progress: bool = True, stop_after: int | None = None, latency_runs: int = 200,
          write_back: WriteBack | None = None, threads: int | None = None,
          from_scratch: bool = False) -> dict[str, Any]:
    """Train the architecture of an export folder; returns what ``result.json`` holds.

    Args:
        export_dir: a folder written by ``nas export`` (``arch.json``, ``train.yaml``).
        data: dataset spec; overrides ``train.yaml``'s ``dataset``.
        epochs: overrides ``train.yaml``'s ``epochs`` (the warm-up is capped at it).
        device: ``cpu`` or ``cuda``.
        resume: continue from ``OUT/checkpoint.pt``.
        out: output folder (default ``EXPORT_DIR/train``).
        progress: show a tqdm progress bar.
        stop_after: stop after this many epochs in this call, as an interruption would (the
            checkpoint is kept; the run is completed later with ``resume=True``).
        latency_runs: timed runs for the final CPU latency measurement.
        write_back: puts the trained weights into the export folder (``model.pt``, ``model.onnx``);
            ``None`` leaves the folder as it is (see ``nas.export.train_export``).
        threads: torch intra-op threads for CPU training (default: torch's choice).
        from_scratch: ignore weights inherited from a supernet in the export's ``model.pt``
            (they are fine-tuned by default).
    """
    if threads is not None and threads < 1:
        raise NasError(f"--threads must be >= 1, got {threads}")
    with torch_threads(threads):
        return _train(Path(export_dir), data=data, epochs=epochs, device=device, resume=resume,
                      out=out, progress=progress, stop_after=stop_after,
                      latency_runs=latency_runs, write_back=write_back, from_scratch=from_scratch)


def _train(export_dir: Path, *, data: str | None, epochs: int | None, device: str, resume: bool,
           out: str | Path | None, progress: bool, stop_after: int | None, latency_runs: int,
           write_back: WriteBack | None, from_scratch: bool = False) -> dict[str, Any]:
    info, arch, space = read_export(export_dir)
    config = load_train_config(export_dir, info, arch.resolution, data=data, epochs=epochs)
    dev = resolve_device(device)
    out_dir = Path(out) if out is not None else export_dir / "train"
    ckpt_path = out_dir / CHECKPOINT
    if resume and not ckpt_path.is_file():
        raise NasError(f"--resume: no checkpoint {ckpt_path} to resume from")
    if not resume and ckpt_path.is_file():
        raise NasError(f"{ckpt_path} exists: pass --resume to continue that run, or another --out")
    if latency_runs < 1:
        raise NasError(f"latency runs must be >= 1, got {latency_runs}")
    data_ = _load_data(config, info, arch.resolution, export_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / "train.yaml")

    use_amp = config.amp and dev.type == "cuda"
    x_train, y_train = data_.x_train.to(dev), data_.y_train.to(dev)
    x_test, y_test = data_.x_test.to(dev), data_.y_test.to(dev)
    bs = min(config.batch_size, len(y_train))
    steps_per_epoch = len(y_train) // bs  # drop the last partial batch (BatchNorm needs > 1)
    cuda_devices = [dev.index or 0] if dev.type == "cuda" else []
    # The running statistics a few hundred steps leave are averages over weights that have
    # since changed (and, for the EMA, blends of them); in a deep net the mismatch compounds
    # layer by layer until a short run scores chance on the test split. Re-estimated with the
    # final weights of each epoch on fixed images, they match what the weights compute.
    bn_idx = np.sort(np.random.default_rng([config.seed, 2]).permutation(len(y_train))[:BN_IMAGES])
    bn_inputs = bn_batches(x_train[torch.from_numpy(bn_idx).to(dev)], bs, BN_IMAGES)

    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.seed)
        model = initial_model(arch, space, classes=info["classes"], in_channels=info["in_channels"],
                              dropout=config.dropout, seed=config.seed,
                              weights=None if from_scratch else fine_tune_weights(export_dir, info)).to(dev)
        recipe = config.recipe()
        optimizer = make_optimizer(recipe, model)
        scheduler = make_scheduler(recipe, optimizer, config.epochs * steps_per_epoch, steps_per_epoch)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        ema = ModelEMA(model, config.ema_decay) if config.ema else None
        order_rng = np.random.default_rng([config.seed, 1])
        aug_gen = torch.Generator().manual_seed(config.seed + 1)
        history: list[dict[str, Any]] = []
        start_epoch = 0
        if resume:
            ckpt = torch.load(ckpt_path, map_location=dev, weights_only=True)
            if ckpt["arch_hash"] != arch.hash or ckpt["config_hash"] != config.hash:
                raise NasError(f"{ckpt_path} was made for another arch or training config "
                               "(train.yaml, --data, --epochs must match the interrupted run)")
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            if ema is not None:
                ema.load_state_dict(ckpt["ema"])
            order_rng.bit_generator.state = ckpt["rng"]["numpy"]
            aug_gen.set_state(ckpt["rng"]["torch_aug"])
            torch.set_rng_state(ckpt["rng"]["torch_global"])
            if cuda_devices and ckpt["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(ckpt["rng"]["cuda"], cuda_devices[0])
            history, start_epoch = list(ckpt["history"]), int(ckpt["epoch"])

        from tqdm.auto import tqdm

        remaining = config.epochs - start_epoch
        if stop_after is not None:
            remaining = min(remaining, stop_after)
        bar = tqdm(total=remaining * steps_per_epoch, disable=not progress, unit="step",
                   dynamic_ncols=True, desc=f"train {arch.hash}")
        for epoch in range(start_epoch, start_epoch + remaining):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            order = torch.from_numpy(order_rng.permutation(len(y_train))).to(dev)

            def epoch_batches(order: torch.Tensor = order) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
                for step in range(steps_per_epoch):
                    idx = order[step * bs:(step + 1) * bs]
                    xb = augment(x_train[idx], crop_padding=config.crop_padding, hflip=config.hflip, gen=aug_gen)
                    yield xb, y_train[idx]

            def on_step(stats: EpochStats, epoch: int = epoch) -> None:
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{stats.loss:.3f}", refresh=False)

            try:
                stats = train_epoch(model, epoch_batches(), optimizer, scheduler, recipe, scaler=scaler, ema=ema,
                                    on_step=on_step)
            except Diverged as exc:
                raise NasError(f"training diverged at epoch {epoch + 1} (loss {exc.loss}); "
                               f"lower 'lr' in {export_dir / 'train.yaml'}") from None
            loss_sum, correct, seen = stats.loss_sum, stats.correct, stats.seen
            recalibrate_bn(model, bn_inputs)
            if ema is not None:
                recalibrate_bn(ema.module, bn_inputs)
            evaluated = ema.module if ema is not None else model
            test_loss, test_acc = evaluate(evaluated, x_test, y_test, config.eval_batch_size, dev)
            raw = evaluate(model, x_test, y_test, config.eval_batch_size, dev) if ema else (None, None)
            history.append({"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / seen,
                            "train_acc": correct / seen, "test_loss": test_loss, "test_acc": test_acc,
                            "raw_test_loss": raw[0], "raw_test_acc": raw[1],
                            "time_s": round(time.perf_counter() - t0, 3)})
            bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", test_acc=f"{test_acc:.3f}")
            save_atomic({
                "epoch": epoch + 1, "arch_hash": arch.hash, "config_hash": config.hash,
                "hwnas_version": __version__, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "ema": ema.state_dict() if ema else None,
                "history": history,
                "rng": {"numpy": order_rng.bit_generator.state, "torch_aug": aug_gen.get_state(),
                        "torch_global": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state(cuda_devices[0]) if cuda_devices else None},
            }, ckpt_path)
            write_metrics(history, METRICS_COLUMNS, out_dir / "metrics.csv")
        bar.close()

    done = history[-1]["epoch"] if history else 0
    if done < config.epochs:
        return {"complete": False, "epochs_done": done, "epochs": config.epochs,
                "checkpoint": str(ckpt_path), "history": history}
    final_model = ema.module if ema is not None else model
    return _finish(export_dir, out_dir, info, arch.text, space, config, final_model, history, dev,
                   use_amp, latency_runs, write_back)


def ema_warning(row: dict[str, Any], train_yaml: Path) -> str | None:
    """The warning for a metrics row whose EMA weights (``test_acc``) score worse than the raw
    ones (``raw_test_acc``; ``None`` without an EMA); ``None`` when they do not."""
    raw = row.get("raw_test_acc")
    if raw is None or raw <= row["test_acc"]:
        return None
    return (f"the EMA weights score {row['test_acc']:.4f} on the test split, worse than the raw "
            f"weights' {raw:.4f}; the EMA weights are the ones saved and exported. Train longer, "
            f"lower 'ema_decay' or set 'ema: false' in {train_yaml}")


def _finish(export_dir: Path, out_dir: Path, info: dict[str, Any], arch_text: str,
            space: SearchSpace, config: TrainConfig, model: nn.Module,
            history: list[dict[str, Any]], dev: torch.device, use_amp: bool, latency_runs: int,
            write_back: WriteBack | None) -> dict[str, Any]:
    plot_learning_curve(history, out_dir / "learning_curve.png", f"{arch_text} on {config.dataset}")
    cpu_model = copy.deepcopy(model).to("cpu").eval()
    state = {k: v.detach().clone() for k, v in cpu_model.state_dict().items()}
    torch.save(state, out_dir / "model.pt")
    measured = measure_latency(cpu_model, in_channels=info["in_channels"],
                               resolution=info["resolution"], runs=latency_runs,
                               references=anchor_references(info, space))
    best = max(history, key=lambda r: r["test_acc"])
    last = history[-1]
    warning = ema_warning(last, export_dir / "train.yaml")
    warnings = [warning] if warning else []
    result = {
        "export_dir": str(export_dir),
        "arch": arch_text,
        "arch_hash": info.get("arch_hash"),
        "dataset": config.dataset,
        "epochs": config.epochs,
        "final_test_acc": last["test_acc"],
        "final_test_loss": last["test_loss"],
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "evaluated": "ema" if config.ema else "raw",
        "raw_final_test_acc": last.get("raw_test_acc"),
        "ema_worse_than_raw": warning is not None,
        "warnings": warnings,
        "train_time_s": round(sum(r["time_s"] for r in history), 2),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name(),
        "mixed_precision": use_amp,
        "latency": latency_report(info, measured),
        "config": config.to_dict(),
        "files": {"model": "model.pt", "metrics": "metrics.csv", "curve": "learning_curve.png",
                  "checkpoint": CHECKPOINT},
        "hwnas_version": __version__,
        "complete": True,
    }
    (out_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    if write_back is not None:
        write_back(export_dir, state, dropout=config.dropout, weights_info={
            "state": "trained", "dataset": config.dataset, "epochs": config.epochs,
            "test_acc": last["test_acc"], "evaluated": result["evaluated"],
            "result": os.path.relpath(out_dir / "result.json", export_dir)})
    return result
