"""`nas lut calibrate --add-runs`: validation runs' networks into the calibration (no timing).

On recorded data: the host-3 tables of set I and the validation runs of sets G and H (five runs
each, 50 networks per config, taken on that host with those tables' anchors).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from _recorded import unpack_runs, unpack_table

from nas._errors import NasError
from nas.cli._main import main
from nas.latency import read_table
from nas.latency._networks import refit_calibration
from nas.latency._run_calibration import calibrate_from_runs, networks_of_runs
from nas.latency._runs import score_runs

TID = "cpu_onnxruntime_mobilenet_v2"
# Recorded in tests/data/latency/: the host-3 variant shipped from set I to set K (its
# calibration has none of sets F-J), and five validation runs each of sets G and H.
_RECORDED: dict[str, list[Path]] = {}
TABLE = Path()


@pytest.fixture(autouse=True, scope="module")
def _recorded(tmp_path_factory: pytest.TempPathFactory) -> None:
    global TABLE
    into = tmp_path_factory.mktemp("recorded")
    TABLE = unpack_table(f"host3_seti_{TID}", into)
    for name in ("host3_setg", "host3_seth"):
        _RECORDED[name] = unpack_runs(name, TID, into)


def runs(name: str) -> list[Path]:
    return list(_RECORDED[name])


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, data: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    return path


def test_runs_are_added_combined_and_no_longer_held_out(tmp_path: Path) -> None:
    table = read_table(TABLE)
    before = list(table.calibration.samples)
    set_g = runs("host3_setg")
    assert len(set_g) == 5
    cal, summary = calibrate_from_runs(table, set_g)
    assert summary == {"added": 100, "already": 0, "runs_per_network": [5, 5]}
    assert list(cal.samples[:len(before)]) == before and len(cal.samples) == len(before) + 100
    first = rows(set_g[0])[0]
    sample = next(s for s in cal.samples[len(before):] if s["arch"] == first["arch"])
    timed = [float(next(r for r in rows(p) if r["arch"] == first["arch"])["measured_min_ms"])
             for p in set_g]  # same anchor as the table: no rescaling
    assert sample["measured"]["min"] == pytest.approx(
        math.exp(sum(math.log(v) for v in timed) / len(timed)), rel=1e-12)
    assert sample["runs"] == 5 and cal.meta["added"][-1]["networks"] == 100
    # Those networks are calibration networks now: set G cannot score the table, set H can.
    with pytest.raises(NasError, match="calibration networks"):
        score_runs(table, set_g)
    assert score_runs(table, runs("host3_seth"))["per_resolution"]["32"][
        "model"]["n"] == 50
    # What the table stores is all a refit needs: it reproduces the file.
    back = read_table(table.write(tmp_path / "added.json"))
    written = back.content_hash
    refit_calibration(back)
    assert back.content_hash == written


def test_a_network_in_some_runs_takes_the_runs_it_has(tmp_path: Path) -> None:
    base = rows(runs("host3_setg")[0])
    slower = [dict(r) for r in base[:-1]]
    slower[0]["measured_min_ms"] = str(float(base[0]["measured_min_ms"]) * 1.21)
    paths = [write_rows(tmp_path / "a.csv", base), write_rows(tmp_path / "b.csv", slower)]
    items, entries, extra = networks_of_runs(read_table(TABLE), paths)
    assert len(items) == len(base)
    assert entries[0].min == pytest.approx(float(base[0]["measured_min_ms"]) * 1.1, rel=1e-9)
    assert extra[0]["runs"] == 2 and extra[-1]["runs"] == 1
    assert entries[-1].min == pytest.approx(float(base[-1]["measured_min_ms"]), rel=1e-12)


def test_cli_adds_runs_and_reports_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    out = tmp_path / "t.json"
    csvs = [str(p) for p in runs("host3_seth")[:2]]
    assert main(["lut", "calibrate", str(TABLE), "--add-runs", *csvs, "--out", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["from_runs"]["added"] == 100
    assert report["networks"] == len(read_table(TABLE).calibration.samples) + 100
    assert read_table(out).calibration.meta["added"][-1]["from_runs"] == csvs
    # Again: every network is in the calibration already.
    assert main(["lut", "calibrate", str(out), "--add-runs", *csvs]) == 2
    assert "add no network" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--refit"], "does not combine with --refit, --add or --resolution"),
    (["--add"], "does not combine with --refit, --add or --resolution"),
])
def test_add_runs_conflicts_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       args: list[str], message: str) -> None:
    csv_path = str(runs("host3_seth")[0])
    assert main(["lut", "calibrate", str(TABLE), "--add-runs", csv_path, *args,
                 "--out", str(tmp_path / "x.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_measured_with_needs_add_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lut", "calibrate", str(TABLE), "--refit", "--measured-with", str(TABLE)]) == 2
    assert "--measured-with names the table" in capsys.readouterr().err


def test_bad_runs_name_the_file_or_network(tmp_path: Path) -> None:
    table = read_table(TABLE)
    with pytest.raises(NasError, match="no such validation CSV"):
        calibrate_from_runs(table, [tmp_path / "absent.csv"])
    once = runs("host3_seth")[0]
    with pytest.raises(NasError, match="given twice"):
        calibrate_from_runs(table, [once, once.parent / ".." / once.parent.name / once.name])
    other = [dict(r, classes="7") for r in rows(runs("host3_seth")[0])]
    with pytest.raises(NasError, match="does not cover"):
        calibrate_from_runs(table, [write_rows(tmp_path / "other.csv", other)])
    data = json.loads(TABLE.read_text())
    lacking = tmp_path / "lacking.json"
    key = "conv(cin=1,cout=32,hw=32,k=3,s=2,act=relu6)"  # every 32 px network's stem
    assert key in data["entries"]
    lacking.write_text(json.dumps({**data, "entries": {k: v for k, v in data["entries"].items()
                                                       if k != key}}))
    with pytest.raises(NasError, match=r"has no measured entry for block .*nas lut build"):
        calibrate_from_runs(read_table(lacking), runs("host3_seth")[:1])
    data.pop("calibration")
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(data))
    with pytest.raises(NasError, match="no calibration to add networks to"):
        calibrate_from_runs(read_table(bare), runs("host3_seth")[:1])


def test_runs_are_rescaled_to_the_tables_anchor_speed(tmp_path: Path) -> None:
    """CSVs without anchor columns take their anchor from --measured-with; a table whose build
    timed the anchor 10% slower gets the runs' timings 10% slower."""
    data = json.loads(TABLE.read_text())
    for c in data["configs"]:
        c["anchor"]["ms"] *= 1.1
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(data))
    base = rows(runs("host3_seth")[0])
    bare = write_rows(tmp_path / "bare.csv", [
        {k: v for k, v in r.items() if k not in ("anchor_arch", "anchor_ms_at_build")}
        for r in base])
    timed = float(base[0]["measured_min_ms"])
    _, as_is, _ = networks_of_runs(read_table(slower), [bare])  # no anchor known: unchanged
    _, rescaled, _ = networks_of_runs(read_table(slower), [bare], measured_with=read_table(TABLE))
    assert as_is[0].min == pytest.approx(timed, rel=1e-12)
    assert rescaled[0].min == pytest.approx(timed * 1.1, rel=1e-9)
