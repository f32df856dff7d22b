"""One epoch of training, evaluation on a split, and batch-norm re-estimation.

Every training loop in hwnas runs its epochs through :func:`train_epoch`; what differs between
them (where batches come from, checkpoints, rungs, progress) stays with the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.recipe._ema import ModelEMA
from nas.recipe._recipe import Recipe


class Diverged(ArithmeticError):
    """The training loss became non-finite (``step`` counts from 1 within the epoch)."""

    def __init__(self, loss: float, step: int) -> None:
        super().__init__(f"loss is {loss} at step {step}")
        self.loss, self.step = loss, step


@dataclass
class EpochStats:
    """Mean training loss and accuracy over the epoch's samples."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    last_loss: float = float("nan")

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.seen)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.seen)


def train_epoch(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                recipe: Recipe, *, scaler: torch.amp.GradScaler | None = None, ema: ModelEMA | None = None,
                on_step: Callable[[EpochStats], None] | None = None) -> EpochStats:
    """Train ``model`` on ``batches`` (already on its device, augmented as wanted) for one pass.

    With a ``scaler`` (mixed precision on CUDA) the forward pass runs under autocast. The
    scheduler steps after every optimizer step; ``ema`` is updated after it.

    Raises:
        Diverged: the loss became non-finite.
    """
    model.train()
    stats = EpochStats()
    scaler = scaler or torch.amp.GradScaler(enabled=False)  # disabled: passes everything through
    amp = scaler.is_enabled()
    for step, (x, y) in enumerate(batches, 1):
        with torch.autocast(device_type=x.device.type, dtype=torch.float16, enabled=amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
        stats.last_loss = float(loss.detach())
        if not math.isfinite(stats.last_loss):
            raise Diverged(stats.last_loss, step)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if recipe.grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        stats.loss_sum += stats.last_loss * len(y)
        stats.correct += int((logits.argmax(1) == y).sum())
        stats.seen += len(y)
        if on_step is not None:
            on_step(stats)
    return stats


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
             *, channels_last: bool = False) -> tuple[float, float]:
    """Mean cross-entropy (no smoothing) and top-1 accuracy of ``model`` on a split."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        for i in range(0, len(y), batch_size):
            xb = x[i:i + batch_size].to(device, non_blocking=True)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y[i:i + batch_size].to(device, non_blocking=True)
            logits = model(xb).float()
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return loss_sum / max(1, len(y)), correct / max(1, len(y))


def recalibrate_bn(model: nn.Module, xs: Iterable[torch.Tensor]) -> None:
    """Re-estimate batch-norm running statistics as a plain average over ``xs`` (no training).

    Only the batch-norm layers run in training mode meanwhile (dropout stays off and draws no
    random numbers), so the call changes nothing but the running statistics.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    xs = list(xs)
    if not bns or not xs:
        return
    momenta = [bn.momentum for bn in bns]
    modes = {m: m.training for m in model.modules()}
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.eval()
    for bn in bns:
        bn.train()
    try:
        with torch.no_grad():
            for x in xs:
                model(x)
    finally:
        for bn, m in zip(bns, momenta, strict=True):
            bn.momentum = m
        for module, mode in modes.items():
            module.training = mode


def bn_batches(x: torch.Tensor, batch_size: int, max_images: int) -> list[torch.Tensor]:
    """The first ``max_images`` of ``x`` in batches of ``batch_size`` (the last may be shorter but
    keeps 2 or more images): the fixed inputs of :func:`recalibrate_bn` between epochs."""
    x = x[:max_images]
    batch_size = max(2, batch_size)
    out = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:
        last = out.pop()
        out[-1] = torch.cat([out[-1], last])
    return out


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: leave as is), then restore."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
