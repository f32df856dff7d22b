"""Calibration: the gap between a sum of isolated block timings and a whole network, modelled.

A network's latency is predicted as a linear function of per-network features::

    latency = sum_k a_k * (ms of blocks of kind k) + sum_k b_k * (count of kind k)
              + o * (operator calls) + w * (MB of weights) + q * (MB of weights)^2
              + v * (MB of block inputs) + c

``a_k >= 0`` scales each block kind's isolated timing (cache state between blocks, fused or
unfused work), ``b_k`` is a per-block constant of kind ``k`` (framework dispatch, per-call
overhead counted in every isolated timing but paid once per network, or kernel-launch cost on a
GPU), ``o`` a per-operator one (a kernel launch at GPU batch 1), ``w`` the cost of re-reading
weights that a block timed alone found in cache, ``q`` the extra cost per byte as the
network's weights fill the last-level cache (a network-level term: where latency is mostly
weight traffic, as for onnxruntime at 32 px, a larger network misses the cache more often; on a
Zen 4 host its 32 px networks ran 0.87x their naive sum at 10-14 MB of weights and 1.47x at
23-30 MB, which no linear term fits), ``v`` that of activations, and ``c`` a per-network
constant. The coefficients are fitted on whole networks measured end-to-end,
weighted by ``1 / measured`` so that relative error is what is minimized, with a small ridge
pull towards the naive model (``a = 1``, the rest 0) so that features a calibration set cannot
tell apart (e.g. a head that every network shares) stay neutral.

One coefficient vector is fitted per input resolution (``"224"``), plus ``"all"`` as the fallback
for resolutions the calibration did not see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear

from nas._errors import NasError
from nas.blocks import KINDS, Block

FEATURES: tuple[str, ...] = (*(f"ms:{k}" for k in KINDS), *(f"n:{k}" for k in KINDS),
                              "n:kernels", "mb:weights", "mb:input", "mb2:weights", "const")
# Calibrations stored before ``mb2:weights`` existed: read with its coefficient at 0, which
# predicts exactly as they did, and written back as they were (their content hash unchanged).
LEGACY_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != "mb2:weights")
_N_KINDS = len(KINDS)
_WEIGHTS = FEATURES.index("mb:weights")
_WEIGHTS_SQ = FEATURES.index("mb2:weights")
NEUTRAL = np.array([1.0] * _N_KINDS + [0.0] * (len(FEATURES) - _N_KINDS))
RIDGE = 1e-3
_BYTES = {"float32": 4, "float16": 2}


def eager_kernels(block: Block) -> int:
    """Operator calls one forward of ``block`` makes in eager PyTorch (kernel launches on a GPU).

    Conv, batch norm and activation are separate calls; squeeze-excite is pool, conv, act, conv,
    gate, multiply; a grouped expansion adds a channel shuffle; a residual adds an add.
    """
    act = int(block.act != "none")
    if block.kind == "conv":
        return 2 + act
    if block.kind == "pool":
        return 1
    if block.kind == "fc":
        return 1 + act
    n = (2 + act + int(block.groups > 1)) if block.expand_conv else 0
    n += 2 + act + 2  # depthwise conv-BN-act, project conv-BN
    n += 6 if block.se else 0
    return n + int(block.residual)


def key_features(block: Block, ms: float, *, batch: int = 1, dtype: str = "float32") -> np.ndarray:
    """The feature row one block contributes.

    Its isolated ms under its kind, a count of one under its kind, its operator (kernel) count,
    and the megabytes of its weights and of its input: a block timed alone runs with its weights
    cached; inside a network the blocks before it evicted them, at a cost that grows with bytes.
    """
    row = np.zeros(len(FEATURES))
    i = KINDS.index(block.kind)
    row[i] = ms
    row[_N_KINDS + i] = 1.0
    size = _BYTES.get(dtype, 4)
    row[2 * _N_KINDS] = eager_kernels(block)
    row[2 * _N_KINDS + 1] = block.params * size / 1e6
    row[2 * _N_KINDS + 2] = math.prod(block.in_shape) * batch * size / 1e6
    return row


def network_features(rows: np.ndarray) -> np.ndarray:
    """Features of a network from its blocks' rows ``(blocks, features)``: their sum, with the
    network-level columns set (:func:`complete_features`)."""
    return complete_features(rows.sum(axis=0)[None, :])[0]


def complete_features(sums: np.ndarray) -> np.ndarray:
    """Set the network-level columns of per-network block sums ``(networks, features)``: the
    squared weight megabytes and the constant. Returns ``sums`` (changed in place)."""
    sums[:, _WEIGHTS_SQ] = sums[:, _WEIGHTS] ** 2
    sums[:, -1] = 1.0
    return sums


def network_level(coef: np.ndarray, weights_mb: float) -> float:
    """The part of a prediction that belongs to no block: the constant and the squared-weights
    term (``weights_mb``: the network's weight megabytes)."""
    return float(coef[-1] + coef[_WEIGHTS_SQ] * weights_mb**2)


@dataclass(frozen=True)
class Calibration:
    """Fitted coefficients per resolution group, and the measured networks they came from."""

    groups: Mapping[str, np.ndarray]
    samples: tuple[dict[str, Any], ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    # The features the stored coefficients name (``groups`` always holds all of FEATURES, in
    # order): LEGACY_FEATURES for a calibration read from before ``mb2:weights``.
    stored_features: tuple[str, ...] = FEATURES

    def coef_for(self, resolution: int) -> np.ndarray:
        """Coefficients for ``resolution``: its own group, else ``"all"``."""
        coef = self.groups.get(str(resolution))
        if coef is None:
            coef = self.groups.get("all")
        if coef is None:
            return NEUTRAL
        return coef

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "relative-weighted bounded least squares on per-kind sums and counts, "
                      "weight and input megabytes",
            "features": list(self.stored_features),
            "groups": {g: [float(c[FEATURES.index(f)]) for f in self.stored_features]
                       for g, c in sorted(self.groups.items())},
            "meta": dict(self.meta),
            "samples": list(self.samples),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Calibration:
        if not isinstance(data, Mapping):
            raise NasError(f"{where}: expected an object")
        feats = data.get("features")
        known = [k for k in (FEATURES, LEGACY_FEATURES) if list(feats or ()) == list(k)]
        if not known:
            raise NasError(f"{where}: field 'features' is {feats!r}; "
                           f"this version knows {list(FEATURES)} (or, from before "
                           f"'mb2:weights', the same without it)")
        stored = known[0]
        columns = [FEATURES.index(f) for f in stored]
        groups_raw = data.get("groups")
        if not isinstance(groups_raw, Mapping) or not groups_raw:
            raise NasError(f"{where}: field 'groups' must map a resolution (or 'all') "
                           "to coefficients")
        groups: dict[str, np.ndarray] = {}
        for name, coef in groups_raw.items():
            arr = np.asarray(coef, dtype=float) if isinstance(coef, list) else None
            if arr is None or arr.shape != (len(stored),) or not np.all(np.isfinite(arr)):
                raise NasError(f"{where}: groups.{name} must be {len(stored)} finite numbers")
            full = np.zeros(len(FEATURES))  # a feature the calibration lacks does nothing
            full[columns] = arr
            groups[str(name)] = full
        samples = data.get("samples", [])
        if not isinstance(samples, list) or not all(isinstance(s, Mapping) for s in samples):
            raise NasError(f"{where}: field 'samples' must be a list of objects")
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise NasError(f"{where}: field 'meta' must be an object")
        return cls(groups, tuple(dict(s) for s in samples), dict(meta), stored)


def fit_coefficients(x: np.ndarray, y: np.ndarray, *, ridge: float = RIDGE,
                     neutral: np.ndarray = NEUTRAL) -> np.ndarray:
    """Fit one coefficient vector: minimize relative squared error, ``a_k >= 0``.

    Args:
        x: ``(networks, len(neutral))`` feature matrix (:data:`FEATURES` by default).
        y: measured latencies (ms), positive.
        ridge: pull towards ``neutral`` (identifies features the data cannot).
        neutral: the coefficients that change nothing; longer than :data:`NEUTRAL` for
            experiments with extra features after the standard ones (unbounded, like them).
    """
    n = len(neutral)
    if x.ndim != 2 or x.shape[1] != n or len(x) != len(y) or len(y) == 0:
        raise NasError(f"calibration needs a (n, {n}) matrix and n latencies")
    if np.any(y <= 0):
        raise NasError("calibration latencies must be positive")
    a = x / y[:, None]
    b = np.ones(len(y))
    # Scale the ridge by each column's typical size so it is equally weak for ms and counts.
    scale = np.sqrt(np.mean(a**2, axis=0)) + 1e-12
    reg = np.sqrt(ridge * len(y)) * np.diag(scale)
    a_aug = np.vstack([a, reg])
    b_aug = np.concatenate([b, reg @ neutral])
    lower = np.array([0.0] * _N_KINDS + [-np.inf] * (n - _N_KINDS))
    res = lsq_linear(a_aug, b_aug, bounds=(lower, np.full(n, np.inf)), method="bvls")
    return np.asarray(res.x, dtype=float)


def cross_validate(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, folds: int = 5,
                   neutral: np.ndarray = NEUTRAL) -> np.ndarray:
    """Out-of-fold predictions of :func:`fit_coefficients`: each network predicted by the fit on
    the other folds (``rng`` assigns the folds). How well a calibration generalizes, judged on
    whole networks it was not fitted on."""
    fold = rng.permutation(len(y)) % folds
    pred = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        pred[test] = x[test] @ fit_coefficients(x[~test], y[~test], neutral=neutral)
    return pred


def fit_calibration(
    x: np.ndarray,
    y: np.ndarray,
    resolutions: Sequence[int],
    samples: Sequence[dict[str, Any]],
    meta: Mapping[str, Any],
) -> Calibration:
    """Fit one coefficient vector per resolution plus ``"all"``; store the samples with them."""
    res = np.asarray(resolutions)
    groups = {"all": fit_coefficients(x, y)}
    for r in sorted(set(res.tolist())):
        mask = res == r
        groups[str(r)] = fit_coefficients(x[mask], y[mask])
    return Calibration(groups, tuple(samples), dict(meta))
