"""Key scales: per-key in-network factors fitted with the calibration (no timing here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _recorded import unpack_table
from test_latency_table import make_table, sample_archs

from nas._errors import NasError
from nas.arch import Arch
from nas.latency import Calibration, LatencyTable, fit_calibration, read_table
from nas.latency._calibration import MIN_KEY_CV_GAIN
from nas.latency._networks import NetItem, feature_matrix, key_matrix, refit_calibration

# The onnxruntime mobilenet_v2 table as built on host 3 for set F (recorded; shipped as that
# host's variant until set I), in tests/data/latency/.
HOST3_ORT_V2 = "host3_setf_cpu_onnxruntime_mobilenet_v2"


def _planted(n: int, effect: float, seed: int = 0) -> tuple[
        LatencyTable, list[NetItem], np.ndarray, np.ndarray, tuple[np.ndarray, list[str]], list[str]]:
    """A fake-timed table, ``n`` networks, and latencies that are the plain sum plus a constant,
    with the blocks of five common keys costing ``1 + effect`` times their isolated ms."""
    table = make_table((224,))
    items = [NetItem(a, 1000, 3) for a in sample_archs(n, seed=seed)]
    keys, names = key_matrix(table, items)
    x = feature_matrix(table, items)
    mbconv = [j for j, k in enumerate(names) if k.startswith("mbconv")]
    common = sorted(mbconv, key=lambda j: -np.count_nonzero(keys[:, j]))[5:10]
    rng = np.random.default_rng(seed)
    y = (x[:, :4].sum(axis=1) + 0.2 + effect * keys[:, common].sum(axis=1)) * rng.normal(
        1.0, 0.002, n)
    return table, items, x, y, (keys, names), [names[j] for j in common]


def test_planted_key_effects_are_found_and_predicted() -> None:
    table, items, x, y, keys, planted = _planted(160, 0.5)
    train = slice(0, 120)
    cal = fit_calibration(x[train], y[train], [224] * 120, [], {},
                          keys=(keys[0][train], keys[1]))
    choice = cal.meta["key_scales"]["224"]
    assert choice["ridge"] is not None
    assert choice["cv_tau"][str(choice["ridge"])] >= choice["cv_tau"]["off"] + MIN_KEY_CV_GAIN
    scales = cal.scales_for(224)
    top = sorted(scales, key=lambda k: -scales[k])[:5]
    assert set(top) == set(planted)  # the five planted keys get the largest scales
    assert cal.scales_for(160) == {}  # no scales where the calibration has no networks

    plain = fit_calibration(x[train], y[train], [224] * 120, [], {})
    held = [it.arch for it in items[120:]]
    table.set_calibration(plain)
    err_plain = np.abs(table.predict_many(held) / y[120:] - 1).mean()
    table.set_calibration(cal)
    many = table.predict_many(held)
    err_keys = np.abs(many / y[120:] - 1).mean()
    assert err_keys < 0.5 * err_plain  # held-out networks: the scales generalize

    # predict, predict_many and predict_blocks agree; the breakdown adds up.
    pred = table.predict(held[0])
    assert pred.latency_ms == pytest.approx(many[0], rel=1e-12)
    assert sum(ms for _, ms in pred.blocks) + pred.overhead_ms == pytest.approx(pred.latency_ms)
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())), "cal")
    assert back.key_scales == cal.key_scales
    table.set_calibration(back)
    np.testing.assert_array_equal(table.predict_many(held), many)


def test_without_a_key_effect_key_scales_stay_off() -> None:
    _, _, x, y, keys, _ = _planted(120, 0.0, seed=1)
    cal = fit_calibration(x, y, [224] * 120, [], {}, keys=keys)
    assert cal.meta["key_scales"]["224"]["ridge"] is None
    assert cal.key_scales == {} and "key_scales" not in cal.to_dict()


def test_too_few_networks_fit_no_key_scales() -> None:
    _, _, x, y, keys, _ = _planted(20, 0.5, seed=2)
    cal = fit_calibration(x, y, [224] * 20, [], {}, keys=keys)
    assert cal.key_scales == {} and cal.meta["key_scales"] == {}


def test_host3_calibration_refits_with_key_scales_at_32px(tmp_path: Path) -> None:
    """The onnxruntime mobilenet_v2 table built on host 3: a refit on its own 80 calibration
    networks per resolution (no measuring) turns key scales on at 32 px; with them off the
    refit reproduces the file exactly."""
    table = read_table(unpack_table(HOST3_ORT_V2, tmp_path / "recorded"))
    shipped = table.content_hash
    refit_calibration(table, key_scales=False)
    assert table.content_hash == shipped
    cal = refit_calibration(table)
    choice = cal.meta["key_scales"]["32"]
    assert choice["ridge"] is not None
    assert choice["cv_tau"][str(choice["ridge"])] >= choice["cv_tau"]["off"] + MIN_KEY_CV_GAIN
    assert len(cal.scales_for(32)) > 100 and table.content_hash != shipped
    back = read_table(table.write(tmp_path / "refit.json"))
    nets = [(Arch.parse(s["arch"]), s["classes"], s["in_channels"]) for s in cal.samples]
    got = [back.predict(a, classes=c, in_channels=i).latency_ms for a, c, i in nets]
    want = [table.predict(a, classes=c, in_channels=i).latency_ms for a, c, i in nets]
    assert got == want


@pytest.mark.parametrize("bad", [[1, 2], {"32": [0.1]}, {"32": {"mbconv(x)": "a"}},
                                 {"32": {"k": float("nan")}}])
def test_malformed_key_scales_name_the_field(bad: object) -> None:
    _, _, x, y, _, _ = _planted(10, 0.0)
    data = fit_calibration(x, y, [224] * 10, [], {}).to_dict()
    data["key_scales"] = bad
    with pytest.raises(NasError, match="key_scales"):
        Calibration.from_dict(json.loads(json.dumps(data, allow_nan=True)), "t.json: calibration")
