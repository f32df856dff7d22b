"""Real (tiny) builds on this machine: profiler, resume, calibration, CLI predict and validate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _tiny_lut import FAST

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import arch_to_blocks
from nas.cli._main import main
from nas.latency import load_table, read_table
from nas.latency._anchor import anchor_spreads, config_key, drift_warnings, table_anchors
from nas.latency._build import build_steadiest, build_table, partial_path
from nas.latency._enumerate import enumerate_blocks
from nas.latency._networks import (
    STREAM_VALIDATION,
    calibrate_table,
    measure_items,
    sample_items,
    table_settings,
)
from nas.latency._settings import Settings
from nas.space import get_space


def test_build_covers_space_with_full_stats(tiny_lut_table: Path, tiny_lut_space: Path) -> None:
    table = read_table(tiny_lut_table)
    keys = {b.key for b in enumerate_blocks(get_space(tiny_lut_space), classes=10, in_channels=1)}
    assert set(table.entries) == keys
    for e in table.entries.values():
        assert e.n >= 4 and e.min is not None and e.p90 is not None and e.std is not None
        assert 0 < e.min <= e.median <= e.p90
    assert table.device["threads"] == 1 and table.device["runtime"] == "torch"
    assert table.device["name"] and table.device["date"] and table.device["cores"]
    anchor = table.configs[0].pop("anchor")
    assert table.configs == [{"space": "tiny_lut", "resolution": 32, "in_channels": 1,
                              "classes": 10, "widths": [1.0]}]
    # The anchor network was timed in every chunk of both sittings (5 keys, then the rest, by 3).
    assert len(anchor["chunk_ms"]) == 2 + -(-(len(keys) - 5) // 3)
    assert anchor["ms"] == pytest.approx(float(np.median(anchor["chunk_ms"])))
    assert Arch.parse(anchor["arch"]).space == "tiny_lut"
    assert table.calibration is not None and len(table.calibration.samples) == 6
    # The 6 networks are one chunk: one anchor timing, one drift, recorded on every sample and
    # summarized in the meta. (Its value is the machine's: the build timed the anchor with FAST
    # settings, so on a noisy host it lands anywhere around 0.5-0.9; no bound on it here.)
    drifts = {s["anchor_drift"] for s in table.calibration.samples}
    assert len(drifts) == 1 and next(iter(drifts)) > 0 and next(iter(drifts)) != 1.0
    assert table.calibration.meta["anchor_drift_p5_p50_p95"] == pytest.approx([*drifts] * 3)
    assert table.measurement["build_seconds"] > 0
    assert table.measurement["pinned"]["torch_threads"] == 1
    assert "allocator" in table.measurement["pinned"]["malloc"]


def test_networks_are_divided_by_the_anchor_drift(tiny_lut_table: Path) -> None:
    table = read_table(tiny_lut_table)
    items = sample_items(table, 4, 0, STREAM_VALIDATION)
    (key, (arch, ms)), = table_anchors(table.configs).items()
    assert key == config_key("tiny_lut", 32, 10, 1)
    timing = {"rounds": 3, "round_ms": 5.0}
    settings = table_settings(table)
    now = measure_items(items, settings, chunk=2, timing=timing, progress=False,
                        anchors={key: (arch, ms)})
    # As if the build had run at twice the speed: every chunk reads twice the drift. (Compared
    # through each run's own anchor time: two runs' anchor times differ by the machine's noise.)
    timed = measure_items(items, settings, chunk=2, timing=timing, progress=False,
                          anchors={key: (arch, ms / 2)})
    assert len(timed.entries) == len(timed.raw) == len(timed.drift) == len(timed.anchor_ms) == 4
    assert timed.drift[0] == timed.drift[1] and timed.drift[2] == timed.drift[3]  # per chunk
    assert timed.anchor_ms[0] != timed.anchor_ms[2]  # each chunk times the anchor again
    for run, build_ms in ((now, ms), (timed, ms / 2)):
        for entry, raw, drift, anchor_now in zip(run.entries, run.raw, run.drift, run.anchor_ms,
                                                 strict=True):
            assert anchor_now is not None and anchor_now > 0
            assert drift == pytest.approx(anchor_now / build_ms)
            assert entry.min == pytest.approx(raw.min / drift)
            assert entry.median == pytest.approx(raw.median / drift)
    plain = measure_items(items, table_settings(table), timing=timing, progress=False)
    assert plain.drift == [1.0] * 4 and plain.entries == plain.raw
    assert plain.anchor_ms == [None] * 4


def test_passes_measure_fresh_networks_and_take_the_median(tiny_lut_table: Path) -> None:
    table = read_table(tiny_lut_table)
    items = sample_items(table, 5, 0, STREAM_VALIDATION)
    settings = table_settings(table)
    timing = {"rounds": 2, "round_ms": 2.0}
    timed = measure_items(items, settings, chunk=2, timing=timing, progress=False, passes=3,
                          anchors=table_anchors(table.configs))
    assert len(timed.pass_entries) == 3 and all(len(p) == 5 for p in timed.pass_entries)
    for i, entry in enumerate(timed.entries):
        per_pass = [p[i] for p in timed.pass_entries]
        assert entry.min == pytest.approx(float(np.median([e.min for e in per_pass])))
        assert entry.median == pytest.approx(float(np.median([e.median for e in per_pass])))
        assert entry.n == sum(e.n for e in per_pass)
        # Each pass timed the network anew: three different sets of samples.
        assert len({e.mean for e in per_pass}) == 3
    # A single pass is returned as measured: no per-pass copy.
    one = measure_items(items, settings, chunk=2, timing=timing, progress=False, passes=1,
                        anchors=table_anchors(table.configs))
    assert one.pass_entries == [] and len(one.entries) == 5
    with pytest.raises(NasError, match="--passes must be >= 1"):
        measure_items(items, settings, progress=False, passes=0)


def test_validate_with_passes_reports_the_devices_repeatability(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lut", "validate", str(tiny_lut_table), "--n", "4", "--seed", "3", "--passes", "2",
                 "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passes"] == 2 and out["n"] == 4
    rep = out["repeatability"]["32"]
    assert rep["n"] == 4 and -1.0 <= rep["kendall_tau_pass1_vs_pass2"] <= 1.0
    assert rep["mean_abs_diff_pct"] > 0  # two independent timings never agree to the bit
    assert main(["lut", "validate", str(tiny_lut_table), "--n", "2", "--passes", "0",
                 "--no-progress"]) == 2
    assert "--passes must be >= 1" in capsys.readouterr().err


def test_rounds_set_how_many_bursts_each_network_gets(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = read_table(tiny_lut_table)
    items = sample_items(table, 2, 0, STREAM_VALIDATION)
    fixed = {"round_ms": 1.0, "min_reps": 2, "max_reps": 2, "warmup_ms": 1.0}
    for rounds in (1, 4):
        timed = measure_items(items, table_settings(table), timing={**fixed, "rounds": rounds},
                              progress=False)
        assert [e.n for e in timed.entries] == [2 * rounds] * 2  # 2 calls per burst
    # The CLI passes --rounds through to validate and calibrate, and records it.
    assert main(["lut", "validate", str(tiny_lut_table), "--n", "2", "--rounds", "3",
                 "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rounds"] == 3
    copy = tmp_path / "rounds.json"
    copy.write_text(tiny_lut_table.read_text())
    assert main(["lut", "calibrate", str(copy), "--n", "3", "--rounds", "2",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert read_table(copy).calibration.meta["timing"]["rounds"] == 2  # type: ignore[union-attr]
    assert main(["lut", "validate", str(tiny_lut_table), "--n", "2", "--rounds", "0",
                 "--no-progress"]) == 2
    assert "--rounds must be >= 1" in capsys.readouterr().err


def test_build_reports_and_warns_on_anchor_spread(tiny_lut_table: Path) -> None:
    table = read_table(tiny_lut_table)
    spreads = anchor_spreads(table.configs)
    key = config_key("tiny_lut", 32, 10, 1)
    assert list(spreads) == [key]
    chunk_ms = table.configs[0]["anchor"]["chunk_ms"]
    assert spreads[key] == pytest.approx(100 * (max(chunk_ms) / min(chunk_ms) - 1), abs=0.01)
    lines = drift_warnings({key: 37.0, "other/224/1000/3": 5.0})
    assert len(lines) == 1 and lines[0].startswith(f"{key}: ") and "37%" in lines[0]
    assert drift_warnings({key: 37.0}, limit=40.0) == []


def test_resume_from_partial_file_after_interrupt(tiny_lut_space: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted.json"
    space = get_space(tiny_lut_space)
    build_table(space, Settings(**FAST), out, classes=10, in_channels=1, limit=2, chunk=1,
                progress=False)
    kept = read_table(out)
    # Simulate a kill after two more chunks were appended but before the table was rewritten.
    todo = [b for b in enumerate_blocks(space, classes=10, in_channels=1) if b.key not in kept]
    donor = {b.key: {"median": 0.123, "n": 3} for b in todo[:2]}
    partial_path(out).write_text("".join(json.dumps({"key": k, "entry": e}) + "\n"
                                         for k, e in donor.items()) + '{"key": "tor')
    report = build_table(space, Settings(**FAST), out, classes=10, in_channels=1, limit=1,
                         progress=False)
    assert report.skipped == 4 and report.measured == 1
    assert list(report.anchor_spread_pct) == [config_key("tiny_lut", 32, 10, 1)]
    table = read_table(out)
    assert all(table.entries[k].median == 0.123 for k in donor)


def test_a_drifting_build_is_measured_again_and_the_steadiest_kept(tiny_lut_space: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "steady.json"
    space = get_space(tiny_lut_space)
    build_table(space, Settings(**FAST), out, classes=10, in_channels=1, limit=2, chunk=1,
                progress=False)
    before = read_table(out).entries
    # Every real build drifts by more than 0%: all three attempts are made, each measuring the
    # keys the table lacked before the call, and the one with the smallest spread is kept.
    report = build_steadiest(space, Settings(**FAST), out, attempts=3, max_drift=0.0,
                             classes=10, in_channels=1, chunk=1, progress=False)
    assert len(report.attempts) == 3 and all(a > 0 for a in report.attempts)
    assert report.worst_spread == min(report.attempts)
    assert report.kept_attempt == report.attempts.index(min(report.attempts)) + 1
    assert report.path == str(out) and report.remaining == 0 and report.measured > 0
    table = read_table(out)
    (config,) = table.configs
    assert config["anchor"]["spread_pct"] == pytest.approx(min(report.attempts))
    assert {k: table.entries[k] for k in before} == dict(before)
    assert len(table) == report.keys_total
    assert sorted(p.name for p in tmp_path.iterdir()) == ["steady.json"]
    # Under the limit, one build is all.
    again = build_steadiest(space, Settings(**FAST), tmp_path / "once.json", attempts=3,
                            max_drift=1e9, classes=10, in_channels=1, chunk=1, progress=False)
    assert len(again.attempts) == 1 and again.kept_attempt == 1
    with pytest.raises(NasError, match="--attempts must be >= 1"):
        build_steadiest(space, Settings(**FAST), out, attempts=0, classes=10, in_channels=1)
    with pytest.raises(NasError, match="--attempts and --limit do not go together"):
        build_steadiest(space, Settings(**FAST), out, attempts=2, limit=3, classes=10,
                        in_channels=1)


def test_extending_with_other_settings_is_refused(tiny_lut_table: Path, tiny_lut_space: Path) -> None:
    with pytest.raises(NasError, match="measured with"):
        build_table(get_space(tiny_lut_space), Settings(batch=2, **FAST), tiny_lut_table, classes=10,
                    in_channels=1, progress=False)


def test_onnxruntime_block_build(tiny_lut_space: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny_ort.json"
    report = build_table(get_space(tiny_lut_space), Settings(backend="onnxruntime", **FAST), out,
                         classes=10, in_channels=1, limit=3, progress=False)
    table = read_table(out)
    assert report.measured == 3 and len(table) == 3
    assert table.device["runtime"] == "onnxruntime" and table.backend == "onnxruntime"


def test_predict_cli_json(tiny_lut_table: Path, tiny_lut_space: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    space = get_space(tiny_lut_space)
    arch = space.sample(np.random.default_rng(4))
    assert main(["lut", "predict", str(tiny_lut_table), arch.text, "--classes", "10",
                 "--in-channels", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    table = load_table(tiny_lut_table)
    expect = table.predict(arch, classes=10, in_channels=1)
    assert out["latency_ms"] == pytest.approx(expect.latency_ms)
    assert out["calibrated"] is True and out["content_hash"] == table.content_hash
    assert [b["key"] for b in out["blocks"]] == [
        b.key for b in arch_to_blocks(arch, classes=10, in_channels=1)]
    # A config the table was not built for: the classifier key is missing; the kernel model
    # prices it and the output says so, and --exact refuses it, naming table and key.
    assert main(["lut", "predict", str(tiny_lut_table), arch.text, "--classes", "7",
                 "--in-channels", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["modelled"] == ["fc(cin=32,cout=7,hw=1)"]
    assert main(["lut", "predict", str(tiny_lut_table), arch.text, "--classes", "7",
                 "--in-channels", "1", "--exact"]) == 2
    err = capsys.readouterr().err
    assert "tiny_torch" in err and "fc(cin=32,cout=7,hw=1)" in err


@pytest.mark.slow
def test_validate_cli_on_tiny_table(tiny_lut_table: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lut", "validate", str(tiny_lut_table), "--n", "4", "--seed", "3", "--out",
                 str(tmp_path), "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for name in ("n", "mape", "within_10pct", "kendall_tau", "rmse_ms"):
        assert name in out and name in out["baseline_flops"]
    assert out["n"] == 4 and 0.0 <= out["within_10pct"] <= 1.0
    assert out["baseline_flops"]["fitted_on"] == "calibration networks"
    assert Path(out["png"]).stat().st_size > 1000
    rows = Path(out["csv"]).read_text().splitlines()
    assert len(rows) == 5
    calibrated = {s["arch"] for s in load_table(tiny_lut_table).calibration.samples}
    assert not calibrated & {r.split(",")[0] for r in rows[1:]}  # held out


def test_list_cli_shows_table(tiny_lut_table: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(tiny_lut_table.parent))
    assert main(["lut", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    row = rows["tiny_torch"]
    assert row["spaces"] == ["tiny_lut"] and row["resolutions"] == [32]
    assert row["runtime"] == "torch" and row["entries"] == len(read_table(tiny_lut_table))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fp16_build_and_validate(tiny_lut_space: Path, tmp_path: Path) -> None:
    out = tmp_path / "tiny_cuda.json"
    settings = Settings(device="cuda", batch=4, dtype="float16", **FAST)
    build_table(get_space(tiny_lut_space), settings, out, classes=10, in_channels=1, progress=False)
    table = read_table(out)
    assert table.device["kind"] == "cuda" and table.device["name"] == torch.cuda.get_device_name(0)
    assert table.dtype == "float16" and table.batch == 4
    calibrate_table(table, n=6, progress=False)
    table.write(out)
    from nas.latency._validate import validate_table

    res = validate_table(read_table(out), n=4, progress=False)
    assert res["n"] == 4 and res["kendall_tau"] is not None


def test_cuda_without_gpu_is_a_clear_error(tiny_lut_space: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(NasError, match="no CUDA device"):
        build_table(get_space(tiny_lut_space), Settings(device="cuda", **FAST), tmp_path / "x.json",
                    progress=False)


def test_build_cli_limit_then_report(tiny_lut_space: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.json"
    args = ["lut", "build", "--space", str(tiny_lut_space), "--classes", "10", "--in-channels", "1",
            "--rounds", "1", "--round-ms", "0.5", "--limit", "2", "--out", str(out),
            "--no-progress", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["measured"] == 2 and report["remaining"] == report["keys_total"] - 2
    assert read_table(out).measurement["clock"] == "thread_cpu"
    assert main(["lut", "build", "--space", str(tiny_lut_space), "--out", str(out), "--threads", "2",
                 "--no-progress"]) == 2
    assert "measured with" in capsys.readouterr().err
    # --attempts needs a complete build to judge; then it reports each attempt's spread.
    assert main([*args, "--attempts", "2"]) == 2
    assert "--attempts and --limit do not go together" in capsys.readouterr().err
    finish = [a for a in args if a not in ("--limit", "2")]
    assert main([*finish, "--attempts", "2", "--max-drift", "1000", "--calibrate", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["remaining"] == 0 and len(report["attempts"]) == 1
    assert report["kept_attempt"] == 1
    assert "calibrated_networks" not in report and read_table(out).calibration is None


def test_build_calibrates_by_default(tiny_lut_space: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import build_parser

    args = ["lut", "build", "--space", str(tiny_lut_space), "--out", str(tmp_path / "t.json")]
    assert build_parser().parse_args(args).calibrate == 40  # a built table is ready to use
    assert main([*args, "--calibrate", "-1"]) == 2
    assert "--calibrate: -1 networks" in capsys.readouterr().err
    out = tmp_path / "cal.json"
    assert main(["lut", "build", "--space", str(tiny_lut_space), "--classes", "10", "--in-channels", "1",
                 "--rounds", "1", "--round-ms", "0.5", "--out", str(out), "--calibrate", "3",
                 "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    cal = read_table(out).calibration
    assert cal is not None and report["calibrated_networks"] == len(cal.samples) >= 3


def test_refit_with_min_statistic_needs_no_measuring(tiny_lut_table: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "refit.json"
    copy.write_text(tiny_lut_table.read_text())
    assert main(["lut", "calibrate", str(copy), "--refit", "--statistic", "min", "--json"]) == 0
    capsys.readouterr()
    before, after = read_table(tiny_lut_table), read_table(copy)
    assert after.statistic == "min" and after.calibration is not None
    # The same networks and measurements, not re-run (naive_ms now sums the entries' min).
    assert [(s["arch"], s["measured"]) for s in after.calibration.samples] == [
        (s["arch"], s["measured"]) for s in before.calibration.samples]
    arch = get_space("tiny_lut").sample(np.random.default_rng(0))
    naive_min = sum(after.entries[b.key].min for b in arch_to_blocks(arch, classes=10,
                                                                       in_channels=1))
    assert after.predict(arch, classes=10, in_channels=1).raw_sum_ms == pytest.approx(naive_min)


def test_burst_reps_warms_up_and_fills_a_burst_within_bounds() -> None:
    from nas.latency._backends import burst_reps

    calls = []

    def fn() -> None:
        calls.append(1)

    many = Settings(round_ms=1e9, min_reps=2, max_reps=7, warmup_ms=0.0)
    assert burst_reps(fn, many) == 7  # a burst longer than max_reps calls: clipped
    assert len(calls) >= 4  # the first call, then at least 3 timed warm-up calls
    few = Settings(round_ms=1e-9, min_reps=3, max_reps=7, warmup_ms=0.0)
    assert burst_reps(fn, few) == 3  # a burst shorter than one call: min_reps


def test_calibrate_add_keeps_the_measured_networks_and_adds_new_ones(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "add.json"
    copy.write_text(tiny_lut_table.read_text())
    before = read_table(copy).calibration
    assert main(["lut", "calibrate", str(copy), "--add", "--n", "2", "--resolution", "32",
                 "--rounds", "1", "--no-progress"]) == 0
    capsys.readouterr()
    after = read_table(copy).calibration
    assert before is not None and after is not None
    assert after.samples[:len(before.samples)] == before.samples
    new = [s["arch"] for s in after.samples[len(before.samples):]]
    assert len(new) == 2 and not set(new) & {s["arch"] for s in before.samples}
    assert after.meta["n_per_config"] == before.meta["n_per_config"]  # the first measuring's
    assert [(a["networks"], a["resolutions"]) for a in after.meta["added"]] == [(2, [32])]


@pytest.mark.parametrize(("args", "message"), [
    (["--add", "--resolution", "64"], "covers resolutions [32]; --resolution 64"),
    (["--refit", "--add"], "--refit measures nothing"),
])
def test_calibrate_add_and_resolution_errors(tiny_lut_table: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             args: list[str], message: str) -> None:
    copy = tmp_path / "bad.json"
    copy.write_text(tiny_lut_table.read_text())
    assert main(["lut", "calibrate", str(copy), "--n", "1", "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err


def test_calibrate_add_needs_a_calibration(tiny_lut_table: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(tiny_lut_table.read_text())
    data.pop("calibration")
    copy = tmp_path / "uncalibrated.json"
    copy.write_text(json.dumps(data))
    assert main(["lut", "calibrate", str(copy), "--add", "--n", "1", "--no-progress"]) == 2
    assert "no calibration to add networks to" in capsys.readouterr().err
