"""Shared test setup."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from _search_env import make_env
from _tiny_lut import TINY_SPACE, build_tiny_table

# Two cores in CI: one intra-op thread per test process avoids oversubscription when tests
# spawn subprocesses (Ray workers, CLI runs) beside the pytest process.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_lut_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny latency-table space (``tests/_tiny_lut.py``) as a space file."""
    path = tmp_path_factory.mktemp("spaces") / "tiny_lut.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture(scope="session")
def tiny_lut_table(tiny_lut_space: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny torch table built here in two sittings (limit, then resume), then calibrated.

    Shared by every latency test module; tests that change a table change a copy.
    """
    return build_tiny_table(tiny_lut_space, tmp_path_factory.mktemp("tables") / "tiny_torch.json")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The search tests' tiny space and a real latency table of it (``tests/_search_env.py``),
    found through $HWNAS_TABLE_PATH; one per test module."""
    root = tmp_path_factory.mktemp("searchenv")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWNAS_TABLE_PATH", str(root / "tables"))
        yield make_env(root)


def experiments_module(name: str) -> ModuleType:
    """``experiments/<name>.py`` as a module (the scripts import their siblings by bare name)."""
    experiments = str(Path(__file__).resolve().parents[1] / "experiments")
    sys.path.insert(0, experiments)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(experiments)


@pytest.fixture(scope="session")
def latency_accuracy_bench() -> ModuleType:
    """``experiments/bench_latency_accuracy.py`` as a module (the benchmark's scoring, tested)."""
    return experiments_module("bench_latency_accuracy")


@pytest.fixture(scope="session")
def results_module() -> ModuleType:
    """``experiments/_results.py``: the benchmarks' RESULTS.md writer and score caches."""
    return experiments_module("_results")
