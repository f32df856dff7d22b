"""Latency table format, loading, errors, prediction and calibration fitting (no timing here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nas._errors import NasError
from nas.blocks import arch_to_blocks
from nas.latency import (
    FEATURES,
    SHIPPED_TABLES,
    Calibration,
    Entry,
    LatencyTable,
    fit_calibration,
    list_tables,
    load_table,
    read_table,
)
from nas.latency._calibration import (
    LEGACY_FEATURES,
    NEUTRAL,
    cross_validate,
    fit_coefficients,
    key_features,
    network_features,
)
from nas.latency._enumerate import enumerate_blocks, restrict_space
from nas.space import get_space

SPACE = "mobilenet_v3"


def _fake_ms(block_key: str, macs: int) -> float:
    # Any positive, key-dependent numbers will do: these tests check bookkeeping, not timing.
    return 0.01 + macs * 2e-6 + (hash(block_key) % 7) * 1e-3


def make_table(resolutions: tuple[int, ...] = (224,), **cfg: int) -> LatencyTable:
    space = get_space(SPACE)
    table = LatencyTable(device={"name": "test cpu", "kind": "cpu", "runtime": "torch"},
                         measurement={"backend": "torch", "device_type": "cpu"})
    for b in enumerate_blocks(space, resolutions=list(resolutions), **cfg):
        ms = _fake_ms(b.key, b.macs)
        table.add_entry(b, Entry.from_samples([ms, ms * 1.02, ms * 0.99]))
    for r in resolutions:
        table.add_config(SPACE, r, in_channels=cfg.get("in_channels", 3),
                         classes=cfg.get("classes", 1000), widths=space.widths)
    return table


def sample_archs(n: int, resolution: int = 224, seed: int = 0) -> list:
    space = restrict_space(get_space(SPACE), [resolution])
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


@pytest.fixture(scope="module")
def table() -> LatencyTable:
    return make_table()


def test_round_trip_keeps_entries_and_hash(table: LatencyTable, tmp_path: Path) -> None:
    table.source, table.citation = "measured here", "Doe et al., 2030"
    path = table.write(tmp_path / "my_table.json")
    loaded = read_table(path)
    assert loaded.id == "my_table"
    assert loaded.entries == table.entries
    assert loaded.content_hash == table.content_hash
    assert (loaded.source, loaded.citation) == ("measured here", "Doe et al., 2030")
    assert read_table(loaded.write(tmp_path / "again.json")).content_hash == table.content_hash
    # Text, not pickle: the file is plain JSON with a schema version.
    assert json.loads(path.read_text())["schema_version"] == loaded.schema_version


def test_content_hash_changes_with_any_number(table: LatencyTable) -> None:
    before = table.content_hash
    key = next(iter(table.entries))
    other = LatencyTable(table.entries, device=table.device, measurement=table.measurement,
                         spaces=table.spaces, resolutions=table.resolutions, configs=table.configs)
    other.source, other.citation = table.source, table.citation
    assert other.content_hash == before
    other.add_entry(key, Entry(median=table.entries[key].ms * 1.5))
    assert other.content_hash != before


def test_corrupt_and_unknown_schema_name_the_table(table: LatencyTable, tmp_path: Path) -> None:
    bad = tmp_path / "broken_table.json"
    bad.write_text('{"format": "hwnas-latency-table", "schema_version": 1, "entr')
    with pytest.raises(NasError, match=r"broken_table.*corrupt"):
        read_table(bad)
    data = table.to_dict()
    data["schema_version"] = 99
    future = tmp_path / "future_table.json"
    future.write_text(json.dumps(data))
    with pytest.raises(NasError, match=r"future_table.*schema_version 99"):
        read_table(future)
    data["schema_version"] = 1
    data["entries"] = {"mbconv(cin=8)": {"median": 1.0}}
    (tmp_path / "badkey.json").write_text(json.dumps(data))
    with pytest.raises(NasError, match=r"badkey.*mbconv\(cin=8\)"):
        read_table(tmp_path / "badkey.json")
    data["entries"] = {"pool(cin=8,cout=8,hw=7)": {"median": -1.0}}
    (tmp_path / "negative.json").write_text(json.dumps(data))
    with pytest.raises(NasError, match=r"negative.*median"):
        read_table(tmp_path / "negative.json")


def test_missing_key_names_table_and_key(table: LatencyTable, tmp_path: Path) -> None:
    arch = sample_archs(1)[0]
    blocks = arch_to_blocks(arch)
    victim = blocks[3].key
    entries = {k: e for k, e in table.entries.items() if k != victim}
    small = LatencyTable(entries, device=table.device)
    small.write(tmp_path / "holey.json")
    with pytest.raises(NasError) as err:
        small.predict(arch)
    assert "holey" in str(err.value) and victim in str(err.value)
    assert [b.key for b in small.missing(blocks)] == [victim]


def test_approximate_reports_what_it_modelled(table: LatencyTable) -> None:
    arch = sample_archs(1, seed=3)[0]
    blocks = arch_to_blocks(arch)
    victim = next(b for b in blocks if b.kind == "mbconv").key
    small = LatencyTable({k: e for k, e in table.entries.items() if k != victim},
                         device=table.device)
    exact = table.predict(arch)
    approx = small.predict(arch, approximate=True)
    assert approx.modelled == [victim]
    assert exact.modelled == []
    assert approx.latency_ms > 0
    # measured keys stay exact: every other block is the table's own number
    assert [ms for k, ms in approx.blocks if k != victim] == \
        [ms for k, ms in exact.blocks if k != victim]
    # Asking again without approximate still refuses: a model's answer never becomes an entry.
    with pytest.raises(NasError, match="no measured entry"):
        small.predict(arch)
    assert victim not in small.entries


def test_predict_sums_blocks_and_breakdown_adds_up(table: LatencyTable) -> None:
    arch = sample_archs(1, seed=5)[0]
    pred = table.predict(arch)
    blocks = arch_to_blocks(arch)
    assert [k for k, _ in pred.blocks] == [b.key for b in blocks]
    naive = sum(table.entries[b.key].ms for b in blocks)
    assert pred.raw_sum_ms == pytest.approx(naive)
    assert pred.latency_ms == pytest.approx(naive)  # no calibration: the plain sum
    assert sum(ms for _, ms in pred.blocks) + pred.overhead_ms == pytest.approx(pred.latency_ms)
    assert table.predict_blocks(blocks) == pytest.approx(pred.latency_ms)


def test_predict_many_equals_loop_with_calibration(table: LatencyTable) -> None:
    both = make_table((32, 224), classes=10, in_channels=1)
    archs = sample_archs(40, 224, seed=1) + sample_archs(40, 32, seed=2)
    x = np.array([both.features(a, classes=10, in_channels=1) for a in archs])
    rng = np.random.default_rng(0)
    y = x @ rng.uniform(0.5, 1.5, len(FEATURES)).clip(0) + 0.3
    both.set_calibration(fit_calibration(x, y, [a.resolution for a in archs], [], {}))
    loop = np.array([both.predict(a, classes=10, in_channels=1).latency_ms for a in archs])
    many = both.predict_many(archs, classes=10, in_channels=1)
    np.testing.assert_allclose(many, loop, rtol=1e-12)
    assert not np.allclose(many, both.naive_many(archs, classes=10, in_channels=1))


def test_calibration_recovers_a_known_linear_gap(table: LatencyTable) -> None:
    archs = sample_archs(60, seed=11)
    x = np.array([table.features(a) for a in archs])
    truth = np.zeros(len(FEATURES))
    truth[FEATURES.index("ms:mbconv")] = 1.1
    truth[FEATURES.index("ms:conv")] = 1.0
    truth[FEATURES.index("ms:fc")] = 1.6
    truth[FEATURES.index("n:kernels")] = 0.004
    truth[FEATURES.index("const")] = 0.2
    y = x @ truth
    cal = fit_calibration(x[:40], y[:40], [224] * 40, [], {})
    held = x[40:] @ cal.coef_for(224)
    np.testing.assert_allclose(held, y[40:], rtol=0.02)
    naive = x[40:, :4].sum(axis=1)
    assert np.max(np.abs(naive / y[40:] - 1)) > 0.05  # the gap was real
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())), "cal")
    np.testing.assert_array_equal(back.coef_for(224), cal.coef_for(224))
    np.testing.assert_array_equal(back.coef_for(160), cal.coef_for(160))  # "all" fallback


def test_fit_with_extra_features_finds_their_scale(table: LatencyTable) -> None:
    """An experiment's extra column (here: the mbconv ms again, half of it counted twice) gets
    its coefficient; the standard columns keep theirs."""
    archs = sample_archs(60, seed=12)
    x = np.array([table.features(a) for a in archs])
    extra = x[:, [FEATURES.index("ms:mbconv")]] * np.linspace(0.2, 1.0, len(archs))[:, None]
    y = x[:, :4].sum(axis=1) + 0.3 * extra[:, 0]
    coef = fit_coefficients(np.hstack([x, extra]), y,
                            neutral=np.concatenate([NEUTRAL, [0.0]]))
    assert coef.shape == (len(FEATURES) + 1,) and coef[-1] == pytest.approx(0.3, abs=0.03)
    with pytest.raises(NasError, match=rf"\(n, {len(FEATURES) + 1}\) matrix"):
        fit_coefficients(x, y, neutral=np.concatenate([NEUTRAL, [0.0]]))


def test_cross_validate_predicts_each_network_from_the_other_folds(table: LatencyTable) -> None:
    archs = sample_archs(40, seed=13)
    x = np.array([table.features(a) for a in archs])
    y = x[:, :4].sum(axis=1) * 1.2 + 0.1
    np.testing.assert_allclose(cross_validate(x, y, np.random.default_rng(0)), y, rtol=0.02)
    # A network measured 3x slower is predicted from the others, so its prediction stays low.
    odd = y.copy()
    odd[7] *= 3
    pred = cross_validate(x, odd, np.random.default_rng(0))
    in_sample = x @ fit_coefficients(x, odd)
    assert pred[7] == pytest.approx(y[7], rel=0.1) and pred[7] < odd[7] / 2
    assert abs(pred[7] / y[7] - 1) < abs(in_sample[7] / y[7] - 1)  # it did not see itself


@pytest.mark.slow
def test_key_features_count_real_operator_calls() -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from nas.models import make_block

    kinds_seen = set()
    for b in enumerate_blocks(get_space("efficientnet"), resolutions=[32], widths=[1.0])[::60]:
        module, x = make_block(b).eval(), torch.randn(1, *b.in_shape)
        with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
            module(x)
        top_level = [e for e in prof.events() if e.cpu_parent is None]
        row = network_features(key_features(b, 1.0)[None, :])
        assert row[FEATURES.index("n:kernels")] == len(top_level), b.key
        kinds_seen.add(b.kind)
    assert {"mbconv", "conv"} <= kinds_seen


def test_load_by_id_from_table_path_and_list(table: LatencyTable, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    table.write(tmp_path / "zz_test_table.json")
    (tmp_path / "zz_corrupt.json").write_text("{")
    monkeypatch.setenv("HWNAS_TABLE_PATH", str(tmp_path))
    loaded = load_table("zz_test_table")
    assert loaded.content_hash == table.content_hash
    assert load_table(str(tmp_path / "zz_test_table.json")) is loaded
    with pytest.raises(NasError, match="unknown latency table 'nope'"):
        load_table("nope")
    with pytest.raises(NasError, match="zz_corrupt"):
        list_tables()


def test_calibration_fits_a_squared_weights_term(table: LatencyTable) -> None:
    """Latency that grows with the square of a network's weight bytes (cache misses as the
    weights fill the cache) is fitted; the term is network-level, so it sits in the overhead of
    the per-block breakdown, and predict, predict_many and features agree."""
    archs = sample_archs(60, seed=13)
    x = np.array([table.features(a) for a in archs])
    mb = x[:, FEATURES.index("mb:weights")]
    np.testing.assert_allclose(x[:, FEATURES.index("mb2:weights")], mb**2)
    naive = x[:, :4].sum(axis=1)
    q = 0.5 * naive.mean() / (mb**2).mean()  # the term is a third of the latency on average
    y = naive + q * mb**2 + 0.1
    linear = fit_coefficients(np.delete(x, FEATURES.index("mb2:weights"), axis=1), y,
                              neutral=np.delete(NEUTRAL, FEATURES.index("mb2:weights")))
    miss = y - np.delete(x, FEATURES.index("mb2:weights"), axis=1) @ linear
    cal = fit_calibration(x[:40], y[:40], [224] * 40, [], {})
    np.testing.assert_allclose(x[40:] @ cal.coef_for(224), y[40:], rtol=0.01)
    assert np.max(np.abs(miss / y)) > 0.01  # without the term the fit misses
    table.set_calibration(cal)
    pred = table.predict(archs[45])
    assert pred.overhead_ms == pytest.approx(
        cal.coef_for(224)[-1] + cal.coef_for(224)[FEATURES.index("mb2:weights")] * mb[45] ** 2)
    assert pred.latency_ms == pytest.approx(sum(ms for _, ms in pred.blocks) + pred.overhead_ms)
    assert pred.latency_ms == pytest.approx(float(x[45] @ cal.coef_for(224)), rel=1e-12)
    np.testing.assert_allclose(table.predict_many(archs), x @ cal.coef_for(224), rtol=1e-12)


def test_a_calibration_from_before_the_squared_weights_term_reads_and_writes_unchanged() -> None:
    x = np.random.default_rng(0).uniform(0.1, 2.0, (30, len(FEATURES)))
    cal = fit_calibration(x, x.sum(axis=1), [32] * 30, [], {})
    old = cal.to_dict()
    drop = FEATURES.index("mb2:weights")
    old["features"] = [f for f in FEATURES if f != "mb2:weights"]
    old["groups"] = {g: c[:drop] + c[drop + 1:] for g, c in old["groups"].items()}
    back = Calibration.from_dict(json.loads(json.dumps(old)), "old")
    assert back.stored_features == LEGACY_FEATURES and back.coef_for(32)[drop] == 0.0
    expect = np.array(cal.coef_for(32))
    expect[drop] = 0.0
    np.testing.assert_array_equal(back.coef_for(32), expect)
    assert back.to_dict() == old  # written back as it was: the table's hash does not change
    old["features"] = old["features"][:-1]
    with pytest.raises(NasError, match="field 'features'"):
        Calibration.from_dict(old, "old")


_CPU_TABLES = ("cpu_torch_mobilenet_v3", "cpu_onnxruntime_mobilenet_v3", "cpu_torch_mobilenet_v2",
               "cpu_onnxruntime_mobilenet_v2")


@pytest.mark.parametrize("path", [
    *(SHIPPED_TABLES / f"{t}.json" for t in _CPU_TABLES),
    *sorted((SHIPPED_TABLES / "hosts").glob("*/*.json"))],
    ids=lambda p: str(p.relative_to(SHIPPED_TABLES)))
def test_shipped_tables_read_and_write_unchanged(path: Path, tmp_path: Path) -> None:
    shipped = load_table(path)
    raw = json.loads(Path(shipped.path).read_text())  # type: ignore[arg-type]
    assert shipped.to_dict() == raw
