"""``nas supernet train``: sandwich-rule training with in-place distillation, exactly resumable.

Every epoch ends with the importance sorting of the expanded channels (optimizer state permuted
with them), a minival evaluation of the largest, the smallest and a few fixed random subnets (BN
recalibrated for each), and an atomic ``checkpoint.pt`` (supernet, optimizer, step, every RNG
state, history, the recipe, the space's name and content hash, the dataset), so a run killed at
any moment resumes from its last completed epoch and ends with the same weights as an
uninterrupted one. Randomness: seeded ``numpy.random.Generator`` objects for subnet sampling and
batch order, and the global torch RNG (initialization, dropout) seeded inside
``torch.random.fork_rng``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nas import __version__
from nas._errors import NasError
from nas.arch import Arch
from nas.data import ImageData, load_dataset, resize, split_minival
from nas.recipe import (
    Recipe,
    evaluate,
    lr_factor,
    make_optimizer,
    recalibrate_bn,
    save_atomic,
    torch_threads,
    write_metrics,
)
from nas.space import get_space
from nas.supernet._config import SupernetConfig
from nas.supernet._net import Supernet, space_hash

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
METRICS_COLUMNS = ("epoch", "lr", "train_loss", "largest_acc", "smallest_acc", "random_acc",
                   "time_s")
_EVAL_BATCH = 500


def supernet_data(config: SupernetConfig) -> tuple[ImageData, ImageData]:
    """``(training images, minival)`` of a recipe; the test split stays in both, untouched."""
    full = load_dataset(config.dataset, resolution=max(config.resolutions),
                        rng=np.random.default_rng(config.seed))
    if config.minival >= len(full.y_train):
        raise NasError(f"supernet config: field 'minival' is {config.minival}, but dataset "
                       f"{config.dataset!r} has only {len(full.y_train)} training images")
    train, minival = split_minival(full, config.minival, config.minival_seed)
    if config.train_subset is not None:
        train = train.subset(config.train_subset, None, np.random.default_rng([config.seed, 3]))
    return train, minival


def calibration_images(train: ImageData, n: int, seed: int) -> torch.Tensor:
    """The fixed BN-recalibration subset: the first ``n`` of a seeded permutation of ``train``."""
    idx = torch.from_numpy(np.random.default_rng([seed, 11]).permutation(len(train.y_train))[:n])
    return train.x_train[idx.sort().values]


def _sandwich(sn: Supernet, largest: Arch, smallest: Arch, config: SupernetConfig,
              sampler: np.random.Generator) -> tuple[Arch, list[Arch]]:
    """One step's ``(largest, [smallest, random subnets...])``, drawn from ``sampler`` only."""
    subnets = [smallest] + [sn.sample(sampler) for _ in range(config.random_subnets)]
    if config.resolution_sampling == "per_subnet":
        return largest, subnets
    r = int(sampler.choice(config.resolutions))
    return largest.replace(resolution=r), [a.replace(resolution=r) for a in subnets]


def subnet_accuracy(supernet: Supernet, arch: Arch, calib: torch.Tensor, x: torch.Tensor,
                    y: torch.Tensor) -> float:
    """Top-1 of ``arch`` with inherited weights, BN recalibrated on ``calib`` (any resolution)."""
    model = supernet.extract(arch)
    r = arch.resolution
    recalibrate_bn(model, [resize(calib[i:i + _EVAL_BATCH], r)
                           for i in range(0, len(calib), _EVAL_BATCH)])
    return evaluate(model, resize(x, r) if x.shape[-1] != r else x, y, _EVAL_BATCH,
                    torch.device("cpu"))[1]


