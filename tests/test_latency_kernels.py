"""Kernel-level latency models: block -> kernels, fitting, pricing keys a table lacks, coverage.

Nothing is timed: synthetic latencies with a known kernel-level law, and the shipped tables.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas._errors import NasError
from nas.arch import Arch, reference
from nas.blocks import Block, arch_to_blocks, block_ops
from nas.cli._main import main
from nas.latency import (
    FAMILIES,
    Entry,
    KernelModel,
    LatencyTable,
    fit_kernel_model,
    kernel_coverage,
    kernel_features,
    list_tables,
    load_table,
    table_from_dict,
)
from nas.latency._enumerate import enumerate_blocks
from nas.lutkit import sources_dir
from nas.space import get_space

SHARED = sources_dir()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="published data not present")

blocks_st = st.builds(
    lambda cin, cout, hw, k, s, e, se, act: Block(
        "mbconv", cin, cout, hw, k, s, act, mid=cin * e, se=max(1, cin * e // 4) if se else 0,
        se_gate="hsigmoid" if se else "none", se_act="relu" if se else "none",
        expand_conv=e != 1, residual=s == 1 and cin == cout),
    st.integers(8, 96), st.integers(8, 96), st.integers(4, 64), st.sampled_from([3, 5, 7]),
    st.sampled_from([1, 2]), st.sampled_from([1, 3, 6]), st.booleans(),
    st.sampled_from(["relu", "hswish"]))

# A known kernel-level law: what the synthetic "device" takes per kernel group.
LAW = {"pw:macs": 0.2, "pw:n": 0.01, "dws1:macs": 1.1, "dws2:macs": 1.6, "dws1:out": 3.0,
       "dws2:out": 3.0, "se:in": 2.0, "add:in": 4.0, "act_hswish:in": 5.0, "conv:macs": 0.3,
       "fc:macs": 0.25, "pool:in": 1.0}


def law_ms(b: Block) -> float:
    return sum(LAW.get(k, 0.0) * v for k, v in kernel_features(b).items())


def space_blocks(space: str = "mobilenet_v3", res: int = 160, width: float = 1.0) -> list[Block]:
    return enumerate_blocks(get_space(space), resolutions=[res], widths=[width])


@given(blocks_st)
@settings(max_examples=60, deadline=None)
def test_a_blocks_kernels_add_up_to_its_macs(b: Block) -> None:
    ops = block_ops(b)
    assert sum(op.macs for op in ops) == b.macs
    assert sum(op.kind == "add" for op in ops) == int(b.residual)
    assert sum(op.kind == "se" for op in ops) == int(b.se > 0)
    # relu is fused into the convolution before it; hswish is a pass of its own
    assert any(op.kind == "act" for op in ops) == (b.act == "hswish")


def test_fit_recovers_a_kernel_law_and_prices_unseen_blocks() -> None:
    train = space_blocks(res=160)
    model = fit_kernel_model(train, [law_ms(b) for b in train])
    assert set(model.held_out) == set(FAMILIES)
    chosen = model.held_out[model.family]
    assert chosen["wape_pct"] == min(h["wape_pct"] for h in model.held_out.values())
    assert chosen["mape_pct"] < 1.0
    # MBConvs of another resolution and width: none of them was fitted on (the stem and the
    # head are one key each at 160 px: their kernels cannot be told apart from one block)
    test = [b for b in space_blocks(res=192, width=1.2) if b not in set(train)
            and b.kind == "mbconv"]
    assert len(test) > 50
    pred = np.array([model.predict(b) for b in test])
    truth = np.array([law_ms(b) for b in test])
    assert np.max(np.abs(pred / truth - 1)) < 0.01


def test_noisy_keys_give_an_honest_held_out_error() -> None:
    rng = np.random.default_rng(0)
    train = space_blocks(res=160)
    noisy = [law_ms(b) * rng.lognormal(0, 0.2) for b in train]
    model = fit_kernel_model(train, noisy)
    # 20 % noise cannot be predicted: the held-out error must say so, not hide it
    assert model.held_out[model.family]["mape_pct"] > 10


def test_extra_blocks_set_the_shape_and_own_keys_the_device_scale() -> None:
    extra_blocks = space_blocks(res=160)
    extra = [(b, law_ms(b)) for b in extra_blocks]
    own = space_blocks(res=224)[:40]
    model = fit_kernel_model(own, [2.0 * law_ms(b) for b in own], extra=extra)
    unseen = space_blocks(res=192)[:50]
    ratio = np.array([model.predict(b) / law_ms(b) for b in unseen])
    assert np.allclose(ratio, 2.0, rtol=0.05)
    assert "extra_mape_pct" in model.held_out[model.family]


def test_model_round_trips_and_bad_fields_are_named() -> None:
    train = space_blocks(res=160)
    model = fit_kernel_model(train, [law_ms(b) for b in train])
    back = KernelModel.from_dict(json.loads(json.dumps(model.to_dict())), "here")
    b = space_blocks(res=224)[7]
    assert back.predict(b) == pytest.approx(model.predict(b))
    bad = {**model.to_dict(), "family": "gbm"}
    with pytest.raises(NasError, match="kernel_model: field 'family' is 'gbm', not one of"):
        table_from_dict({"format": "hwnas-latency-table", "schema_version": 1, "entries": {},
                         "kernel_model": bad}, table_id="t")
    neg = {**model.to_dict(), "coef": {"pw:macs": -1.0}}
    with pytest.raises(NasError, match="'coef' must map feature names to numbers >= 0"):
        KernelModel.from_dict(neg, "here")


def test_a_kernel_it_never_saw_or_far_too_large_is_refused_with_the_reason() -> None:
    train = [b for b in space_blocks("mobilenet_v2", res=160)]
    model = fit_kernel_model(train, [law_ms(b) for b in train])
    hswish = Block("conv", 3, 16, 160, 3, 2, "hswish")
    assert "group 'act_hswish', which the kernel model was not fitted on" in model.why_not(hswish)
    huge = Block("conv", 3, 32, 4096, 3, 2, "relu6")
    assert "larger than the kernel model can price for 'conv'" in model.why_not(huge)
    with pytest.raises(NasError, match="cannot price block"):
        model.predict(huge)


def test_too_few_keys_is_an_error() -> None:
    with pytest.raises(NasError, match="at least 8 measured blocks"):
        fit_kernel_model(space_blocks()[:3], [1.0, 2.0, 3.0])


def _table(blocks: list[Block]) -> LatencyTable:
    t = LatencyTable(device={"name": "synthetic", "kind": "cpu"})
    for b in blocks:
        t.add_entry(b, Entry(median=law_ms(b)))
    return t


def test_table_prices_missing_keys_measured_ones_stay_exact() -> None:
    table = _table(space_blocks(res=160))
    arch = Arch.parse(reference("mobilenet_v3_large_100").text.replace(":r224:", ":r160:"))
    pred = table.predict(arch, approximate=True)
    # expand ratios 2.5 and 2.3 are no choice of the space: those blocks are modelled
    assert pred.modelled and all(k not in table for k in pred.modelled)
    for k, ms in pred.blocks:
        if k in table:
            assert ms == table.entries[k].ms
        else:
            assert ms == pytest.approx(law_ms(Block.parse(k)), rel=0.02)
    with pytest.raises(NasError) as err:
        table.predict(arch)
    text = str(err.value)
    assert "no measured entry" in text and "space mobilenet_v3, width 1, resolution 160" in text
    assert "--approximate" in text and "nas lut build" in text


@given(st.integers(0, 10_000), st.sampled_from([0.5, 0.75, 1.0, 1.4]),
       st.sampled_from([96, 128, 160, 192, 224]))
@settings(max_examples=25, deadline=None)
def test_a_phone_table_prices_its_spaces_positive_and_monotone_in_resolution(
        seed: int, width: float, res: int) -> None:
    table = load_table("pixel1_cpu_tflite_nnmeter")  # its model is stored: no ../shared needed
    arch = replace(get_space("mobilenet_v3").sample(np.random.default_rng(seed)), width=width,
                   resolution=res)
    small = table.predict(arch, approximate=True).latency_ms
    big = table.predict(replace(arch, resolution=res + 32), approximate=True).latency_ms
    assert 0 < small < big


def test_every_shipped_table_prices_what_it_claims() -> None:
    rng = np.random.default_rng(1)
    for table in list_tables():
        cov = kernel_coverage(table)
        claimed = {s: c for s, c in cov.items() if "reason" not in c}
        for space in table.spaces:  # what it measured it also prices
            assert space in claimed, (table.id, space, cov[space])
        for space, c in claimed.items():
            sp = get_space(space)
            config = next((c for c in table.configs if c["space"] == space), {})
            kw = {"classes": config.get("classes", 1000),
                  "in_channels": config.get("in_channels", 3)}
            for width, res in ((1.0, c["resolution"]), (c["width"], c["width_at"])):
                arch = replace(sp.sample(rng), width=width, resolution=res)
                assert table.predict(arch, approximate=True, **kw).latency_ms > 0, \
                    (table.id, arch.text)


def test_mobilenet_v3_large_is_priced_by_every_table_of_its_space() -> None:
    arch = reference("mobilenet_v3_large_100").arch
    for table in list_tables():
        if "mobilenet_v3" in table.spaces:
            pred = table.predict(arch, approximate=True)
            assert pred.latency_ms > 0 and pred.modelled, table.id


def test_cli_predict_models_by_default_and_exact_refuses(capsys) -> None:
    assert main(["lut", "predict", "pixel1_cpu_tflite_nnmeter", "mobilenet_v3_large_100",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    n_blocks = len(arch_to_blocks(reference("mobilenet_v3_large_100").arch))
    assert out["measured_blocks"] + sum(k in out["modelled"] for k in
                                        (b["key"] for b in out["blocks"])) == n_blocks
    assert out["modelled"] and out["latency_ms"] > 0
    assert main(["lut", "predict", "pixel1_cpu_tflite_nnmeter", "mobilenet_v3_large_100"]) == 0
    assert "modelled by the kernel model" in capsys.readouterr().out
    assert main(["lut", "predict", "pixel1_cpu_tflite_nnmeter", "mobilenet_v3_large_100",
                 "--exact"]) != 0
    err = capsys.readouterr().err
    assert "no measured entry" in err and "measure the block on the device" in err


def test_cli_list_states_measured_and_modelled(capsys) -> None:
    assert main(["lut", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    nn = rows["pixel1_cpu_tflite_nnmeter"]
    assert nn["entries"] == 10 and nn["kernel_model"]["stored"]
    assert nn["kernel_model"]["held_out_n"] > 1000
    assert nn["priced"]["mobilenet_v3"]["resolution"] >= 224
    assert "reason" in nn["priced"]["efficientnet"]  # swish: no such kernel measured


@needs_shared
def test_stored_phone_models_are_what_the_published_blocks_give() -> None:
    from nas.latency import find_table, read_table
    from nas.lutkit import fit_table_kernels, nnmeter_blocks

    path = SHARED / "nnmeter_mobile_cpu" / "pixel1_lut_ln_v3.json"
    blocks = nnmeter_blocks(path)
    assert len(blocks) == 1800 and all(ms > 0 for _, ms in blocks)
    fresh = read_table(find_table("pixel1_cpu_tflite_nnmeter"))
    stored = fresh.kernel_model
    refit = fit_table_kernels(fresh, [path])
    assert stored is not None and refit.coef == pytest.approx(stored.coef)


@needs_shared
def test_a_tflite_profile_gives_the_arch_kernels_with_their_times() -> None:
    from nas.lutkit._kernels import tflite_profile_ops

    path = SHARED / "proxylessnas_pixel1" / "proxyless_mobile_tflite_per_op_profile.txt"
    rows = tflite_profile_ops(path, reference("proxylessnas_mobile").arch)
    assert len(rows) == 76 and sum(ms for _, ms in rows) == pytest.approx(80.6, abs=0.1)
    with pytest.raises(NasError, match="arithmetic nodes but arch"):
        tflite_profile_ops(path, reference("mobilenet_v2_100").arch)
