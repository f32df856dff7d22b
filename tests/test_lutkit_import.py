"""nas lut import: published tables mapped onto our block keys, with every unmapped key reported."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import arch_to_blocks
from nas.cli._main import main
from nas.latency import load_table
from nas.lutkit import import_table, sources_dir

SRC = sources_dir()
needs_sources = pytest.mark.skipif(not SRC.is_dir(), reason=f"published data not at {SRC}")

OFA_W12 = ("mobilenet_v3:r224:w1.2|c16:k3e1|c24:k5e6,k3e4|c40:k7e3_se,k5e6_se,k3e4_se"
           "|c80:k3e3,k7e6|c112:k5e4_se,k5e4_se|c160:k7e6_se,k3e3_se,k5e4_se")


@needs_sources
def test_ofa_note10_maps_every_key_and_predicts_the_source_sum() -> None:
    table, s = import_table(SRC / "ofa_note10", "ofa")
    assert s["source_keys"] == 480 and s["n_mapped"] == 480 and s["n_unmapped"] == 0
    assert table.resolutions == [160, 176, 192, 208, 224]
    assert all(c["covered"] == c["space_keys"] for c in s["coverage"])
    # The prediction of an arch is the sum of the source's means for its blocks.
    src = yaml.safe_load((SRC / "ofa_note10" / "224_lookup_table.yaml").read_text())
    arch = Arch.parse(OFA_W12)
    by_key = {m["key"]: m["source"] for m in s["mapped"] if m["source"] in src}
    blocks = arch_to_blocks(arch)
    expect = sum(src[by_key[b.key]]["mean"] for b in blocks if b.key in by_key
                 and not any(b.key == m["key"] for m in s["merged"]))
    merged = {m["key"]: m for m in s["merged"]}
    expect += sum(table.entries[b.key].ms for b in blocks if b.key in merged)
    assert table.predict(arch).latency_ms == pytest.approx(expect, rel=1e-9)
    assert "Once-for-All" in (table.citation or "")
    stem = next(m["key"] for m in s["mapped"] if m["source"].startswith("Conv-input:224x"))
    assert stem == arch_to_blocks(arch)[0].key


@needs_sources
def test_proxylessnas_splits_logits_and_reports_first_block_kernels() -> None:
    table, s = import_table(SRC / "proxylessnas_pixel1", "proxylessnas")
    src = yaml.safe_load((SRC / "proxylessnas_pixel1" / "mobile_trim.yaml").read_text())
    logits = src["Logits-input:7x7x1280-output:1000"]["mean"]
    pool, fc = "pool(cin=1280,cout=1280,hw=7)", "fc(cin=1280,cout=1000,hw=1)"
    assert table.entries[pool].ms + table.entries[fc].ms == pytest.approx(logits)
    assert 0 < table.entries[pool].ms < table.entries[fc].ms
    assert [a["source"] for a in s["approximations"]] == ["Logits-input:7x7x1280-output:1000"]
    unmapped = {u["source"] for u in s["unmapped"]}
    assert unmapped == {f"expanded_conv-input:112x112x32-output:112x112x16-expand:1-kernel:{k}"
                        "-stride:1-idskip:0" for k in (5, 7)}
    covered = ("mobilenet_v2:r224:w1|c16:k3e1|c24:k3e3,k5e6,skip,skip|c40:k7e3,k3e3,k5e6,skip"
               "|c80:k7e6,k5e3,skip,skip|c96:k5e6,k5e3,k3e3,skip|c192:k7e6,k7e6,k7e3,k7e3|c320:k7e6")
    assert table.predict(Arch.parse(covered)).latency_ms > 0
    with pytest.raises(NasError, match="no measured entry for block mbconv"):
        table.predict(Arch.parse(covered.replace("c24:", "c32:")))


@needs_sources
def test_dpu_merges_repeats_and_needs_an_assumed_pool() -> None:
    table, s = import_table(SRC / "xilinx_dpu_ultra96v2", "dpu-csv")
    assert s["n_mapped"] == 122 and len(s["merged"]) == 27
    # The repeat run agrees within ~1% (one block had an 11 ms outlier run in its average).
    assert np.median([m["spread"] for m in s["merged"]]) < 0.01
    assert s["coverage"][0]["missing"] == ["pool(cin=1152,cout=1152,hw=7)"]
    assert any("relu" in a["note"] for a in s["approximations"])
    pool = "pool(cin=1152,cout=1152,hw=7)"
    table, s = import_table(SRC / "xilinx_dpu_ultra96v2", "dpu-csv", assume=[f"{pool}=0"])
    assert s["coverage"][0]["covered"] == s["coverage"][0]["space_keys"]
    assert table.measurement["assumptions"] == [{"key": pool, "ms": 0.0}]
    assert table.predict(Arch.parse(OFA_W12)).latency_ms > 0
    stem = "conv(cin=3,cout=24,hw=224,k=3,s=2,act=hswish)"
    with pytest.raises(NasError, match="times this block"):
        import_table(SRC / "xilinx_dpu_ultra96v2", "dpu-csv", assume=[f"{stem}=1"])


@needs_sources
def test_nnmeter_maps_only_what_our_spaces_produce() -> None:
    table, s = import_table(SRC / "nnmeter_mobile_cpu" / "pixel4_lut_ln_v3.json", "nnmeter")
    assert table.device["name"] == "Google Pixel 4 CPU"
    assert s["n_mapped"] == 10 and s["n_mapped"] + s["n_unmapped"] == s["source_keys"]
    assert all(m["source"].startswith("firstconv_") for m in s["mapped"])
    reasons = s["unmapped_by_reason"]
    assert reasons["transformer attention"] > 0 and sum(reasons.values()) == s["n_unmapped"]
    assert {c["resolution"] for c in s["coverage"]} == {128, 160, 176, 192, 224}


def test_bad_inputs_name_the_problem(tmp_path) -> None:
    with pytest.raises(NasError, match="unknown import format 'tflite'"):
        import_table(tmp_path, "tflite")
    with pytest.raises(NasError, match="no such file"):
        import_table(tmp_path / "absent.yaml", "ofa")
    with pytest.raises(NasError, match=r"no <R>_lookup_table\.yaml"):
        import_table(tmp_path, "ofa")
    csv = tmp_path / "x.yaml"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(NasError, match=r"x\.yaml: expected a YAML mapping"):
        import_table(csv, "ofa")
    odd = tmp_path / "odd.yaml"
    odd.write_text(yaml.safe_dump({"Conv-foo": {"mean": 1.0}}))
    with pytest.raises(NasError, match="no key in the han-cai lookup-table grammar"):
        import_table(odd, "ofa")
    nojson = tmp_path / "t.json"
    nojson.write_text("[1, 2]")
    with pytest.raises(NasError, match="expected a JSON object"):
        import_table(nojson, "nnmeter")
    bad_csv = tmp_path / "dpu.csv"
    bad_csv.write_text("block,avg_ms\nx,1\n")
    with pytest.raises(NasError, match=r"missing column\(s\)"):
        import_table(bad_csv, "dpu-csv")
    good = tmp_path / "224_lookup_table.yaml"
    good.write_text(yaml.safe_dump({"Conv-input:224x224x3-output:112x112x24": {"mean": 1.0}}))
    with pytest.raises(NasError, match="expected BLOCK_KEY=MS"):
        import_table(good, "ofa", assume=["pool(cin=8,cout=8,hw=2)"])
    with pytest.raises(NasError, match="block key"):
        import_table(good, "ofa", assume=["pool(x=1)=2"])


def test_unrecognized_keys_are_reported_not_dropped(tmp_path) -> None:
    """A small file in the Once-for-All grammar: one key maps, the odd ones are listed."""
    path = tmp_path / "224_lookup_table.yaml"
    path.write_text(yaml.safe_dump({
        "Conv-input:224x224x3-output:112x112x24": {"count": 5, "mean": 1.0, "std": 0.1},
        "Weird-input:7x7x3-output:7x7x3": {"count": 5, "mean": 1.0, "std": 0.1},
        "expanded_conv-input:112x112x24-output:112x112x24-expand:24-kernel:9-stride:1-idskip:1"
        "-se:0-hs:0": {"count": 5, "mean": 2.0, "std": 0.1},
        "not a key": {"count": 1, "mean": 3.0},
    }))
    table, s = import_table(path, "ofa")
    assert s["n_mapped"] == 1 and s["n_unmapped"] == 3 and len(table) == 1
    reasons = {u["source"]: u["reason"] for u in s["unmapped"]}
    assert reasons["Weird-input:7x7x3-output:7x7x3"] == "unknown block name 'Weird'"
    assert "k9" in reasons[next(k for k in reasons if "kernel:9" in k)]
    assert "unrecognized key" in reasons["not a key"]
    assert table.entries["conv(cin=3,cout=24,hw=224,k=3,s=2,act=hswish)"].std == 0.1


def test_cli_import_prints_the_mapping_summary(tmp_path, capsys) -> None:
    path = tmp_path / "224_lookup_table.yaml"
    path.write_text(yaml.safe_dump({"Conv-input:224x224x3-output:112x112x24":
                                    {"count": 5, "mean": 1.5, "std": 0.1},
                                    "Strange-input:1x1x1-output:1x1x1": {"mean": 1.0}}))
    out = tmp_path / "t.json"
    assert main(["lut", "import", str(path), "--format", "ofa", "--device-name", "My phone",
                 "--out", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["n_mapped"], s["n_unmapped"], s["device"]) == (1, 1, "My phone")
    t = load_table(out)
    assert t.device["name"] == "My phone" and t.entries[s["mapped"][0]["key"]].ms == 1.5
    assert main(["lut", "import", str(path), "--format", "nope", "--out", str(out)]) == 2
    assert "unknown import format 'nope'" in capsys.readouterr().err


def test_shipped_imported_tables_load_and_cite() -> None:
    for tid in ("note10_cpu_tflite_ofa_mbv3_w12", "pixel1_cpu_tflite_proxyless_mbv2",
                "ultra96v2_dpu_int8_ofa_mbv3_w12", "pixel4_cpu_tflite_nnmeter"):
        t = load_table(tid)
        assert t.citation and t.source and t.measurement["method"] == "imported"
        assert all(math.isfinite(e.ms) for e in t.entries.values())
    t = load_table("ultra96v2_dpu_int8_ofa_mbv3_w12")
    archs = [Arch.parse(OFA_W12)] * 2
    assert np.all(t.predict_many(archs) > 0)
