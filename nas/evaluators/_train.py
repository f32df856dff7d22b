"""Proxy training: a few epochs on a dataset, scored by top-1 on its held-out split.

Each epoch ends with a batch-norm re-estimation and an evaluation; at the configured rung epochs
the reporter (successive halving) may stop the trial. A non-finite loss fails the trial as
``diverged`` at once; running out of memory fails it as ``out of memory``.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import Arch
from nas.data import ImageData, batches
from nas.evaluators._config import TrainConfig
from nas.evaluators._result import COMPLETE, STOPPED, EvalFailed, EvalResult, RungReporter
from nas.models import build_model
from nas.space import SearchSpace

_EVAL_BATCH = 512


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the base learning rate at ``step`` of ``total`` (linear warm-up first)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW or Nesterov SGD; no weight decay on norms and biases (1-d parameters)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def recalibrate_bn(model: nn.Module, xs: list[torch.Tensor]) -> None:
    """Re-estimate batch-norm running statistics as a plain average over ``xs`` (no training)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns or not xs:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for x in xs:
            model(x)
    for bn, m in zip(bns, momenta, strict=True):
        bn.momentum = m


def top1(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), _EVAL_BATCH):
            xb = x[i:i + _EVAL_BATCH].to(device).contiguous(memory_format=torch.channels_last)
            correct += int((model(xb).argmax(1).cpu() == y[i:i + _EVAL_BATCH]).sum())
    return correct / max(1, len(y))


def train_accuracy(cfg: TrainConfig, arch: Arch, space: SearchSpace, data: ImageData,
                   reporter: RungReporter | None = None) -> EvalResult:
    """Train ``arch`` on ``data`` for ``cfg.epochs`` epochs and score top-1 on the test split.

    Deterministic for a given ``cfg.seed`` (model init through a forked torch RNG, shuffling
    through a seeded numpy generator); the global RNG state is left as it was.

    Raises:
        EvalFailed: the loss became non-finite (``diverged``) or memory ran out.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    t0 = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = build_model(arch, space, classes=data.classes, in_channels=data.in_channels,
                                dropout=cfg.dropout)
            return _train(cfg, model, data, reporter, device, t0)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise EvalFailed(f"out of memory: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def _train(cfg: TrainConfig, model: nn.Module, data: ImageData, reporter: RungReporter | None,
           device: torch.device, t0: float) -> EvalResult:
    model = model.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    rng = np.random.default_rng(cfg.seed)
    opt = make_optimizer(cfg, model)
    steps_per_epoch = math.ceil(len(data.y_train) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    rungs = set(cfg.halving.rungs) if cfg.halving else set()
    history: list[float] = []
    step = 0
    loss_value = float("nan")
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        epoch_batches = batches(data.x_train, data.y_train, cfg.batch_size, rng)
        for x, y in epoch_batches:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, total, warmup, cfg.lr_schedule)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y.to(device), label_smoothing=cfg.label_smoothing)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise EvalFailed(f"diverged: loss is {loss_value} at epoch {epoch} step "
                                 f"{step - (epoch - 1) * steps_per_epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        calib = [x.to(device).contiguous(memory_format=torch.channels_last)
                 for x, _ in epoch_batches[:cfg.bn_batches]]
        recalibrate_bn(model, calib)
        history.append(top1(model, data.x_test, data.y_test, device))
        attrs = {"epochs": epoch, "epoch_accuracy": list(history), "final_loss": loss_value,
                 "train_s": time.perf_counter() - t0}
        if epoch in rungs and reporter is not None and reporter(epoch, history[-1]):
            return EvalResult(STOPPED, history[-1], {**attrs, "stopped_at_epoch": epoch})
    return EvalResult(COMPLETE, history[-1], attrs)
