"""The optimization recipe shared by every training in hwnas: optimizer and learning-rate schedule.

Proxy training in a search (``nas.evaluators``), ``nas train`` of an export (``nas.train``) and
supernet training all build their optimizer and schedule here, from a :class:`Recipe` their own
config fills in, so a fix to one is a fix to all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant", "linear")


@dataclass(frozen=True)
class Recipe:
    """How parameters are updated; the configs that build one validate the values.

    Attributes:
        optimizer: ``sgd`` (momentum, Nesterov if ``nesterov``) or ``adamw`` (``momentum`` is beta1).
        lr: peak learning rate, reached after the warm-up.
        momentum: SGD momentum or AdamW beta1.
        nesterov: Nesterov momentum for SGD (only with ``momentum`` > 0).
        weight_decay: decoupled for AdamW, L2 for SGD; never on norms and biases (1-d parameters).
        schedule: after the warm-up, per step: ``cosine`` or ``linear`` decay to ``min_lr``, or
            ``constant``.
        warmup_epochs: linear warm-up (may be fractional): step ``s`` of ``W`` warm-up steps runs at
            ``start + (1 - start) * (s + 1) / W`` of ``lr``.
        warmup_start_factor: ``start`` above: the fraction of ``lr`` the ramp starts from.
        min_lr: learning rate at the end of a decaying schedule.
        label_smoothing: cross-entropy label smoothing.
        grad_clip: clip the gradient norm to this value (0: off).
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-5
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.1
    min_lr: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float = 0.0


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay for conv and linear weights; none for norm parameters and biases (1-D)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov and recipe.momentum > 0)
    return torch.optim.AdamW(groups, lr=recipe.lr, betas=(recipe.momentum, 0.999))


def lr_factor(recipe: Recipe, total_steps: int, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of ``lr`` at each optimizer step: linear warm-up, then the schedule.

    ``total_steps`` is where a decaying schedule reaches ``min_lr``.
    """
    warm = min(total_steps, round(recipe.warmup_epochs * steps_per_epoch))
    floor = recipe.min_lr / recipe.lr
    start = recipe.warmup_start_factor

    def factor(step: int) -> float:
        if step < warm:  # the warm-up's last step reaches the full rate
            return start + (1 - start) * (step + 1) / warm
        if recipe.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        shape = 1 - progress if recipe.schedule == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
        return floor + (1 - floor) * shape

    return factor


def make_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer, total_steps: int,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of :func:`lr_factor`, stepped once per optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(recipe, total_steps, steps_per_epoch))
