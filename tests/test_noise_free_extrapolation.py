"""experiments/bench_latency_accuracy.py --noise-free: scores extrapolated to a noise-free measurement."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest


def test_identical_runs_extrapolate_to_their_own_score(latency_accuracy_bench: ModuleType) -> None:
    rng = np.random.default_rng(0)
    meas = np.exp(rng.normal(0.0, 0.3, 40))
    pred = meas * np.exp(rng.normal(0.0, 0.08, 40))
    logs = np.tile(np.log(meas), (6, 1))
    out = latency_accuracy_bench.extrapolate(pred, logs, seed=0, subsets=10)
    for score in latency_accuracy_bench.SCORES:
        first = out["curve"][0][score]
        assert all(c[score] == pytest.approx(first) for c in out["curve"])
        for model in latency_accuracy_bench.MODELS:
            assert out[score][model]["inf"] == pytest.approx(first)
            assert out[score][model]["slope"] == pytest.approx(0.0, abs=1e-9)


def test_noisy_runs_extrapolate_towards_the_truth(latency_accuracy_bench: ModuleType) -> None:
    rng = np.random.default_rng(1)
    truth = np.exp(rng.normal(0.0, 0.3, 50))
    logs = np.log(truth) + rng.normal(0.0, 0.2, (12, 50))  # 12 runs of a noisy device
    out = latency_accuracy_bench.extrapolate(truth, logs, seed=0, subsets=20)  # a perfect predictor
    taus = [c["kendall_tau"] for c in out["curve"]]
    assert taus[0] < taus[-1] < 1.0  # combining runs averages the noise out
    for model in latency_accuracy_bench.MODELS:
        inf = out["kendall_tau"][model]["inf"]
        assert abs(inf - 1.0) < abs(taus[-1] - 1.0)
    se = latency_accuracy_bench.jackknife(truth, logs, seed=0, subsets=5)
    assert set(se) == {f"{s} {m}" for s in latency_accuracy_bench.SCORES for m in latency_accuracy_bench.MODELS}
    assert all(np.isfinite(v) and v > 0 for k, v in se.items() if k.startswith("kendall_tau"))
