"""Shared setup of the search, export and training tests: a tiny space file and a latency table
measured on it here.

The search tests' space has 640 gene assignments (small enough that repeats happen in short
searches) and builds networks that train on 16x16 digits in well under a second per epoch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nas.cli._main import main
from nas.evaluators import COMPLETE, EvalResult, RungReporter
from nas.search import SearchConfig


def tiny_space_yaml(name: str, description: str, *, width: str | None = None,
                    fc_head: bool = False) -> str:
    """The three-stage space the search, export and training tests use, under ``name`` (a
    process registers each space name once, so each test module takes its own); ``width`` is
    the YAML of its width choices, ``fc_head`` adds a hidden fully connected layer to the head."""
    lines = [f"name: {name}", f"description: {description}", "resolution: [16]"]
    lines += [f"width: {width}"] if width is not None else []
    lines += [
        "channel_divisor: 8",
        "se: {ratio: 0.25, base: mid, divisor: 8, gate: hsigmoid, act: relu}",
        "stem: {out: 8, kernel: 3, stride: 2, act: hswish}",
        "stages:",
        "  - {out: 8, stride: 1, act: relu, depth: 1, kernel: 3, expand: 1}",
        "  - {out: 16, stride: 2, act: relu, depth: [1, 2], kernel: [3, 5], expand: [2, 4], "
        "skip: true}",
        "  - {out: 24, stride: 2, act: hswish, depth: [1, 2], kernel: 3, expand: 3, "
        "se: [false, true]}",
        "head:", "  - {kind: conv, out: 64, act: hswish}", "  - {kind: pool}"]
    lines += ["  - {kind: fc, out: 96, act: hswish}"] if fc_head else []
    return "\n".join([*lines, "  - {kind: classifier}", ""])


def build_fast_table(space: Path, out: Path) -> Path:
    """Measure ``space``'s table (10 classes, 1 input channel) into ``out`` with minimal rounds:
    these tests need a real table, not precise timings."""
    assert main(["lut", "build", "--space", str(space), "--out", str(out), "--classes", "10",
                 "--in-channels", "1", "--rounds", "2", "--round-ms", "1", "--threads", "1",
                 "--calibrate", "0", "--no-progress"]) == 0
    return out


TINY_SPACE = tiny_space_yaml("tiny_search", "three-stage space for search tests",
                             width="[1.0, 1.5]")
TABLE = "tiny_search_cpu"
LAT = f"latency:{TABLE}"
FAST_TRAIN: dict[str, Any] = {"kind": "train", "epochs": 1, "batch_size": 32, "train_subset": 96,
                              "test_subset": 64, "threads": 1, "bn_batches": 1}


def make_env(root: Path) -> Path:
    """Write the space to ``root/tiny_search.yaml`` and measure its table into ``root/tables``
    (minimal rounds: the search tests need a real table, not precise timings)."""
    (root / "tiny_search.yaml").write_text(TINY_SPACE)
    (root / "tables").mkdir(exist_ok=True)
    build_fast_table(root / "tiny_search.yaml", root / "tables" / f"{TABLE}.json")
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
