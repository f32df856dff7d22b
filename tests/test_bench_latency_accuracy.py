"""experiments/bench_latency_accuracy.py on a fake-timed table and runs whose scores are known."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from types import ModuleType

import pytest
from test_latency_table import make_table, sample_archs

OUTLIERS = 4  # networks at 32 px that run 3 times 1.5x slower than predicted


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A table ``tiny.json`` (32 and 224 px), and its three runs on 12 networks per resolution,
    once as one gzipped file with a ``run`` column and once as three plain CSVs (the table
    predicts the median; the min is 1% lower). Run 1 times
    every network 5% slower than predicted, run 2 5% faster; run 3 as predicted, except
    ``OUTLIERS`` networks at 32 px 1.5x slower. Combined, 224 px is exact and those networks are
    1.5 ** (1/3) = 1.145x slower (outside ±10%); runs 1-2 alone are exact."""
    tmp = tmp_path_factory.mktemp("acc")
    table = make_table((32, 224))
    path = table.write(tmp / "tiny.json")
    nets = [a for r in (32, 224) for a in sample_archs(12, resolution=r, seed=r)]
    pred = [table.predict(a, classes=1000, in_channels=3).latency_ms for a in nets]
    factors = {"run1": [1.05] * 24, "run2": [1 / 1.05] * 24,
               "run3": [1.5] * OUTLIERS + [1.0] * (24 - OUTLIERS)}
    fields = ["arch", "classes", "in_channels", "measured_median_ms", "measured_min_ms"]
    rows = {run: [{"arch": a.text, "classes": 1000, "in_channels": 3,
                   "measured_median_ms": p * f, "measured_min_ms": p * f * 0.99}
                  for a, p, f in zip(nets, pred, fs, strict=True)]
            for run, fs in factors.items()}
    packed = tmp / "packed" / "validate_tiny.csv.gz"
    packed.parent.mkdir()
    with gzip.open(packed, "wt", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["run", *fields])
        w.writeheader()
        w.writerows({"run": run, **r} for run, rs in rows.items() for r in rs)
    for run, rs in rows.items():
        (tmp / run).mkdir()
        with (tmp / run / "validate_tiny.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rs)
    return path, packed, tmp


def test_known_scores_from_packed_runs(latency_accuracy_bench: ModuleType, recorded: tuple[Path, Path, Path]
                                       ) -> None:
    table, packed, _ = recorded
    data = latency_accuracy_bench.main(["--tables", str(table), "--runs", str(packed), "--first", "2",
                       "--no-results"])
    (res,) = data["tables"]
    assert [r["run"] for r in res["per_run"]] == ["run1", "run2", "run3"]
    small, large = res["per_resolution"]["32"], res["per_resolution"]["224"]
    assert (small["runs"], small["n"], large["n"]) == (3, 12, 12)
    assert large["model"]["within_10pct"] == 1.0
    assert large["model"]["kendall_tau"] == pytest.approx(1.0)
    assert large["model"]["mape"] == pytest.approx(0.0, abs=1e-9)
    assert small["model"]["within_10pct"] == pytest.approx(1 - OUTLIERS / 12)
    assert small["model"]["mape"] == pytest.approx(
        OUTLIERS / 12 * (1 - 1.5 ** (-1 / 3)) * 100, rel=1e-9)
    assert small["first_runs"]["within_10pct"] == 1.0  # runs 1-2: the outliers are in run 3
    assert data["tally"] == {"rows": 2, "all_runs": 1, "first_runs": 2}
    run1, run2, _ = res["per_run"]
    assert run1["bias_pct"]["224"] == pytest.approx((1 / 1.05 - 1) * 100)
    assert run2["bias_pct"]["32"] == pytest.approx(5.0)
    assert run1["within_10pct"] == {"32": 1.0, "224": 1.0}
    text = latency_accuracy_bench.render(data["tables"], data["tally"], "PLAN.md", "a test", False)
    assert "of 2: 1 on all runs combined, 2 on runs 1–2 alone" in text
    assert "| 224 | 3, 12 | **100% / 1.000 / 0.0%** |" in text


def test_plain_runs_score_as_the_packed_ones(latency_accuracy_bench: ModuleType,
                                             recorded: tuple[Path, Path, Path]) -> None:
    table, packed, tmp = recorded
    plain = [str(tmp / f"run{k}" / "validate_tiny.csv") for k in (1, 2, 3)]
    a = latency_accuracy_bench.main(["--tables", str(table), "--runs", *plain, "--no-results"])
    b = latency_accuracy_bench.main(["--tables", str(table), "--runs", str(packed), "--no-results"])
    assert a["tables"][0]["per_resolution"] == b["tables"][0]["per_resolution"]
    with pytest.raises(SystemExit, match="no --runs file"):
        latency_accuracy_bench.main(["--tables", str(table), "--runs", str(tmp / "validate_other.csv"),
                    "--no-results"])
