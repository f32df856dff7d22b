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
from torch import nn

from nas.arch import Arch
from nas.data import ImageData, batches
from nas.evaluators._config import TrainConfig
from nas.evaluators._result import COMPLETE, STOPPED, EvalFailed, EvalResult, RungReporter
from nas.models import build_model
from nas.recipe import Diverged, evaluate, make_optimizer, make_scheduler, recalibrate_bn, train_epoch
from nas.space import SearchSpace

_EVAL_BATCH = 512


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
    recipe = cfg.recipe()
    opt = make_optimizer(recipe, model)
    steps_per_epoch = math.ceil(len(data.y_train) / cfg.batch_size)
    sched = make_scheduler(recipe, opt, cfg.epochs * steps_per_epoch, steps_per_epoch)
    rungs = set(cfg.halving.rungs) if cfg.halving else set()
    history: list[float] = []
    for epoch in range(1, cfg.epochs + 1):
        epoch_batches = [(x.to(device).contiguous(memory_format=torch.channels_last), y.to(device))
                         for x, y in batches(data.x_train, data.y_train, cfg.batch_size, rng)]
        try:
            stats = train_epoch(model, epoch_batches, opt, sched, recipe)
        except Diverged as exc:
            raise EvalFailed(f"diverged: loss is {exc.loss} at epoch {epoch} step {exc.step}") from None
        recalibrate_bn(model, [x for x, _ in epoch_batches[:cfg.bn_batches]])
        history.append(evaluate(model, data.x_test, data.y_test, _EVAL_BATCH, device, channels_last=True)[1])
        attrs = {"epochs": epoch, "epoch_accuracy": list(history), "final_loss": stats.last_loss,
                 "train_s": time.perf_counter() - t0}
        if epoch in rungs and reporter is not None and reporter(epoch, history[-1]):
            return EvalResult(STOPPED, history[-1], {**attrs, "stopped_at_epoch": epoch})
    return EvalResult(COMPLETE, history[-1], attrs)
