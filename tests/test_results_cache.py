"""The benchmarks' resumable score cache (``experiments/_results.py``): what a run scored is kept
row by row, so a rerun, or a run after a crash, scores only what is missing."""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import pytest


class Scorer:
    """Counts its calls; fails on the key named ``fail`` (a crash in the middle of a run)."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, key: str) -> dict[str, object]:
        if key == self.fail:
            raise RuntimeError(f"crashed on {key}")
        self.calls.append(key)
        return {"score": len(key) / 10, "seconds": 1.5}


COLUMNS = ("arch", "score", "seconds")


def test_a_rerun_scores_only_new_keys(results_module: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "scores.csv"
    first = Scorer()
    done = results_module.cached_rows(path, COLUMNS, ["a", "bb"], first)
    assert first.calls == ["a", "bb"]
    assert done["bb"] == {"arch": "bb", "score": "0.2", "seconds": "1.5"}
    again = Scorer()
    done = results_module.cached_rows(path, COLUMNS, ["bb", "ccc", "a"], again)
    assert again.calls == ["ccc"]
    assert set(done) == {"a", "bb", "ccc"}
    with path.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(COLUMNS) and [r[0] for r in rows[1:]] == ["a", "bb", "ccc"]


def test_rows_scored_before_a_crash_survive_it(results_module: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    with pytest.raises(RuntimeError, match="crashed on c"):
        results_module.cached_rows(path, COLUMNS, ["a", "b", "c", "d"], Scorer(fail="c"))
    resumed = Scorer()
    done = results_module.cached_rows(path, COLUMNS, ["a", "b", "c", "d"], resumed)
    assert resumed.calls == ["c", "d"]
    assert [r["arch"] for r in results_module.read_csv(path)] == ["a", "b", "c", "d"]
    assert done["a"]["score"] == "0.1"


def test_an_empty_file_gets_its_header(results_module: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.touch()
    results_module.cached_rows(path, COLUMNS, ["a"], Scorer())
    assert results_module.read_csv(path) == [{"arch": "a", "score": "0.1", "seconds": "1.5"}]
