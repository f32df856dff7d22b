"""Weight-sharing supernet (Once-for-All style): train once, score any subnet in seconds.

Python API (what the search evaluators build on)::

    from nas.supernet import SupernetConfig, train_supernet, load_supernet, SubnetScorer

    train_supernet(SupernetConfig.load("experiments/supernet_digits.yaml"), "runs/sn")
    sn = load_supernet("runs/sn")        # Supernet: .space, .recipe, .dataset, .classes, ...
    model = sn.extract(arch)             # a build_model NASNet holding the inherited weights
    scorer = SubnetScorer("runs/sn")     # once per process: loads the supernet and the data
    acc = scorer.score("mobilenet_v3:r32:w1|...")   # minival top-1, BN recalibrated, ~1 s
    model = scorer.model(arch)           # extracted + BN recalibrated, e.g. for export

* :class:`Supernet` holds one max-size builder module per layer slot of the space (derived
  from the space's genes and :func:`nas.blocks.arch_to_blocks`); ``forward(x, arch)`` runs a
  subnet on the shared weights; ``extract(arch)`` returns exactly ``build_model(arch, space,
  classes=..., in_channels=...)``'s structure with the sliced weights. Elastic: depthwise kernel
  (centre crop + learned transform), expand ratio (importance-sorted channel slicing), depth and
  skip, stage channels, width multiplier, resolution.
* :func:`train_supernet` trains with the sandwich rule and in-place distillation, checkpointing
  every epoch atomically (exact resume); :class:`SupernetConfig` is its recipe.
* :func:`load_supernet` checks the recorded space name and content hash
  (:func:`space_hash`) against the space file found now; :class:`SubnetScorer` ranks subnets on
  minival (a fixed seeded slice of the training split; :func:`nas.data.split_minival`).

Errors (another space or space version, an arch outside the supernet's choices, a missing
dataset or checkpoint) are :class:`nas.NasError` naming what is wrong.
"""

from __future__ import annotations

from nas.supernet._config import SupernetConfig
from nas.supernet._load import Score, SubnetScorer, load_supernet, read_checkpoint
from nas.supernet._net import (
    Position,
    Supernet,
    build_supernet,
    check_supported,
    extreme_arch,
    space_hash,
)
from nas.supernet._train import (
    calibration_images,
    subnet_accuracy,
    supernet_data,
    train_supernet,
)

__all__ = [
    "Position",
    "Score",
    "SubnetScorer",
    "Supernet",
    "SupernetConfig",
    "build_supernet",
    "calibration_images",
    "check_supported",
    "extreme_arch",
    "load_supernet",
    "read_checkpoint",
    "space_hash",
    "subnet_accuracy",
    "supernet_data",
    "train_supernet",
]
