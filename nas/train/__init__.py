"""Training an exported architecture: the recipe config (``train.yaml``) and the training loop."""

from __future__ import annotations

from nas.train._augment import augment, random_crop, random_hflip
from nas.train._config import TrainConfig, default_train_config
from nas.train._ema import ModelEMA
from nas.train._latency import cpu_name, measure_latency, torch_threads
from nas.train._loop import evaluate, lr_factor, param_groups, resolve_device, train

__all__ = [
    "ModelEMA",
    "TrainConfig",
    "augment",
    "cpu_name",
    "default_train_config",
    "evaluate",
    "lr_factor",
    "measure_latency",
    "param_groups",
    "random_crop",
    "random_hflip",
    "resolve_device",
    "torch_threads",
    "train",
]
