"""An accuracy predictor over architectures: a fixed-length encoding and a scikit-learn regressor
chosen by cross-validated Kendall tau.

The encoding has one group of numbers per layer slot of the space (present, kernel, expand ratio,
squeeze-excite; zeros for a slot the arch does not use or skips), each stage's channels, the
width multiplier and the resolution, so two archs of one space always encode to the same length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nas._errors import NasError
from nas.arch import Arch
from nas.space import SearchSpace

MODELS = ("ridge", "forest", "boosting")


def encode(arch: Arch, space: SearchSpace) -> np.ndarray:
    """The arch as a vector of the space's fixed length."""
    out: list[float] = [float(arch.resolution), float(arch.width)]
    for spec, stage in zip(space.stages, arch.stages, strict=True):
        out.append(float(stage.channels))
        for j in range(max(spec.depth)):  # a compound-scaled stage's extra layers are not encoded
            layer = stage.layers[j] if j < len(stage.layers) else None
            if layer is None or layer.skip:
                out += [0.0, 0.0, 0.0, 0.0]
            else:
                out += [1.0, float(layer.kernel), float(layer.expand), float(layer.se)]
    return np.asarray(out)


def _make(name: str, seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    if name == "forest":
        return RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=seed, n_jobs=1)
    return GradientBoostingRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                                     random_state=seed)


def tau(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau  # here: scipy.stats costs a search's start-up 1.4 s

    value = kendalltau(a, b).statistic
    return float(value) if np.isfinite(value) else 0.0


def cross_validated_tau(name: str, x: np.ndarray, y: np.ndarray, seed: int, folds: int = 5) -> float:
    """Mean Kendall tau of model ``name`` over ``folds`` shuffled folds."""
    from sklearn.model_selection import KFold

    scores = []
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
        model = _make(name, seed).fit(x[train], y[train])
        scores.append(tau(model.predict(x[test]), y[test]))
    return float(np.mean(scores))


@dataclass
class Fit:
    """A fitted predictor: the model name, its held-out Kendall tau, and the regressor (refitted
    on every scored subnet)."""

    name: str
    holdout_tau: float
    n: int
    model: Any

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(np.atleast_2d(x)), dtype=float)


def fit_predictor(x: np.ndarray, y: np.ndarray, *, model: str = "auto", holdout: float = 0.2,
                  seed: int = 0) -> Fit:
    """Choose (``auto``: by cross-validated tau on the training part) and fit a predictor.

    A ``holdout`` share of the subnets, drawn with ``seed``, is kept out of the choice and the
    fit to report the held-out Kendall tau; the returned model is then refitted on all of them.
    """
    n = len(y)
    if n < 10:
        raise NasError(f"predictor: {n} scored subnets; at least 10 are needed to fit one")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_out = max(2, round(n * holdout))
    out, keep = order[:n_out], order[n_out:]
    if model == "auto":
        folds = min(5, len(keep))
        model = max(MODELS, key=lambda m: cross_validated_tau(m, x[keep], y[keep], seed, folds))
    held = _make(model, seed).fit(x[keep], y[keep])
    held_tau = tau(held.predict(x[out]), y[out])
    return Fit(model, held_tau, n, _make(model, seed).fit(x, y))
