"""nas lut fit / eval: per-block latencies recovered from whole-network timings, held-out scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nas._errors import NasError
from nas.blocks import Block, arch_to_blocks
from nas.cli._main import main
from nas.latency import load_table
from nas.latency._calibration import eager_kernels
from nas.lutkit import (
    FitOptions,
    evaluate,
    fit_table,
    read_measurements,
    sources_dir,
    split_rows,
)
from nas.lutkit._drift import choose_window
from nas.lutkit._resolution_scale import choose_scales
from nas.space import get_space

SRC = sources_dir()
needs_sources = pytest.mark.skipif(not SRC.is_dir(), reason=f"published data not at {SRC}")
OVERHEAD = 1.5


def key_truth(b: Block) -> float:
    """A made-up per-block latency (ms): per-kernel cost plus work."""
    return 0.01 * eager_kernels(b) + 2e-3 * b.macs / 1e6 + 1e-4 * b.cin * b.hw


def write_csv(path: Path, space: str, n: int, resolutions: list[int], classes: int, seed: int = 0,
              noise: float = 0.0, drift: float = 0.0,
              slow_states: list[bool] | None = None,
              res_factor: dict[int, float] | None = None) -> dict[str, float]:
    """``n`` sampled archs with latency = OVERHEAD + sum of key_truth; returns the key truths.

    ``drift``: amplitude of a slow factor over the file order (a device warming up and
    throttling while it was measured). ``slow_states``: per row, whether the device was in a
    state 20% slower (a phone that drops to a lower clock for a few rows at a time).
    ``res_factor``: a factor per input resolution (a GPU whose efficiency depends on the size).
    """
    sp = get_space(space).with_resolutions(resolutions)
    rng = np.random.default_rng(seed)
    truth: dict[str, float] = {}
    lines = ["arch,resolution,classes,dev,other"]
    for _ in range(n):
        arch = sp.sample(rng)
        blocks = arch_to_blocks(arch, sp, classes=classes)
        for b in blocks:
            truth[b.key] = key_truth(b)
        ms = (OVERHEAD + sum(key_truth(b) for b in blocks)) * (1 + noise * rng.standard_normal())
        ms *= 1 + drift * np.sin(2 * np.pi * len(lines) / 150)
        ms *= 1.2 if slow_states is not None and slow_states[len(lines) - 1] else 1.0
        ms *= (res_factor or {}).get(arch.resolution, 1.0)
        lines.append(f'"{arch.text}",{arch.resolution},{classes},{ms},')  # arch text has commas
    path.write_text("\n".join(lines) + "\n")
    return truth


def test_keys_model_recovers_additive_blocks_exactly(tmp_path) -> None:
    csv = tmp_path / "fb.csv"
    truth = write_csv(csv, "fbnet", 500, [32], 10)
    meas = read_measurements(csv, "csv")
    res = fit_table(meas, "dev", options=FitOptions(model="keys"))
    s = res.summary
    assert s["model"] == "keys" and s["held_out"]["n"] == 100
    assert s["held_out"]["mape"] < 1e-6 and s["held_out"]["within_10pct"] == 1.0
    inside = set(s["in_overhead"])  # stem and head: in every network, inseparable
    assert inside == {b.key for b in arch_to_blocks(meas.archs[0], classes=10)
                      if b.kind != "mbconv" and b.cin in (3, 352, 1504)}
    # Each stage's first layer has a block in every network (a skip there is a 1x1 projection):
    # those keys are fixed only up to a constant shared with the overhead, and reported.
    tied = set(s["tied_to_overhead"])
    first = {b.key for a in meas.archs for b in arch_to_blocks(a, classes=10)
             if b.kind != "fc" and (b.stride == 2 or b.cin != b.cout) and b.cin not in (3, 352)}
    assert tied == first
    for key, entry in res.table.entries.items():
        if key not in tied:
            assert entry.ms == pytest.approx(0.0 if key in inside else truth[key], rel=1e-6,
                                             abs=1e-9)
    # What the data does fix for them: their differences within one stage position.
    by_stage: dict[tuple[int, int], list[str]] = {}
    for key in tied:
        b = Block.parse(key)
        by_stage.setdefault((b.cin, b.hw), []).append(key)
    assert len(by_stage) == 6
    for keys in by_stage.values():
        got = [res.table.entries[k].ms - truth[k] for k in keys]
        assert max(got) - min(got) == pytest.approx(0.0, abs=1e-6)


def test_features_model_generalizes_to_unseen_archs_and_resolutions(tmp_path) -> None:
    csv = tmp_path / "mb.csv"
    write_csv(csv, "mobilenet_v3", 300, [128, 160], 1000)
    meas = read_measurements(csv, "csv")
    res = fit_table(meas, "dev")
    s = res.summary
    assert s["model"] == "features" and s["held_out"]["mape"] < 0.5
    # Every key of the space at the measured resolutions has an entry, seen or not.
    space = get_space("mobilenet_v3").with_resolutions([128, 160])
    rng = np.random.default_rng(99)
    fresh = [space.sample(rng) for _ in range(20)]
    pred = res.table.predict_many(fresh)
    true = np.array([OVERHEAD + sum(key_truth(b) for b in arch_to_blocks(a, space)) for a in fresh])
    assert np.max(np.abs(pred / true - 1)) < 0.01
    assert res.table.calibration is not None and res.table.spaces == ["mobilenet_v3"]


def test_eval_scores_the_same_held_out_rows_as_fit(tmp_path, capsys) -> None:
    csv = tmp_path / "fb.csv"
    write_csv(csv, "fbnet", 300, [32], 10, noise=0.05)
    out = tmp_path / "t.json"
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev", "--space", "fbnet",
                 "--out", str(out), "--test-fraction", "0.25", "--seed", "3", "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev",
                 "--test-fraction", "0.25", "--seed", "3", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    for k in ("n", "mape", "within_10pct", "kendall_tau"):
        assert scored[k] == pytest.approx(fitted["held_out"][k])
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 300


def test_tail_split_holds_out_the_last_rows_and_shows_a_late_slowdown(tmp_path, capsys) -> None:
    """A device that ran 20% slower for the last fifth of its file: a random split hides it
    (most held-out rows are fast ones), the tail split holds out exactly those rows."""
    csv = tmp_path / "late.csv"
    write_csv(csv, "fbnet", 300, [32], 10, noise=0.01, slow_states=[False] * 240 + [True] * 60)
    train, test = split_rows(300, 0.2, 0, "tail")
    assert list(test) == list(range(240, 300)) and list(train) == list(range(240))
    meas = read_measurements(csv, "csv")
    rand = fit_table(meas, "dev").summary
    assert rand["split"] == {"how": "random", "test_fraction": 0.2, "seed": 0}
    assert rand["held_out"]["within_10pct"] > 0.6
    out = tmp_path / "t.json"
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev", "--space", "fbnet",
                 "--out", str(out), "--split", "tail", "--json"]) == 0
    tail = json.loads(capsys.readouterr().out)
    assert tail["split"] == {"how": "tail", "test_fraction": 0.2}
    assert tail["n_test"] == 60 and tail["held_out"]["within_10pct"] < 0.1
    assert load_table(str(out)).measurement["fit"]["split"]["how"] == "tail"
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev",
                 "--test-fraction", "0.2", "--split", "tail", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert "last rows in file order" in scored["rows"]
    for k in ("n", "mape", "within_10pct", "kendall_tau"):
        assert scored[k] == pytest.approx(tail["held_out"][k])
    with pytest.raises(NasError, match="--split 'first' is not one of random, tail"):
        split_rows(10, 0.2, 0, "first")
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev",
                 "--split", "tail"]) == 2
    assert "give --test-fraction too" in capsys.readouterr().err
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev", "--space", "fbnet",
                 "--out", str(out), "--split", "first"]) == 2
    assert "--split 'first' is not one of random, tail" in capsys.readouterr().err


def test_held_out_rows_with_blocks_no_training_row_fixes_are_reported_not_fatal(
        tmp_path, capsys) -> None:
    # Few rows, many distinct blocks: some held-out networks hold keys no training network had.
    csv = tmp_path / "few.csv"
    write_csv(csv, "fbnet", 24, [32], 10, seed=4)
    out = tmp_path / "t.json"
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev", "--space", "fbnet",
                 "--model", "keys", "--test-fraction", "0.5", "--seed", "1",
                 "--out", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    unscored = s["held_out_unscored"]
    assert unscored["n"] > 0 and unscored["keys"] and s["n_test"] == 12
    table = load_table(str(out))
    assert not any(k in table for k in unscored["keys"])
    assert set(unscored["keys"]) <= set(s["unpredictable_keys"])
    assert s["held_out"]["n"] == s["n_test"] - unscored["n"]
    assert s["held_out"]["n"] > 0 and np.isfinite(s["held_out"]["mape"])
    assert any("held-out rows hold blocks" in w and "--model features" in w
               for w in s["warnings"])
    assert table.measurement["fit"]["held_out_unscored"] == unscored
    # eval on the same split names the first row the table cannot predict; --approximate answers.
    split = ["--format", "csv", "--column", "dev", "--test-fraction", "0.5", "--seed", "1"]
    assert main(["lut", "eval", str(out), str(csv), *split, "--json"]) == 2
    err = capsys.readouterr().err
    assert f"{csv}: row " in err and "which table 't' has no entry" in err
    assert any(k in err for k in unscored["keys"])
    assert main(["lut", "eval", str(out), str(csv), *split, "--approximate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == s["n_test"]


def test_drift_window_recovers_the_steady_state_device(tmp_path, capsys) -> None:
    csv = tmp_path / "drift.csv"
    truth = write_csv(csv, "fbnet", 800, [32], 10, noise=0.01, drift=0.2)
    meas = read_measurements(csv, "csv")
    plain = fit_table(meas, "dev", options=FitOptions(model="keys")).summary
    # Without a window: the drift caps the held-out score, and the summary says why.
    assert plain["held_out"]["within_10pct"] < 0.8
    assert plain["drift"]["residual_lag1_autocorr"] > 0.6 and "drifted" in plain["warnings"][0]
    out = tmp_path / "t.json"
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev", "--model", "keys",
                 "--drift-window", "8", "--out", str(out), "--json"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    # The drift is modelled now; what is left is the share of rows no table can match.
    assert "drifted while it was measured" not in " ".join(fitted.get("warnings", []))
    off = fitted["drift"]["rows_off_by_10pct"]
    assert (off > 0.05) == ("ran more than 10% off" in " ".join(fitted.get("warnings", [])))
    lo, mid, hi = fitted["drift"]["factor_p5_p50_p95"]
    assert lo < 0.85 and mid == pytest.approx(1.0, abs=0.02) and hi > 1.15
    assert fitted["held_out_drift_corrected"]["within_10pct"] >= 0.97
    assert fitted["drift"]["residual_lag1_autocorr_corrected"] < 0.5
    # The table holds the steady-state device: whole networks without the drift, within 3%.
    table = load_table(str(out))
    rng = np.random.default_rng(5)
    space = get_space("fbnet").with_resolutions([32])
    fresh = [space.sample(rng) for _ in range(30)]
    true = np.array([OVERHEAD + sum(truth.get(b.key, key_truth(b))
                                    for b in arch_to_blocks(a, space, classes=10))
                     for a in fresh])
    pred = table.predict_many(fresh, classes=10)
    assert np.max(np.abs(pred / true - 1)) < 0.03
    # eval with the same split and window scores the same held-out rows the same way.
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev",
                 "--test-fraction", "0.2", "--drift-window", "8", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["drift_corrected"]["within_10pct"] == pytest.approx(
        fitted["held_out_drift_corrected"]["within_10pct"], abs=0.02)
    with pytest.raises(NasError, match="--drift-window must be a whole number of rows >= 0"):
        FitOptions(drift_window=-1)


def test_resolution_scale_follows_a_device_whose_speed_depends_on_the_input_size(
        tmp_path, capsys) -> None:
    wave = {128: 1.15, 160: 0.92, 192: 1.06, 224: 1.0}
    csv = tmp_path / "gpu.csv"
    write_csv(csv, "mobilenet_v3", 400, list(wave), 1000, noise=0.02, res_factor=wave)
    meas = read_measurements(csv, "csv")
    off = fit_table(meas, "dev", options=FitOptions(resolution_scale="off")).summary
    out = tmp_path / "t.json"
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev",
                 "--out", str(out), "--json"]) == 0  # auto by default
    auto = json.loads(capsys.readouterr().out)
    info = auto["resolution_scale"]
    assert info["mode"] == "auto" and info["used"]
    assert info["cv_within_10pct"]["on"] >= info["cv_within_10pct"]["off"] + 0.01
    assert auto["held_out"]["within_10pct"] >= 0.97
    assert auto["held_out"]["within_10pct"] > off["held_out"]["within_10pct"] + 0.1
    # One scale per resolution, and they differ: the features explain part of the wave (their
    # work terms change with the input size), the scales what is left.
    got = {int(r): v for r, v in info["scales"].items()}
    assert set(got) == set(wave) and max(got.values()) / min(got.values()) > 1.05
    # They are the table's calibration groups, and eval scores the same held-out rows alike.
    table = load_table(str(out))
    assert table.calibration is not None
    assert set(table.calibration.groups) == {"all", "128", "160", "192", "224"}
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev",
                 "--test-fraction", "0.2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["within_10pct"] == pytest.approx(
        auto["held_out"]["within_10pct"])


def test_resolution_scale_auto_leaves_a_device_without_it_alone(tmp_path) -> None:
    csv = tmp_path / "plain.csv"
    write_csv(csv, "mobilenet_v3", 400, [128, 160, 192, 224], 1000, noise=0.04)
    meas = read_measurements(csv, "csv")
    res = fit_table(meas, "dev")
    info = res.summary["resolution_scale"]
    assert not info["used"] and "scales" not in info
    assert res.table.calibration is not None and set(res.table.calibration.groups) == {"all"}
    forced = fit_table(meas, "dev", options=FitOptions(resolution_scale="on")).summary
    assert forced["resolution_scale"]["used"] and set(forced["resolution_scale"]["scales"]) == {
        "128", "160", "192", "224"}
    with pytest.raises(NasError, match="--resolution-scale 'sometimes' is not one of auto, on, off"):
        FitOptions(resolution_scale="sometimes")


def test_resolution_scale_choice_never_looks_at_held_out_rows() -> None:
    rng = np.random.default_rng(0)
    resolution = rng.choice([128, 160, 192], 600)
    ratio = np.where(resolution == 128, 1.15, 1.0) * (1 + 0.02 * rng.standard_normal(600))
    train = np.sort(rng.permutation(600)[:480])
    scales, info = choose_scales(resolution, ratio, train, "auto", 0.05, np.random.default_rng(1))
    scrambled = ratio.copy()
    held = np.setdiff1d(np.arange(600), train)
    scrambled[held] = rng.uniform(0.1, 10.0, len(held))
    assert choose_scales(resolution, scrambled, train, "auto", 0.05,
                         np.random.default_rng(1)) == (scales, info)
    assert info["used"] and scales[128] == pytest.approx(1.15, abs=0.01)


def markov_states(n: int, enter: float, leave: float, seed: int) -> list[bool]:
    """A two-state chain in file order: enters the slow state with probability ``enter`` per
    row and leaves it with ``leave`` (mean run 1 / leave rows)."""
    rng = np.random.default_rng(seed)
    slow, out = False, []
    for _ in range(n):
        slow = bool(rng.random() < (1 - leave if slow else enter))
        out.append(slow)
    return out


def test_drift_window_auto_follows_a_device_that_switches_states(tmp_path, capsys) -> None:
    # Short slow runs (6 rows on average, 20-30% of rows): HELP's Pixel 2 in miniature.
    states = markov_states(1000, enter=0.07, leave=0.17, seed=4)
    csv = tmp_path / "states.csv"
    write_csv(csv, "fbnet", 1000, [32], 10, noise=0.01, slow_states=states)
    meas = read_measurements(csv, "csv")
    wide = fit_table(meas, "dev", options=FitOptions(model="keys", drift_window=10)).summary
    out = tmp_path / "t.json"
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "dev", "--model", "keys",
                 "--drift-window", "auto", "--out", str(out), "--json"]) == 0
    auto = json.loads(capsys.readouterr().out)
    d = auto["drift"]
    assert d["window"] <= 3 < 10 and set(d["window_choice_within_10pct"]) == {
        "1", "2", "3", "5", "10", "20"}
    assert d["window_choice_within_10pct"][str(d["window"])] == max(
        d["window_choice_within_10pct"].values())
    # A 10-row median averages the short slow runs away; the chosen window follows them.
    assert auto["held_out_drift_corrected"]["within_10pct"] >= 0.9
    assert auto["held_out_drift_corrected"]["within_10pct"] > (
        wide["held_out_drift_corrected"]["within_10pct"] + 0.05)
    # The share of rows drifted past 10% is about the share measured in the slow state, and the
    # raw held-out score cannot beat one minus it by much.
    slow_share = float(np.mean(states))
    assert d["rows_off_by_10pct"] == pytest.approx(slow_share, abs=0.06)
    assert auto["warnings"][0].startswith(f"{d['rows_off_by_10pct']:.0%} of the training rows")
    assert auto["held_out"]["within_10pct"] <= 1 - slow_share + 0.08
    # eval chooses the window the same way, from the same training rows.
    assert main(["lut", "eval", str(out), str(csv), "--format", "csv", "--column", "dev",
                 "--test-fraction", "0.2", "--drift-window", "auto", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["drift"]["window"] <= 3
    assert scored["drift_corrected"]["within_10pct"] >= 0.9


def test_window_choice_never_looks_at_held_out_rows() -> None:
    rng = np.random.default_rng(0)
    states = np.array(markov_states(400, enter=0.07, leave=0.17, seed=1))
    ratio = np.where(states, 1.2, 1.0) * (1 + 0.01 * rng.standard_normal(400))
    known = rng.random(400) < 0.8
    window, choice = choose_window(ratio, known)
    scrambled = ratio.copy()
    scrambled[~known] = rng.uniform(0.1, 10.0, int((~known).sum()))
    assert choose_window(scrambled, known) == (window, choice)
    assert window <= 3 and choice[window] > choice[20] + 0.1


@pytest.mark.parametrize("bad", ["x", "-1", "1.5", -2, True, ""])
def test_drift_window_rejects_what_is_not_rows_or_auto(bad) -> None:
    with pytest.raises(NasError, match=r"--drift-window must be a whole number of rows >= 0 "
                                       r"\(0: off\) or 'auto'"):
        FitOptions(drift_window=bad)
    assert FitOptions(drift_window="auto").drift_window == "auto"
    assert FitOptions(drift_window="3").drift_window == 3


def test_bad_drift_window_or_resolution_scale_exits_2_naming_the_flag(tmp_path, capsys) -> None:
    csv = tmp_path / "m.csv"
    write_csv(csv, "fbnet", 30, [32], 10)
    base = ["--format", "csv", "--column", "dev"]
    assert main(["lut", "fit", str(csv), *base, "--out", str(tmp_path / "t.json"),
                 "--drift-window", "wide"]) == 2
    assert "--drift-window must be a whole number of rows" in capsys.readouterr().err
    assert main(["lut", "fit", str(csv), *base, "--out", str(tmp_path / "t.json"),
                 "--resolution-scale", "yes"]) == 2
    assert "--resolution-scale 'yes' is not one of auto, on, off" in capsys.readouterr().err
    assert main(["lut", "eval", "pixel3_fit_fbnet", str(csv), *base, "--drift-window", "-3"]) == 2
    assert "--drift-window must be a whole number of rows" in capsys.readouterr().err


def test_measurement_errors_name_the_file_row_or_column(tmp_path) -> None:
    csv = tmp_path / "m.csv"
    write_csv(csv, "fbnet", 30, [32], 10)
    with pytest.raises(NasError, match="unknown measurement format 'xlsx'"):
        read_measurements(csv, "xlsx")
    with pytest.raises(NasError, match=r"not a help-fbnet file; missing column\(s\) \['arch_str'\]"):
        read_measurements(csv, "help-fbnet")
    with pytest.raises(NasError, match=r"not a help-ofa file"):
        read_measurements(csv, "help-ofa")
    meas = read_measurements(csv, "csv")
    with pytest.raises(NasError, match="no device column 'pixel9'; columns: dev, other"):
        meas.column("pixel9")
    with pytest.raises(NasError, match="column 'other' has no measurements"):
        fit_table(meas, "other")
    with pytest.raises(NasError, match="test-fraction must be in"):
        fit_table(meas, "dev", test_fraction=1.5)
    with pytest.raises(NasError, match="--model 'tree'"):
        FitOptions(model="tree")
    lines = csv.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace("k3e", "k9e", 1).replace("k5e", "k9e", 1)]))
    with pytest.raises(NasError, match=r"bad\.csv: row 2: arch outside space fbnet"):
        read_measurements(bad, "csv")
    with pytest.raises(NasError, match="arch outside space mobilenet_v3"):
        read_measurements(csv, "csv", space="mobilenet_v3")
    neg = tmp_path / "neg.csv"
    neg.write_text("\n".join([lines[0], lines[1].rsplit(",", 2)[0] + ",-1,"]))
    with pytest.raises(NasError, match=r"latency -1\.0 is not positive"):
        read_measurements(neg, "csv").column("dev")
    with pytest.raises(NasError, match="--format help-fbnet files are archs of space fbnet"):
        read_measurements(csv, "help-fbnet", space="mobilenet_v3")
    junk = tmp_path / "junk.csv"
    junk.write_text("arch,dev\nnot an arch,3\n")
    with pytest.raises(NasError, match=r"junk\.csv: row 2"):
        read_measurements(junk, "csv")
    assert main(["lut", "fit", str(csv), "--format", "csv", "--column", "nope",
                 "--out", str(tmp_path / "x.json")]) == 2


@needs_sources
@pytest.mark.slow
def test_pixel3_fit_recovers_hw_nas_bench_block_tables() -> None:
    """Pixel 3 latencies are sums of measured per-block tables: held-out error ~0, and two
    different splits find the same per-block values."""
    meas = read_measurements(SRC / "help_fbnet" / "fbnet_archs_latency.csv", "help-fbnet")
    a = fit_table(meas, "pixel3", seed=0)
    b = fit_table(meas, "pixel3", seed=1)
    assert a.summary["model"] == "keys" and a.summary["held_out"]["mape"] < 1e-4
    tied = set(a.summary["tied_to_overhead"])
    assert tied == set(b.summary["tied_to_overhead"]) and len(tied) == 6 * 9  # stage-first ops
    for key, entry in a.table.entries.items():
        if key not in tied:
            assert entry.ms == pytest.approx(b.table.entries[key].ms, rel=1e-4, abs=1e-6)
    assert evaluate(a.table, meas, "pixel3", test_fraction=0.2, seed=0)["mape"] < 1e-4


@needs_sources
@pytest.mark.slow
def test_gpu_batch64_fit_beats_the_layer_op_baseline() -> None:
    meas = read_measurements(SRC / "help_ofa_mbv3_gpu" / "ofa_mbv3_archs_gpu_latency.csv",
                             "help-ofa")
    s = fit_table(meas, "titan_rtx_64").summary
    assert s["model"] == "features"
    assert s["held_out"]["within_10pct"] > s["baseline_held_out"]["within_10pct"] + 0.3
    assert s["held_out"]["kendall_tau"] > s["baseline_held_out"]["kendall_tau"]


@needs_sources
def test_shipped_fitted_tables_reproduce_their_held_out_scores() -> None:
    t = load_table("pixel3_fit_fbnet")
    meas = read_measurements(SRC / "help_fbnet" / "fbnet_archs_latency.csv", "help-fbnet")
    got = evaluate(t, meas, "pixel3", test_fraction=0.2, seed=0)
    assert got["within_10pct"] == pytest.approx(t.measurement["fit"]["held_out"]["within_10pct"])
    assert got["mape"] == pytest.approx(t.measurement["fit"]["held_out"]["mape"], abs=1e-9)
    # The RTX 2080 Ti at batch 32 kept one scale per resolution: its calibration groups carry them.
    t = load_table("rtx2080ti_b32_fit_ofa_mbv3")
    assert t.measurement["fit"]["resolution_scale"]["used"]
    assert t.calibration is not None and len(t.calibration.groups) == 26  # 128..224 step 4, all
    meas = read_measurements(SRC / "help_ofa_mbv3_gpu" / "ofa_mbv3_archs_gpu_latency.csv",
                             "help-ofa")
    got = evaluate(t, meas, "2080ti_32", test_fraction=0.2, seed=0)
    assert got["within_10pct"] == pytest.approx(t.measurement["fit"]["held_out"]["within_10pct"])
    assert got["mape"] == pytest.approx(t.measurement["fit"]["held_out"]["mape"], abs=1e-9)
