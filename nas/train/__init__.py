"""Training an exported architecture: the recipe config (``train.yaml``) and the training loop.

``train`` reads an export folder and trains its arch with the shared recipe (:mod:`nas.recipe`);
writing the trained weights back into the folder is ``nas.export``'s job, passed in as
``write_back`` (``nas.export.train_export`` does, and ``nas train`` calls that).
"""

from __future__ import annotations

from nas.train._config import TrainConfig, default_train_config
from nas.train._export_dir import initial_model, read_export
from nas.train._latency import cpu_name, measure_latency
from nas.train._loop import WriteBack, resolve_device, train

__all__ = [
    "TrainConfig",
    "WriteBack",
    "cpu_name",
    "default_train_config",
    "initial_model",
    "measure_latency",
    "read_export",
    "resolve_device",
    "train",
]
