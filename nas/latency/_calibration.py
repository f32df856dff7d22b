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

Key scales. Some blocks cost more or less inside a network than their isolated timing says, by
more than their kind's ``a_k`` can share out: on an Intel host, onnxruntime's mobilenet_v2 at 32 px
kept a residual of 2.4% (sd) after calibration, τ 0.88-0.92, and corrections per key learned on
some networks lifted τ by 0.02-0.03 on others (RESULTS.md, ``latency_tables_host3i``). A key
scale ``g_j`` adds ``g_j * (ms of the network's blocks of key j)``: each key's own in-network
factor ``a_k + g_j``. They are fitted jointly with the coefficients, pulled towards 0 by a ridge
whose strength is chosen per resolution by cross-validation on the calibration networks (Kendall
τ of out-of-fold predictions); a resolution gets none unless they beat the plain calibration
there by :data:`MIN_KEY_CV_GAIN` (few calibration networks for many keys: they stay off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import lsq_linear
from scipy.stats import kendalltau

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
# Key-scale ridge strengths cross-validation chooses from (the pull on each g_j, in units of 0.01
# of a key's own ms), the gain in out-of-fold τ they must show, and the fewest networks a
# resolution needs for them to be tried.
KEY_RIDGES = (30.0, 10.0, 3.0, 1.0, 0.3)
KEY_RIDGE_UNIT = 0.01
MIN_KEY_CV_GAIN = 0.002
MIN_KEY_NETWORKS = 30
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
    # Per resolution group: block key -> its key scale g (see the module docstring).
    key_scales: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def scales_for(self, resolution: int) -> Mapping[str, float]:
        """Key scales fitted at ``resolution`` (none for a resolution the calibration lacks)."""
        return self.key_scales.get(str(resolution), {})

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
            # Written only when fitted, so that calibrations without them keep their hash.
            **({"key_scales": {g: dict(sorted(v.items()))
                               for g, v in sorted(self.key_scales.items())}}
               if self.key_scales else {}),
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
        return cls(groups, tuple(dict(s) for s in samples), dict(meta), stored,
                   _read_key_scales(data.get("key_scales", {}), where))


def _read_key_scales(raw: Any, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(raw, Mapping):
        raise NasError(f"{where}: field 'key_scales' must map a resolution to {{block key: "
                       "number}}")
    out: dict[str, dict[str, float]] = {}
    for group, scales in raw.items():
        if not isinstance(scales, Mapping) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in scales.values()):
            raise NasError(f"{where}: key_scales.{group} must map block keys to finite numbers")
        out[str(group)] = {str(k): float(v) for k, v in scales.items()}
    return out


def fit_coefficients(x: np.ndarray, y: np.ndarray, *, ridge: float = RIDGE,
                     neutral: np.ndarray = NEUTRAL, keys: np.ndarray | None = None,
                     key_ridge: float = 1.0) -> np.ndarray:
    """Fit one coefficient vector: minimize relative squared error, ``a_k >= 0``.

    Args:
        x: ``(networks, len(neutral))`` feature matrix (:data:`FEATURES` by default).
        y: measured latencies (ms), positive.
        ridge: pull towards ``neutral`` (identifies features the data cannot).
        neutral: the coefficients that change nothing; longer than :data:`NEUTRAL` for
            experiments with extra features after the standard ones (unbounded, like them).
        keys: ``(networks, m)`` isolated ms of each block key's blocks per network: ``m`` key
            scales are fitted too and appended to the result, pulled to 0 by ``key_ridge``.
    """
    n = len(neutral)
    if x.ndim != 2 or x.shape[1] != n or len(x) != len(y) or len(y) == 0:
        raise NasError(f"calibration needs a (n, {n}) matrix and n latencies")
    if np.any(y <= 0):
        raise NasError("calibration latencies must be positive")
    a = x / y[:, None]
    # Scale the ridge by each column's typical size so it is equally weak for ms and counts.
    reg = np.sqrt(ridge * len(y)) * (np.sqrt(np.mean(a**2, axis=0)) + 1e-12)
    target = neutral
    if keys is not None:
        a = np.column_stack([a, keys / y[:, None]])
        reg = np.concatenate([reg, np.full(keys.shape[1],
                                           np.sqrt(key_ridge * len(y)) * KEY_RIDGE_UNIT)])
        target = np.concatenate([neutral, np.zeros(keys.shape[1])])
    m = a.shape[1]
    a_aug = np.vstack([a, np.diag(reg)])
    b_aug = np.concatenate([np.ones(len(y)), reg * target])
    lower = np.array([0.0] * _N_KINDS + [-np.inf] * (m - _N_KINDS))
    res = lsq_linear(a_aug, b_aug, bounds=(lower, np.full(m, np.inf)), method="bvls")
    return np.asarray(res.x, dtype=float)


def cross_validate(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, folds: int = 5,
                   neutral: np.ndarray = NEUTRAL, keys: np.ndarray | None = None,
                   key_ridge: float = 1.0) -> np.ndarray:
    """Out-of-fold predictions of :func:`fit_coefficients`: each network predicted by the fit on
    the other folds (``rng`` assigns the folds). How well a calibration generalizes, judged on
    whole networks it was not fitted on."""
    fold = rng.permutation(len(y)) % folds
    full = x if keys is None else np.column_stack([x, keys])
    pred = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        coef = fit_coefficients(x[~test], y[~test], neutral=neutral,
                                keys=None if keys is None else keys[~test], key_ridge=key_ridge)
        pred[test] = full[test] @ coef
    return pred


def choose_key_ridge(x: np.ndarray, y: np.ndarray, keys: np.ndarray, *, repeats: int = 2
                     ) -> tuple[float | None, dict[str, float]]:
    """The key-scale ridge with the best out-of-fold Kendall τ, or None (no key scales) unless
    one beats the plain calibration by :data:`MIN_KEY_CV_GAIN`; with every candidate's τ.

    Folds are drawn from fixed seeds (``0 .. repeats-1``) so that a refit chooses the same."""
    def cv_tau(k: np.ndarray | None, ridge: float) -> float:
        return float(np.mean([kendalltau(cross_validate(
            x, y, np.random.default_rng(s), keys=k, key_ridge=ridge), y)[0]
            for s in range(repeats)]))

    scores = {"off": cv_tau(None, 1.0)}
    for ridge in KEY_RIDGES:
        scores[str(ridge)] = cv_tau(keys, ridge)
    best = max(KEY_RIDGES, key=lambda r: scores[str(r)])
    if scores[str(best)] < scores["off"] + MIN_KEY_CV_GAIN:
        return None, scores
    return best, scores


def fit_calibration(
    x: np.ndarray,
    y: np.ndarray,
    resolutions: Sequence[int],
    samples: Sequence[dict[str, Any]],
    meta: Mapping[str, Any],
    *,
    keys: tuple[np.ndarray, Sequence[str]] | None = None,
) -> Calibration:
    """Fit one coefficient vector per resolution plus ``"all"``; store the samples with them.

    ``keys``: the networks' isolated ms per block key ``(networks, m)`` and the ``m`` key names;
    with it, each resolution gets key scales where cross-validation says they help (see the
    module docstring; the choice is recorded in ``meta["key_scales"]``). Without it, none.
    """
    res = np.asarray(resolutions)
    groups = {"all": fit_coefficients(x, y)}
    scales: dict[str, dict[str, float]] = {}
    chosen: dict[str, Any] = {}
    for r in sorted(set(res.tolist())):
        mask = res == r
        if keys is not None and mask.sum() >= MIN_KEY_NETWORKS:
            used = np.flatnonzero(keys[0][mask].any(axis=0))  # the keys networks at r contain
            k = keys[0][mask][:, used]
            ridge, scores = choose_key_ridge(x[mask], y[mask], k)
            chosen[str(r)] = {"ridge": ridge,
                              "cv_tau": {n: round(v, 4) for n, v in scores.items()}}
            if ridge is not None:
                coef = fit_coefficients(x[mask], y[mask], keys=k, key_ridge=ridge)
                groups[str(r)] = coef[:len(NEUTRAL)]
                scales[str(r)] = {keys[1][j]: float(g) for j, g in
                                  zip(used.tolist(), coef[len(NEUTRAL):], strict=True)}
                continue
        groups[str(r)] = fit_coefficients(x[mask], y[mask])
    if keys is not None:
        meta = {**meta, "key_scales": chosen}
    return Calibration(groups, tuple(samples), dict(meta), key_scales=scales)