def plot_accuracy(history: list[dict[str, Any]], path: Path, title: str) -> None:
    """PNG of largest / smallest / random-subnet minival accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        for key, label in (("largest_acc", "largest"), ("random_acc", "random subnets (mean)"),
                           ("smallest_acc", "smallest")):
            ax.plot(epochs, [r[key] for r in history], marker="o", label=label)
        ax.set(xlabel="epoch", ylabel="minival top-1 (inherited, BN recalibrated)", title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        tmp = path.with_name(path.stem + ".tmp.png")
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, 1)).sum(1).mean()


def checkpoint_header(config: SupernetConfig, data: ImageData) -> dict[str, Any]:
    """The fields of a checkpoint that say what it is (recorded again on every save)."""
    space = get_space(config.space)
    return {"format": CHECKPOINT_FORMAT, "hwnas_version": __version__,
            "space": {"name": space.name, "hash": space_hash(space), "path": space.path},
            "dataset": config.dataset, "classes": data.classes, "in_channels": data.in_channels,
            "class_names": list(data.class_names), "config": config.to_dict(),
            "config_hash": config.hash}


def train_supernet(config: SupernetConfig, out: str | Path, *, resume: bool = False,
                   progress: bool | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """Train a supernet with ``config`` into folder ``out``; returns the last epoch's metrics.

    Args:
        config: the recipe.
        out: output folder (``checkpoint.pt``, ``supernet.yaml``, ``metrics.csv``,
            ``accuracy.png``).
        resume: continue from ``out/checkpoint.pt`` (the recipe must be the same).
        progress: a tqdm bar (default: when stderr is a terminal; else one line per epoch).
        stop_after: stop after this many epochs in this call (resume later).
    """
    with torch_threads(config.threads):
        return _train(config, Path(out), resume=resume, progress=progress, stop_after=stop_after)


def _train(config: SupernetConfig, out: Path, *, resume: bool, progress: bool | None,
           stop_after: int | None) -> dict[str, Any]:
    ckpt_path = out / CHECKPOINT
    if resume and not ckpt_path.is_file():
        raise NasError(f"--resume: no checkpoint {ckpt_path} to resume from")
    if not resume and ckpt_path.is_file():
        raise NasError(f"{ckpt_path} exists: pass --resume to continue that run, or another --out")
    ckpt: dict[str, Any] | None = None
    if resume:
        from nas.supernet._load import read_checkpoint

        ckpt = read_checkpoint(out)
        # Read through the config class, so that a field added since takes its default.
        old = SupernetConfig.from_dict(ckpt["config"], source=f"{ckpt_path} (recorded recipe)").recipe_dict()
        diff = [k for k, v in config.recipe_dict().items() if old.get(k) != v]
        if diff:
            raise NasError(f"{ckpt_path} was trained with another recipe: field(s) "
                           f"{', '.join(diff)} differ from the config; resume with the same config")
    space = get_space(config.space)
    train, minival = supernet_data(config)
    header = checkpoint_header(config, train)
    if ckpt is not None and ckpt["space"]["hash"] != header["space"]["hash"]:
        raise NasError(f"{ckpt_path}: trained on space {ckpt['space']['name']} with content hash "
                       f"{ckpt['space']['hash']}, but {space.path or space.name} now hashes to "
                       f"{header['space']['hash']} (the space file changed); cannot resume")
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "supernet.yaml")
    n = len(train.y_train)
    bs = min(config.batch_size, n)
    steps_per_epoch = n // bs
    total = config.epochs * steps_per_epoch
    recipe = Recipe(optimizer="adamw", lr=config.lr, weight_decay=config.weight_decay, schedule="cosine",
                    warmup_epochs=config.warmup_epochs, warmup_start_factor=0.0,
                    label_smoothing=config.label_smoothing)
    schedule = lr_factor(recipe, total, steps_per_epoch)
    calib = calibration_images(train, config.bn_images, config.seed)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        sn = Supernet(space.with_resolutions(config.resolutions), classes=train.classes,
                      in_channels=train.in_channels, dropout=config.dropout)
        opt = make_optimizer(recipe, sn)
        sampler = np.random.default_rng([config.seed, 1])
        order_rng = np.random.default_rng([config.seed, 2])
        eval_rng = np.random.default_rng([config.seed, 4])
        eval_archs = [sn.sample(eval_rng) for _ in range(config.eval_subnets)]
        history: list[dict[str, Any]] = []
        start = 0
        if ckpt is not None:
            sn.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sampler.bit_generator.state = ckpt["rng"]["sampler"]
            order_rng.bit_generator.state = ckpt["rng"]["order"]
            torch.set_rng_state(ckpt["rng"]["torch"])
            history, start = list(ckpt["history"]), int(ckpt["epoch"])
        largest, smallest = sn.largest, sn.smallest
        end = config.epochs if stop_after is None else min(config.epochs, start + stop_after)
        show_bar = sys.stderr.isatty() if progress is None else progress
        from tqdm.auto import tqdm

        bar = tqdm(total=(end - start) * steps_per_epoch, disable=not show_bar, unit="step",
                   dynamic_ncols=True, desc=f"supernet {space.name}")
        for epoch in range(start, end):
            t0 = time.perf_counter()
            sn.train()
            order = torch.from_numpy(order_rng.permutation(n))
            loss_sum = 0.0
            lr = config.lr
            for step in range(steps_per_epoch):
                gstep = epoch * steps_per_epoch + step
                lr = config.lr * schedule(gstep)
                for group in opt.param_groups:
                    group["lr"] = lr
                idx = order[step * bs:(step + 1) * bs]
                xb, yb = train.x_train[idx], train.y_train[idx]
                opt.zero_grad(set_to_none=True)
                teacher, subnets = _sandwich(sn, largest, smallest, config, sampler)
                logits = sn(resize(xb, teacher.resolution), teacher)
                loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
                if not bool(torch.isfinite(loss.detach())):
                    raise NasError(f"supernet training diverged at epoch {epoch + 1} (loss "
                                   f"{float(loss)}); lower 'lr' in the config")
                loss.backward()
                loss_sum += float(loss.detach())
                soft = logits.detach().softmax(1)
                for arch in subnets:
                    out_s = sn(resize(xb, arch.resolution), arch)
                    sub_loss = F.cross_entropy(out_s, yb) + config.kd_ratio * _soft_ce(out_s, soft)
                    sub_loss.backward()
                opt.step()
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}",
                                loss=f"{loss_sum / (step + 1):.3f}", refresh=False)
            if config.sort_channels:
                sn.sort_channels(opt)
            sn.eval()
            accs = {a.text: subnet_accuracy(sn, a, calib, minival.x_test, minival.y_test)
                    for a in [largest, smallest, *eval_archs]}
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / max(1, steps_per_epoch),
                   "largest_acc": accs[largest.text], "smallest_acc": accs[smallest.text],
                   "random_acc": (float(np.mean([accs[a.text] for a in eval_archs]))
                                  if eval_archs else float("nan")),
                   "time_s": round(time.perf_counter() - t0, 2)}
            history.append(row)
            save_atomic({**header, "epoch": epoch + 1, "epochs": config.epochs,
                          "steps_per_epoch": steps_per_epoch, "model": sn.state_dict(),
                          "optimizer": opt.state_dict(), "history": history,
                          "eval_archs": [a.text for a in eval_archs],
                          "rng": {"sampler": sampler.bit_generator.state,
                                  "order": order_rng.bit_generator.state,
                                  "torch": torch.get_rng_state()}}, ckpt_path)
            write_metrics(history, METRICS_COLUMNS, out / "metrics.csv")
            plot_accuracy(history, out / "accuracy.png",
                          f"supernet {space.name} on {config.dataset}")
            line = (f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.3f}, minival "
                    f"largest {row['largest_acc']:.4f}, smallest {row['smallest_acc']:.4f}, "
                    f"random {row['random_acc']:.4f} ({row['time_s']:.0f} s)")
            if show_bar:
                bar.write(line)
            else:
                print(line, file=sys.stderr, flush=True)
        bar.close()
    last = history[-1] if history else {}
    return {**last, "epochs_done": len(history), "epochs": config.epochs,
            "complete": len(history) >= config.epochs, "checkpoint": str(ckpt_path)}

