"""Interrupted whole-network measuring (calibrate, validate) resumes from its journal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import nas.latency._validate as validate_module
from nas.cli._main import main
from nas.latency import read_table
from nas.latency._networks import calibrate_table, journal_path
from nas.latency._validate import validate_table

ROUNDS = 3  # few rounds: these tests are about what is kept, not about timing quality


def journal_records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["journal"] == "hwnas-network-journal"
    return [json.loads(line) for line in lines[1:]]


def cut_journal(path: Path, keep: int) -> list[dict]:
    """What a kill leaves: the header, the first ``keep`` records and a torn line."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1 + keep]) + '\n{"pass": 0, "ind')
    return [json.loads(line) for line in lines[1:1 + keep]]


def calibrate_into_journal(table: Path, out: Path, n: int) -> Path:
    """A calibration of ``n`` networks (seed 0) whose journal is left behind, as a kill would."""
    journal = journal_path(out, "calibrate")
    calibrate_table(read_table(table), n=n, seed=0, progress=False, timing={"rounds": ROUNDS},
                    journal=journal)
    return journal


def test_interrupted_calibration_resumes_and_keeps_what_it_measured(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recal.json"
    # The first sitting measures every network into the journal, then "dies" after 2 of them.
    journal = calibrate_into_journal(tiny_lut_table, out, 6)
    assert len(journal_records(journal)) == 6
    kept = cut_journal(journal, 2)
    # The same command again: the 2 journaled networks are not timed again, the other 4 are.
    assert main(["lut", "calibrate", str(tiny_lut_table), "--n", "6", "--seed", "0", "--rounds",
                 str(ROUNDS), "--out", str(out), "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["networks"] == 6
    assert not journal.exists()  # deleted once the table is written
    samples = {s["arch"]: s["measured"] for s in read_table(out).calibration.samples}
    assert len(samples) == 6
    for rec in kept:
        assert samples[rec["arch"]] == rec["entry"]  # the very timings of the first sitting


def test_a_journal_of_another_run_is_refused_and_left_alone(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recal.json"
    journal = calibrate_into_journal(tiny_lut_table, out, 3)
    before = journal.read_text()
    assert main(["lut", "calibrate", str(tiny_lut_table), "--n", "3", "--seed", "1", "--rounds",
                 str(ROUNDS), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(journal) in err and "another run" in err
    assert journal.read_text() == before and not out.exists()
    journal.write_text(before.splitlines()[0] + "\nnot json\n" + before.splitlines()[1] + "\n")
    assert main(["lut", "calibrate", str(tiny_lut_table), "--n", "3", "--seed", "0", "--rounds",
                 str(ROUNDS), "--out", str(out), "--no-progress"]) == 2
    assert "line 2 is corrupt" in capsys.readouterr().err


def test_interrupted_validation_resumes_from_its_out_folder(
        tiny_lut_table: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = read_table(tiny_lut_table)
    journal = journal_path(tmp_path / table.id, "validate")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # dies after measuring, before writing its results

    with monkeypatch.context() as m:
        m.setattr(validate_module, "write_outputs", killed)
        with pytest.raises(KeyboardInterrupt):
            validate_table(table, n=5, seed=3, out_dir=tmp_path, progress=False,
                           timing={"rounds": ROUNDS})
    assert len(journal_records(journal)) == 5
    kept = cut_journal(journal, 3)
    out = validate_table(table, n=5, seed=3, out_dir=tmp_path, progress=False,
                         timing={"rounds": ROUNDS})
    assert out["n"] == 5 and not journal.exists()
    with Path(out["csv"]).open() as fh:
        rows = {r["arch"]: r for r in csv.DictReader(fh)}
    assert len(rows) == 5
    for rec in kept:
        assert float(rows[rec["arch"]]["measured_min_ms"]) == rec["entry"]["min"]
        assert float(rows[rec["arch"]]["raw_min_ms"]) == rec["raw"]["min"]
