"""What the commands print: an aligned, labeled view by default (plain text when piped), the
JSON they always printed with --json, and the errors that name what is wrong."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from nas.arch import Arch
from nas.cli._common import render_table
from nas.cli._main import main
from nas.latency import SHIPPED_TABLES, load_table
from nas.space import get_space

# The quickstart's best arch (trial 10 of `nas search experiments/quickstart.yaml`): mobilenet_v3
# searched at 32 px, outside the space's default resolutions 128-224.
QUICKSTART_BEST = ("mobilenet_v3:r32:w1|c16:k3e1|c24:k5e6,k5e6|c40:k5e6_se,k7e6_se|c80:k3e4,k3e6"
                   "|c112:k3e4_se,k5e3_se,k7e4_se|c160:k3e6_se,k7e6_se")
ANSI = re.compile(r"\x1b\[")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def rows_of(text: str) -> dict[str, str]:
    """Table lines by their first cell."""
    return {line.split()[0]: line for line in text.splitlines() if line.strip()}


def test_render_table_aligns_columns_and_right_aligns_numbers() -> None:
    text = render_table(["name", "ms", "spaces"], [["a", "1.5 ms", "x, y"], ["long_name", "12.25 ms", None]])
    head, first, second = text.splitlines()
    assert head.index("spaces") == first.index("x, y") == second.index("—")
    assert first.index("1.5 ms") + len("1.5 ms") == second.index("12.25 ms") + len("12.25 ms")
    assert not ANSI.search(text)  # pytest's stdout is no terminal: no colour codes


def test_lut_list_shows_coverage_and_validation_per_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lut", "list")
    assert code == 0 and not ANSI.search(out)
    header = out.splitlines()[0].split()
    for column in ("table", "device", "runtime", "spaces", "widths", "resolutions", "validation"):
        assert column in header
    rows = rows_of(out)
    # the shipped CPU tables measured every key their space has at 32 and 224 px
    torch_v3 = load_table("cpu_torch_mobilenet_v3")
    n = len(torch_v3.entries)
    assert f"{n}/{n} 100%" in rows["cpu_torch_mobilenet_v3"]
    assert "mobilenet_v3" in rows["cpu_torch_mobilenet_v3"] and "1, 1.2" in rows["cpu_torch_mobilenet_v3"]
    # nn-Meter's tables map only the stem: a small share of the keys, said so
    nnmeter = rows["pixel1_cpu_tflite_nnmeter"]
    measured, total = map(int, re.search(r"(\d+)/(\d+) ", nnmeter).groups())  # type: ignore[union-attr]
    assert measured == len(load_table("pixel1_cpu_tflite_nnmeter").entries) and total > 10 * measured
    # fitted tables record a held-out score; tables without one show a dash
    held = load_table("pixel3_fit_fbnet").measurement["fit"]["held_out"]
    assert f"{100 * held['within_10pct']:.1f}% within ±10%" in rows["pixel3_fit_fbnet"]
    assert "—" in rows["note10_cpu_tflite_ofa_mbv3_w12"]
    assert len(out.splitlines()) == 1 + len(list(SHIPPED_TABLES.glob("*.json")))


def test_lut_list_json_is_the_summary_plus_where_and_what_it_prices(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lut", "list", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    row = rows["cpu_torch_mobilenet_v3"]
    assert code == 0 and set(row) == {*load_table("cpu_torch_mobilenet_v3").summary(), "host", "hosts",
                                      "kernel_model", "priced"}


def test_a_table_that_does_not_load_is_a_row_with_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.json").write_text('{"format": "hwnas-latency-table", "entries": {')
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(tmp_path))
    code, out, err = run(capsys, "lut", "list")
    assert code == 0 and "Traceback" not in out + err
    assert "ERROR" in rows_of(out)["mine"]
    assert re.search(rf"^mine: .*{re.escape(str(tmp_path / 'mine.json'))}.*not valid JSON", out, re.M)


def test_a_corrupt_table_hiding_a_shipped_one_is_an_error_naming_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "cpu_torch_mobilenet_v3.json"
    bad.write_text('{"format": "hwnas-latency-table", "schema_version": 1, "entries": {')
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(tmp_path))
    monkeypatch.setenv("HWNAS_TABLE_HOST", "default")  # the folders' own ID.json, on any CPU
    code, _, err = run(capsys, "lut", "predict", "cpu_torch_mobilenet_v3", QUICKSTART_BEST)
    assert code == 2 and err.count("\n") == 1 and err.startswith("nas: error:")
    assert str(bad) in err and str(SHIPPED_TABLES / "cpu_torch_mobilenet_v3.json") in err
    assert "HWNAS_TABLE_PATH" in err
    code, out, _ = run(capsys, "lut", "list")
    assert code == 0 and "ERROR" in rows_of(out)["cpu_torch_mobilenet_v3"] and str(bad) in out
    # a valid table of the same id takes the shipped one's place, as documented
    shutil.copy(SHIPPED_TABLES / "cpu_torch_mobilenet_v3.json", bad)
    code, out, err = run(capsys, "lut", "predict", "cpu_torch_mobilenet_v3", QUICKSTART_BEST,
                         "--classes", "10", "--in-channels", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["latency_ms"] > 0


def test_lut_predict_labels_the_breakdown_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("lut", "predict", "cpu_torch_mobilenet_v3", QUICKSTART_BEST, "--classes", "10",
            "--in-channels", "1")
    code, out, _ = run(capsys, *args)
    assert code == 0
    data = json.loads(run(capsys, *args, "--json")[1])
    assert re.search(rf"^latency\s+{data['latency_ms']:.3f} ms$", out, re.M)
    assert re.search(rf"^sum of blocks\s+{data['raw_sum_ms']:.3f} ms$", out, re.M)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["#", "block", "ms"])
    assert len(lines) - start - 1 == len(data["blocks"])
    assert data["blocks"][0]["key"] in lines[start + 1]


def test_lut_calibrate_labels_every_coefficient(tiny_lut_table: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from nas.latency import FEATURES

    copy = tmp_path / "t.json"
    copy.write_text(tiny_lut_table.read_text())
    code, out, _ = run(capsys, "lut", "calibrate", str(copy), "--refit")
    assert code == 0
    data = json.loads(run(capsys, "lut", "calibrate", str(copy), "--refit", "--json")[1])
    rows = rows_of(out)
    header = rows["coefficient"].split()
    for group, coef in data["groups"].items():
        column = header.index(f"r{group}" if group.isdigit() else group)
        for i, name in enumerate(FEATURES):  # each coefficient on the row of its name
            assert rows[name].split()[column] == f"{coef[i]:.4g}"


def test_spaces_and_arch_show_print_tables_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spaces")
    assert code == 0 and "mobilenet_v3" in rows_of(out) and "128–224 /4" in rows_of(out)["mobilenet_v3"]
    assert [s["name"] for s in json.loads(run(capsys, "spaces", "--json")[1])] == sorted(
        s for s in rows_of(out) if s != "space")
    code, out, _ = run(capsys, "arch", "show", "mobilenet_v2_100", "--blocks")
    data = json.loads(run(capsys, "arch", "show", "mobilenet_v2_100", "--blocks", "--json")[1])
    assert code == 0
    assert re.search(rf"^MACs\s+{data['macs'] / 1e6:.2f} M MACs$", out, re.M)
    assert re.search(rf"^params\s+{data['params'] / 1e6:.2f} M params$", out, re.M)
    assert re.search(r"^peak activations\s+[\d.]+ (KiB|MiB) \(batch 1, float32\)$", out, re.M)
    assert len([line for line in out.splitlines() if re.match(r"^\s*\d+\s+(conv|mbconv|pool|fc)\(", line)]) \
        == data["n_blocks"]


def test_arch_show_and_export_agree_on_membership_at_a_searched_resolution(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(run(capsys, "arch", "show", QUICKSTART_BEST, "--json")[1])
    assert data["in_space"] is True and data["not_in_space_because"] == []
    assert 32 not in data["space_resolutions"]  # searched at 32 px by a config's resolutions
    out = run(capsys, "arch", "show", QUICKSTART_BEST)[1]
    assert re.search(r"^in space\s+yes$", out, re.M) and "32 px" in out
    assert run(capsys, "export", QUICKSTART_BEST, "--out", str(tmp_path / "e"), "--no-onnx",
               "--classes", "10", "--in-channels", "1")[0] == 0
    assert json.loads((tmp_path / "e" / "arch.json").read_text())["in_space"] is True
    # what is not in the space still says why, at any resolution
    bad = QUICKSTART_BEST.replace("c16:k3e1|", "c16:k9e1|")
    data = json.loads(run(capsys, "arch", "show", bad, "--json")[1])
    assert data["in_space"] is False and any("k9e1" in why for why in data["not_in_space_because"])


def test_arch_sample_at_a_resolution(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "arch", "sample", "--space", "mobilenet_v3", "--n", "3", "--resolution", "32")
    archs = [Arch.parse(line) for line in out.split()]
    assert code == 0 and len(archs) == 3 and {a.resolution for a in archs} == {32}
    space = get_space("mobilenet_v3")
    assert all(not space.check_any_resolution(a) for a in archs)
    assert json.loads(run(capsys, "arch", "sample", "--space", "mobilenet_v3", "--n", "3",
                          "--resolution", "32", "--json")[1]) == [a.text for a in archs]
    code, _, err = run(capsys, "arch", "sample", "--space", "mobilenet_v3", "--resolution", "4")
    assert code == 2 and "--resolution must be an integer >= 8, got 4" in err


def test_export_of_a_missing_run_folder_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "runs" / "quickstart"
    code, _, err = run(capsys, "export", str(missing), "--best", "accuracy", "--out", str(tmp_path / "x"))
    assert code == 2 and f"{missing}: no such run folder" in err and "--best" in err
    assert "got an arch" not in err
    code, _, err = run(capsys, "export", "mnasnet_a1", "--trial", "3", "--out", str(tmp_path / "x"))
    assert code == 2 and "--trial needs a run folder" in err and "got the arch mnasnet:" in err


def test_every_json_flag_says_what_it_does() -> None:
    from nas.cli._main import build_parser

    parser = build_parser()
    seen = 0

    def walk(p: object) -> None:
        nonlocal seen
        for action in getattr(p, "_actions", []):
            if "--json" in action.option_strings:
                assert "default" not in (action.help or ""), action.help
                seen += 1
            for sub in (getattr(action, "choices", None) or {}).values() if isinstance(
                    getattr(action, "choices", None), dict) else []:
                walk(sub)

    walk(parser)
    assert seen >= 15
