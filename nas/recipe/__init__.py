"""The one training recipe: optimizer, learning-rate schedule, one epoch, evaluation, EMA,
augmentation and batch-norm re-estimation.

Proxy training in a search (``nas.evaluators``), ``nas train`` (``nas.train``) and supernet
training build on these pieces; each fills a :class:`Recipe` from its own config::

    opt = make_optimizer(recipe, model)
    sched = make_scheduler(recipe, opt, total_steps=epochs * steps, steps_per_epoch=steps)
    for epoch in range(epochs):
        stats = train_epoch(model, batches, opt, sched, recipe)
        loss, acc = evaluate(model, x_test, y_test, 256, device)
"""

from __future__ import annotations

from nas.recipe._augment import augment, random_crop, random_hflip
from nas.recipe._ema import ModelEMA
from nas.recipe._epoch import (
    Diverged,
    EpochStats,
    bn_batches,
    evaluate,
    recalibrate_bn,
    torch_threads,
    train_epoch,
)
from nas.recipe._files import save_atomic, write_metrics
from nas.recipe._recipe import (
    OPTIMIZERS,
    SCHEDULES,
    Recipe,
    lr_factor,
    make_optimizer,
    make_scheduler,
    param_groups,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Diverged",
    "EpochStats",
    "ModelEMA",
    "Recipe",
    "augment",
    "bn_batches",
    "evaluate",
    "lr_factor",
    "make_optimizer",
    "make_scheduler",
    "param_groups",
    "random_crop",
    "random_hflip",
    "recalibrate_bn",
    "save_atomic",
    "torch_threads",
    "train_epoch",
    "write_metrics",
]
