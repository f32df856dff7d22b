"""Scoring a table on earlier validation runs, several combined (``nas lut validate --from-csv``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from _tiny_lut import FAST
from hypothesis import given, settings
from hypothesis import strategies as st

from nas._errors import NasError
from nas.cli._main import main
from nas.latency import read_table
from nas.latency._runs import precision_weights, score_runs
from nas.latency._validate import accuracy, validate_table

# Factors the second run's timings differ from the first's by, per network (a noisy session).
FACTORS = (1.0, 1.21, 0.64, 1.44)


@pytest.fixture(scope="module")
def first_run(tiny_lut_table: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, dict]:
    """A real validation of 4 networks on this machine: its CSV and its figures."""
    out = validate_table(read_table(tiny_lut_table), n=len(FACTORS), seed=3, timing=FAST,
                         out_dir=tmp_path_factory.mktemp("run1"), progress=False)
    return Path(out["csv"]), out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _second_run(first: Path, dest: Path, drop_last: bool) -> Path:
    """The first run's networks, each timing scaled by its factor; optionally one network fewer
    and, as in a CSV from before the anchor existed, no raw timings or drift."""
    rows = []
    for row, f in zip(_rows(first), FACTORS, strict=True):
        rows.append({k: (str(float(v) * f) if k.startswith(("measured_", "raw_")) else v)
                     for k, v in row.items()
                     if not (drop_last and k.startswith(("raw_", "anchor_")))})
    return _write(dest / first.name, rows[:-1] if drop_last else rows)


def test_one_run_scores_as_its_validation_did(tiny_lut_table: Path, first_run: tuple[Path, dict]
                                              ) -> None:
    path, validated = first_run
    out = score_runs(read_table(tiny_lut_table), [path])
    for name in ("n", "mape", "within_10pct", "kendall_tau", "rmse_ms"):
        assert out[name] == pytest.approx(validated[name])
        assert out["baseline_flops"][name] == pytest.approx(validated["baseline_flops"][name])
    assert "between_runs" not in out and out["not_in_every_run"] == 0


def test_runs_combine_per_network_by_geometric_mean(
        tiny_lut_table: Path, first_run: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = first_run
    second = _second_run(path, tmp_path / "run2", drop_last=True)
    out = score_runs(read_table(tiny_lut_table), [path, second], out_dir=tmp_path / "combined")
    assert out["n"] == len(FACTORS) - 1 and out["not_in_every_run"] == 1
    assert out["runs"] == [str(path), str(second)]
    first = _rows(path)[:-1]
    combined = _rows(Path(out["csv"]))
    assert [r["arch"] for r in combined] == [r["arch"] for r in first]
    expect = np.array([float(r["measured_median_ms"]) for r in first]) * np.sqrt(FACTORS[:-1])
    got = np.array([float(r["measured_median_ms"]) for r in combined])
    np.testing.assert_allclose(got, expect, rtol=1e-9)
    pred = np.array([float(r["predicted_ms"]) for r in combined])
    for name, value in accuracy(pred, expect).items():
        assert out[name] == pytest.approx(value)
    between = out["between_runs"]["32"]
    assert between["runs"] == 2 and between["n"] == len(FACTORS) - 1
    assert -1.0 <= between["median_tau_run_vs_run"] <= 1.0
    assert Path(out["png"]).stat().st_size > 1000
    # The combined CSV is itself a run: scoring it alone gives the same figures.
    again = score_runs(read_table(tiny_lut_table), [out["csv"]])
    assert again["kendall_tau"] == pytest.approx(out["kendall_tau"])
    assert again["mape"] == pytest.approx(out["mape"])


def test_bad_runs_are_clear_errors(tiny_lut_table: Path, first_run: tuple[Path, dict],
                                   tmp_path: Path) -> None:
    table = read_table(tiny_lut_table)
    path, _ = first_run
    with pytest.raises(NasError, match="no such validation CSV"):
        score_runs(table, [tmp_path / "absent.csv"])
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,latency\nx,1\n")
    with pytest.raises(NasError, match=r"bad.csv: not a validation CSV.*measured_median_ms"):
        score_runs(table, [bad])
    rows = _rows(path)
    broken = _write(tmp_path / "broken" / "v.csv",
                    [{**rows[0], "measured_min_ms": "-1"}, *rows[1:]])
    with pytest.raises(NasError, match="line 2 has a timing that is not a positive number"):
        score_runs(table, [broken])
    # A run of other networks shares none with this one.
    other = _write(tmp_path / "other" / "v.csv", [{**rows[0], "classes": "7"}])
    with pytest.raises(NasError, match="share no network"):
        score_runs(table, [path, other])
    # A network the calibration measured is not held out: those runs were for another table.
    sample = table.calibration.samples[0]  # type: ignore[union-attr]
    seen = _write(tmp_path / "seen" / "v.csv", [{**rows[0], "arch": sample["arch"]}])
    with pytest.raises(NasError, match="calibration networks"):
        score_runs(table, [seen])
    # Combining into the folder of an input would overwrite that run.
    second = _second_run(path, tmp_path / "run2", drop_last=False)
    with pytest.raises(NasError, match="would overwrite the input run"):
        score_runs(table, [path, second], out_dir=second.parent)


def test_validate_from_csv_cli(tiny_lut_table: Path, first_run: tuple[Path, dict], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = first_run
    second = _second_run(path, tmp_path / "run2", drop_last=False)
    assert main(["lut", "validate", str(tiny_lut_table), "--from-csv", str(path), str(second),
                 "--out", str(tmp_path / "both"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == len(FACTORS) and len(out["runs"]) == 2
    assert Path(out["csv"]).parent == tmp_path / "both"
    assert main(["lut", "validate", str(tiny_lut_table), "--from-csv", str(tmp_path / "no.csv")]) == 2
    err = capsys.readouterr().err
    assert "no.csv: no such validation CSV" in err and "Traceback" not in err


def _with_anchor(table_path: Path, dest: Path, *, scale: float = 1.0, arch: str | None = None
                 ) -> Path:
    """A copy of the table whose build timed its anchor ``scale`` times slower (a rebuild on a
    slower day), or anchored on another network."""
    data = json.loads(table_path.read_text())
    for config in data["configs"]:
        config["anchor"]["ms"] *= scale
        if arch is not None:
            config["anchor"]["arch"] = arch
    dest.write_text(json.dumps(data))
    return dest


def test_runs_record_their_anchor_and_rescore_under_a_rebuilt_table(
        tiny_lut_table: Path, first_run: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = first_run
    table = read_table(tiny_lut_table)
    (config,) = table.configs
    rows = _rows(path)
    assert {r["anchor_arch"] for r in rows} == {config["anchor"]["arch"]}
    assert {float(r["anchor_ms_at_build"]) for r in rows} == {config["anchor"]["ms"]}
    column = f"measured_{table.statistic}_ms"
    measured = np.array([float(r[column]) for r in rows])
    drift = np.array([float(r["anchor_drift"]) for r in rows])
    key = "tiny_lut/32/10/1"
    # The same blocks under an anchor timed 1.5x slower at build: the run's networks are 1.5x
    # slower at that table's speed, and its predictions did not move.
    slower = read_table(_with_anchor(tiny_lut_table, tmp_path / "slower.json", scale=1.5))
    out = score_runs(slower, [path], out_dir=tmp_path / "rebased")
    assert out["rebased"] == {str(path): {key: pytest.approx(1.5)}}
    got = _rows(Path(out["csv"]))
    np.testing.assert_allclose([float(r[column]) for r in got], measured * 1.5)
    np.testing.assert_allclose([float(r["anchor_drift"]) for r in got], drift / 1.5)
    assert {float(r["anchor_ms_at_build"]) for r in got} == {config["anchor"]["ms"] * 1.5}
    pred = np.array([float(r["predicted_ms"]) for r in got])
    assert out["mape"] == pytest.approx(accuracy(pred, measured * 1.5)["mape"])
    # The rebased CSV rescored by the table it now names is not rescaled again.
    assert score_runs(slower, [out["csv"]])["rebased"] == {}
    # A CSV from before the anchor columns: rescaled only when told which table it validated.
    old = _write(tmp_path / "old" / path.name,
                 [{k: v for k, v in r.items() if not k.startswith("anchor_")} for r in rows])
    assert score_runs(slower, [old])["rebased"] == {}
    assert score_runs(slower, [old], measured_with=table)["rebased"] == {
        str(old): {key: pytest.approx(1.5)}}
    # Another anchor network: the two speeds cannot be related.
    other = read_table(_with_anchor(tiny_lut_table, tmp_path / "other.json",
                                    arch=table.calibration.samples[0]["arch"]))  # type: ignore[union-attr]
    with pytest.raises(NasError, match=r"anchor network .* same anchor"):
        score_runs(other, [path])


def test_measured_with_cli(tiny_lut_table: Path, first_run: tuple[Path, dict], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = first_run
    rows = _rows(path)
    old = _write(tmp_path / "old" / path.name,
                 [{k: v for k, v in r.items() if not k.startswith("anchor_")} for r in rows])
    slower = _with_anchor(tiny_lut_table, tmp_path / "slower.json", scale=2.0)
    assert main(["lut", "validate", str(slower), "--from-csv", str(old),
                 "--measured-with", str(tiny_lut_table), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["rebased"][str(old)].values()) == [pytest.approx(2.0)]
    assert main(["lut", "validate", str(slower), "--measured-with", str(tiny_lut_table)]) == 2
    err = capsys.readouterr().err
    assert "--measured-with only applies with --from-csv" in err and "Traceback" not in err


def test_precision_weights_follow_each_runs_noise_not_its_offset() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(0.0, 0.5, size=200)
    noise = (0.01, 0.01, 0.02, 0.2)
    offset = (0.0, 0.3, -0.1, 0.0)  # a run taken at another machine speed: shifted as a whole
    log_ms = np.array([truth + o + rng.normal(0.0, s, size=truth.size)
                       for s, o in zip(noise, offset, strict=True)])
    w = precision_weights(log_ms)
    assert w.sum() == pytest.approx(1.0) and np.all(w > 0)
    assert w[3] < 0.02  # the noisy run barely counts
    assert w[0] == pytest.approx(w[1], rel=0.5)  # an offset alone costs no weight
    assert w[2] < w[0] and w[2] < w[1]
    # Two runs cannot tell which of them is the noisy one.
    np.testing.assert_allclose(precision_weights(log_ms[[0, 3]]), [0.5, 0.5])


def test_runs_weighted_by_precision(tiny_lut_table: Path, first_run: tuple[Path, dict],
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = first_run
    rows = _rows(path)
    steady = _write(tmp_path / "steady" / path.name, [  # the first run at another speed
        {k: (str(float(v) * 1.05) if k.startswith(("measured_", "raw_")) else v)
         for k, v in row.items()} for row in rows])
    noisy = _second_run(path, tmp_path / "noisy", drop_last=False)
    table = read_table(tiny_lut_table)
    equal = score_runs(table, [path, steady, noisy])
    out = score_runs(table, [path, steady, noisy], weighting="precision",
                     out_dir=tmp_path / "combined")
    assert equal["weighting"] == "equal" and equal["run_weights"]["32"] == [pytest.approx(1 / 3)] * 3
    w = out["run_weights"]["32"]
    assert out["weighting"] == "precision" and sum(w) == pytest.approx(1.0)
    assert w[2] < w[0] and w[2] < w[1]
    first = np.array([float(r["measured_min_ms"]) for r in rows])
    expect = first * 1.05 ** w[1] * np.array(FACTORS) ** w[2]
    got = np.array([float(r["measured_min_ms"]) for r in _rows(Path(out["csv"]))])
    np.testing.assert_allclose(got, expect, rtol=1e-9)
    with pytest.raises(NasError, match="run weighting 'loudest' is not one of equal, precision"):
        score_runs(table, [path, steady, noisy], weighting="loudest")
    # CLI: the option, and its misuse without --from-csv.
    assert main(["lut", "validate", str(tiny_lut_table), "--from-csv", str(path), str(steady),
                 str(noisy), "--weigh-runs", "precision", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_weights"]["32"] == pytest.approx(w)
    assert main(["lut", "validate", str(tiny_lut_table), "--weigh-runs", "precision"]) == 2
    err = capsys.readouterr().err
    assert "--weigh-runs only applies with --from-csv" in err and "Traceback" not in err


@settings(max_examples=50, deadline=None)
@given(runs=st.integers(3, 8), networks=st.integers(5, 40), seed=st.integers(0, 2**32 - 1))
def test_precision_weights_ignore_run_offsets_and_network_levels(runs: int, networks: int,
                                                                 seed: int) -> None:
    rng = np.random.default_rng(seed)
    log_ms = rng.normal(0.0, 1.0, size=(runs, networks)) * rng.uniform(0.01, 0.3, size=(runs, 1))
    w = precision_weights(log_ms)
    assert w.shape == (runs,) and np.all(w > 0) and w.sum() == pytest.approx(1.0)
    # Shifting a whole run (another machine speed) or a whole network (a bigger network)
    # changes nothing.
    moved = log_ms + rng.normal(0.0, 1.0, size=(runs, 1)) + rng.normal(0.0, 2.0, size=networks)
    np.testing.assert_allclose(precision_weights(moved), w, rtol=1e-6)
    # Relabelling the runs relabels their weights.
    order = rng.permutation(runs)
    np.testing.assert_allclose(precision_weights(log_ms[order]), w[order], rtol=1e-9)
