"""Shared setup of the search tests: a tiny space file and a latency table measured on it here.

The space has 640 gene assignments (small enough that repeats happen in short searches) and builds
networks that train on 16x16 digits in well under a second per epoch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nas.cli._main import main
from nas.evaluators import COMPLETE, EvalResult, RungReporter
from nas.search import SearchConfig

TINY_SPACE = """\
name: tiny_search
description: three-stage space for search tests
resolution: [16]
width: [1.0, 1.5]
channel_divisor: 8
se: {ratio: 0.25, base: mid, divisor: 8, gate: hsigmoid, act: relu}
stem: {out: 8, kernel: 3, stride: 2, act: hswish}
stages:
  - {out: 8, stride: 1, act: relu, depth: 1, kernel: 3, expand: 1}
  - {out: 16, stride: 2, act: relu, depth: [1, 2], kernel: [3, 5], expand: [2, 4], skip: true}
  - {out: 24, stride: 2, act: hswish, depth: [1, 2], kernel: 3, expand: 3, se: [false, true]}
head:
  - {kind: conv, out: 64, act: hswish}
  - {kind: pool}
  - {kind: classifier}
"""
TABLE = "tiny_search_cpu"
LAT = f"latency:{TABLE}"
FAST_TRAIN: dict[str, Any] = {"kind": "train", "epochs": 1, "batch_size": 32, "train_subset": 96,
                              "test_subset": 64, "threads": 1, "bn_batches": 1}


def make_env(root: Path) -> Path:
    """Write the space to ``root/tiny_search.yaml`` and measure its table into ``root/tables``
    (minimal rounds: the search tests need a real table, not precise timings)."""
    (root / "tiny_search.yaml").write_text(TINY_SPACE)
    (root / "tables").mkdir(exist_ok=True)
    assert main(["lut", "build", "--space", str(root / "tiny_search.yaml"), "--out",
                 str(root / "tables" / f"{TABLE}.json"), "--classes", "10", "--in-channels", "1",
                 "--rounds", "2", "--round-ms", "1", "--threads", "1", "--no-progress"]) == 0
    return root


def config_dict(env: Path, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t", "space": str(env / "tiny_search.yaml"), "dataset": "digits",
        "objectives": ["accuracy", LAT, "macs"], "sampler": {"name": "random", "seed": 0},
        "n_trials": 6, "evaluator": dict(FAST_TRAIN),
    }
    data.update(overrides)
    return data


def config(env: Path, **overrides: Any) -> SearchConfig:
    return SearchConfig.from_dict(config_dict(env, **overrides))


def hash_score(arch: str, reporter: RungReporter | None = None) -> EvalResult:
    """A trivial, deterministic evaluator: a pseudo-accuracy from the arch's hash."""
    score = int(hashlib.sha256(arch.encode()).hexdigest()[:8], 16) / 2**32
    return EvalResult(COMPLETE, score, {})
