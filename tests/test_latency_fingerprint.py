"""The CPU's identity in a table's fingerprint, and the warning when the anchor runs off-speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli._main import main
from nas.latency import read_table
from nas.latency._anchor import speed_warnings
from nas.latency._fingerprint import ISA_FLAGS, cpu_identity, fingerprint_mismatches

X86 = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu vme avx avx2 fma hypervisor avx512f avx512_vnni sha_ni

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
flags\t\t: fpu avx avx2 amx_tile
"""

ARM = """\
processor\t: 0
BogoMIPS\t: 38.40
Features\t: fp asimd evtstrm aes asimdhp cpuid asimddp i8mm bf16 sve
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1
"""


def _sysfs_caches(root: Path) -> Path:
    for i, (level, kind, size) in enumerate([(1, "Data", "32K"), (1, "Instruction", "32K"),
                                             (2, "Unified", "1024K"), (3, "Unified", "32768K")]):
        d = root / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_cpu_identity_reads_the_first_x86_processor_and_caches(tmp_path: Path) -> None:
    ident = cpu_identity(X86, _sysfs_caches(tmp_path / "cache"))
    assert {k: ident[k] for k in ("vendor", "family", "model", "stepping")} == {
        "vendor": "AuthenticAMD", "family": "25", "model": "17", "stepping": "1"}
    # Only speed-relevant flags, in ISA_FLAGS order; the second processor's (amx_tile) not.
    assert ident["isa"] == ["avx", "avx2", "fma", "avx512f", "avx512_vnni"]
    assert set(ident["isa"]) <= set(ISA_FLAGS)
    assert ident["caches"] == {"L1d": "32K", "L1i": "32K", "L2": "1024K", "L3": "32768K"}


def test_cpu_identity_reads_arm_fields(tmp_path: Path) -> None:
    ident = cpu_identity(ARM, tmp_path / "no-such-dir")
    assert (ident["implementer"], ident["architecture"], ident["variant"], ident["part"],
            ident["revision"]) == ("0x41", "8", "0x1", "0xd40", "1")
    assert ident["isa"] == ["asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve"]
    assert "caches" not in ident  # none readable
    assert cpu_identity("", _sysfs_caches(tmp_path / "cache")) == {}  # no cpuinfo: nothing


def test_mismatches_compare_the_cpu_fields_both_sides_have(tmp_path: Path) -> None:
    here = {"name": "AMD EPYC", "cpu": cpu_identity(X86, _sysfs_caches(tmp_path / "c"))}
    same_name = {"name": "AMD EPYC", "cpu": {**here["cpu"], "model": "49", "family": "23"}}
    diff = fingerprint_mismatches(same_name, here)
    assert diff == ["cpu family: table '23', here '25'", "cpu model: table '49', here '17'"]
    assert fingerprint_mismatches(here, here) == []
    # A table recorded before the identity was (no "cpu"), or with fewer fields: what both have.
    assert fingerprint_mismatches({"name": "AMD EPYC"}, here) == []
    assert fingerprint_mismatches({"name": "AMD EPYC", "cpu": {"model": "17"}}, here) == []
    fewer_isa = {"name": "AMD EPYC", "cpu": {**here["cpu"], "isa": ["avx", "avx2"]}}
    assert fingerprint_mismatches(fewer_isa, here)[0].startswith("cpu isa: table 'avx avx2'")


def test_a_table_built_here_records_the_cpu(tiny_lut_table: Path) -> None:
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    assert read_table(tiny_lut_table).device["cpu"] == cpu_identity()


def test_calibrate_and_validate_refuse_a_table_from_another_cpu_design(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(tiny_lut_table.read_text())
    if "cpu" not in data["device"]:
        pytest.skip("this system reports no CPU identity")
    data["device"]["cpu"]["model"] = "not-" + str(data["device"]["cpu"].get("model", ""))
    other = tmp_path / "other_cpu.json"
    other.write_text(json.dumps(data))
    for cmd in ("validate", "calibrate"):
        assert main(["lut", cmd, str(other), "--n", "2", "--no-progress"]) != 0
        err = capsys.readouterr().err
        assert "other_cpu.json" in err and "cpu model: table 'not-" in err
        assert "Traceback" not in err


def test_speed_warnings_per_config_median() -> None:
    configs = ["a/32/10/1"] * 3 + ["b/224/10/1"] * 3 + ["c/32/10/1"] * 2
    drift = [1.4, 1.3, 0.9, 0.6, 0.7, 0.75, 1.0, 1.0]
    lines = speed_warnings(configs, drift)
    assert len(lines) == 2
    assert lines[0].startswith("a/32/10/1: the anchor network ran at 1.30x")
    assert lines[1].startswith("b/224/10/1: the anchor network ran at 0.70x")
    assert speed_warnings(configs, drift, limit=1.5) == []  # 1.30 and 1/0.70 = 1.43 are within
    assert speed_warnings(["a"] * 2, [1.2, 1.26]) == []  # median 1.23
    with pytest.raises(ValueError):
        speed_warnings(["a"], [1.0, 2.0])


def test_validate_warns_when_the_table_was_built_at_another_speed(
        tiny_lut_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(tiny_lut_table.read_text())
    anchored = [c for c in data["configs"] if "anchor" in c]
    assert anchored, "the tiny build records an anchor per config"
    for c in anchored:  # as if built on a machine 20x faster than this one
        c["anchor"]["ms"] /= 20
    fast = tmp_path / "fast_host.json"
    fast.write_text(json.dumps(data))
    assert main(["lut", "validate", str(fast), "--n", "2", "--no-progress", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert len(out["warnings"]) == len(anchored) == 1 and "fast_host.json" in captured.err
    # The factor is the networks' median drift (one config here: the run's median).
    assert f"ran at {out['anchor_drift_p5_p50_p95'][1]:.2f}x" in out["warnings"][0]
    assert out["anchor_drift_p5_p50_p95"][1] > 1.25
    assert "build a table on this machine" in captured.err
