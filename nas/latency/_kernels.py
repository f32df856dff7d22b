"""Kernel-level latency models: price a block the table never measured from its kernels.

A measured table answers only the keys it holds. nn-Meter showed that modelling each kernel
type's latency as a function of its shape generalizes to unseen blocks and networks, so every
table gets one :class:`KernelModel`: per kernel group (``pw``, ``conv``, ``dw`` by kernel size and
stride, ``se``, ``pool``, ``fc``, ``add``, one per unfused activation) the latency is

    ms = a * MMACs + b * M input elements + c * M output elements + d * count

(nonnegative coefficients, so no kernel ever costs less than nothing). A block's features are the
sums over its kernels (:func:`nas.blocks.block_ops`), so the coefficients are fitted on measured
*blocks* with nonnegative least squares; no per-kernel timing is needed.

The family (which columns, and whether the fit weighs absolute or relative error) is chosen by
k-fold held-out error on the measured keys, and that error is kept with the model so that
``nas lut list`` can report it. A block is priced only when each of its kernels is of a group the
model was fitted on and within :data:`RANGE_SLACK` times the work and side of the largest fitted
kernel of its group (:meth:`KernelModel.why_not`): extrapolating further is guessing.

The model is plain JSON (the table file's ``kernel_model`` field): coefficients per feature name,
a device scale, and the ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from nas._errors import NasError
from nas.blocks import Block, Op, block_ops

FAMILIES = ("macs", "linear", "relative")
# How far past the largest fitted kernel of its group (channels, side) a kernel may be and still
# be priced. Smaller kernels are always priced: their per-kernel constant keeps them positive and
# they matter little in a network's sum; larger ones grow linearly, which the published whole
# networks check (docs/kernel-models.md).
RANGE_SLACK = 4.0
_PARTS = ("macs", "in", "out", "n")
_MIN_ROWS = 8


# A group a model has no coefficients for is priced as the group it is computationally like, when
# the model has that one: a linear layer is a 1x1 convolution on a 1x1 input (one GEMM), a global
# pool one pass over its input like the residual add. Phones whose only published blocks are
# nn-Meter's MBConvs have neither a classifier nor a pool measured.
FALLBACK = {"fc": "pw", "pool": "add"}


def op_group(op: Op) -> str:
    """The kernel group whose coefficients price ``op``.

    Groups are the kernels a runtime runs one routine for, so one group's coefficients hold
    across shapes. Depthwise kernels split by stride (the strided routine reads its input
    differently); the kernel size enters through MACs, so a table measured at kernels 3 and 5
    prices kernel 7.
    """
    if op.kind == "dw":
        return f"dws{min(op.stride, 2)}"
    if op.kind == "act":
        return f"act_{op.act}"
    if op.kind in ("pw", "conv") and op.groups > 1:
        return f"g{op.kind}"
    return op.kind


def op_features(op: Op) -> dict[str, float]:
    """The feature columns one kernel adds to its block: ``GROUP:macs/in/out/n``.

    MACs and elements are in millions so that coefficients are ms per million.
    """
    g = op_group(op)
    return {f"{g}:macs": op.macs / 1e6, f"{g}:in": op.in_elems / 1e6,
            f"{g}:out": op.out_elems / 1e6, f"{g}:n": 1.0}


# What a model is fitted on: a measured block, or measured kernels (one or more, e.g. one row of
# a runtime's per-op profile) timed together.
Row = Block | tuple[Op, ...]


def _ops(row: Row) -> tuple[Op, ...]:
    return block_ops(row) if isinstance(row, Block) else row


def kernel_features(row: Row) -> dict[str, float]:
    """Sum of :func:`op_features` over a block's kernels (or over the given kernels)."""
    out: dict[str, float] = {}
    for op in _ops(row):
        for k, v in op_features(op).items():
            out[k] = out.get(k, 0.0) + v
    return out


def _columns(family: str, names: Sequence[str]) -> list[str]:
    """The feature columns a family fits (``macs``: work only, like MACs-proportional scaling
    per kernel group; groups without MACs use their input elements)."""
    if family != "macs":
        return list(names)
    groups = sorted({n.split(":")[0] for n in names})
    cols = []
    for g in groups:
        cols.append(f"{g}:macs" if f"{g}:macs" in names and g not in ("pool", "add")
                    and not g.startswith("act_") else f"{g}:in")
    return cols


def _fit(x: np.ndarray, y: np.ndarray, family: str) -> np.ndarray:
    """NNLS coefficients; ``relative`` and ``macs`` weigh each row by 1/y (relative error)."""
    w = 1.0 / np.maximum(y, _floor(y)) if family in ("relative", "macs") else np.ones_like(y)
    # Columns scaled to unit norm: NNLS converges badly on columns of very different sizes.
    norm = np.linalg.norm(x * w[:, None], axis=0)
    norm[norm == 0] = 1.0
    coef, _ = nnls(x * w[:, None] / norm, y * w, maxiter=50 * x.shape[1])
    return np.asarray(coef / norm)


def _floor(y: np.ndarray) -> float:
    """The smallest latency a relative error is taken against: keys fitted from whole networks
    can be 0 ms (their cost absorbed by others), and 1/0 would make them weigh without bound."""
    pos = y[y > 0]
    return float(np.percentile(pos, 5)) if len(pos) else 1.0


def error_stats(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """MAPE (%), WAPE (%: summed absolute error over summed latency, which a few tiny keys
    cannot dominate), share within +-10 % and the number of rows priced (NaN predictions are
    rows that could not be priced: counted as ``unpriced``)."""
    ok = ~np.isnan(pred)
    if not ok.any():
        return {"mape_pct": math.nan, "wape_pct": math.nan, "within10": math.nan, "n": 0,
                "unpriced": len(y)}
    err = np.abs(pred[ok] - y[ok])
    pos = y[ok] > 0  # a relative error of a 0 ms key is undefined; WAPE still counts it
    rel = err[pos] / y[ok][pos]
    return {"mape_pct": float(100 * rel.mean()) if pos.any() else math.nan,
            "wape_pct": float(100 * err.sum() / max(float(y[ok].sum()), 1e-12)),
            "within10": float((rel <= 0.10).mean()) if pos.any() else math.nan,
            "n": int(ok.sum()),
            "unpriced": int((~ok).sum())}


@dataclass(frozen=True)
class KernelModel:
    """Per-kernel-group linear latency model (ms), with its fitted range and held-out error.

    Attributes:
        family: which of :data:`FAMILIES` the held-out error chose.
        coef: feature name -> ms per unit (MMACs, M elements, or per kernel).
        scale: device factor applied on top (1 unless the model was fitted on another source's
            blocks and scaled to this table's own keys).
        ranges: kernel group -> ``[min channels, max channels, min side, max side, min work,
            max work]`` of the fitted kernels (work: MACs, or input elements for element-wise
            kernels).
        held_out: family -> ``{mape_pct, within10, n}`` of k-fold held-out predictions on the
            table's own keys (and ``"extra"``: on the other source's blocks, when used).
        sources: what the model was fitted on (for the table listing and the docs).
    """

    family: str
    coef: dict[str, float]
    scale: float = 1.0
    ranges: dict[str, list[int]] = field(default_factory=dict)
    held_out: dict[str, dict[str, float]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def why_not(self, block: Block) -> str | None:
        """Why this model cannot price ``block`` (``None`` when it can)."""
        for op in block_ops(block):
            g = self.group_of(op)
            r = self.ranges.get(g)
            if r is None:
                known = ", ".join(sorted(self.ranges))
                return (f"its kernel {op.key} is of group {g!r}, which the kernel model was not "
                        f"fitted on (fitted: {known})")
            # a kernel's cost grows with its work (MACs; elements for element-wise kernels),
            # whatever the channel/side split: bound the work, and the side (cache behaviour)
            if _size(op, g) > r[5] * RANGE_SLACK or op.hw > r[3] * RANGE_SLACK:
                unit = "input elements" if _elementwise(g) else "MACs"
                return (f"its kernel {op.key} is larger than the kernel model can price for "
                        f"{g!r}: {_size(op, g)} {unit} at side {op.hw}, fitted up to {r[5]} "
                        f"at side {r[3]}; priced up to {RANGE_SLACK:g}x those")
        return None

    def group_of(self, op: Op) -> str:
        """The group that prices ``op`` here: its own, else its :data:`FALLBACK` when the model
        was fitted on that one and not on the op's own."""
        g = op_group(op)
        return FALLBACK[g] if g not in self.ranges and FALLBACK.get(g) in self.ranges else g

    def predict(self, block: Block, where: str = "kernel model") -> float:
        """Modelled ms of ``block``.

        Raises:
            NasError: the block is outside what the model was fitted on (:meth:`why_not`).
        """
        reason = self.why_not(block)
        if reason is not None:
            raise NasError(f"{where}: cannot price block {block.key}: {reason}")
        total = 0.0
        for op in block_ops(block):
            g, own = self.group_of(op), op_group(op)
            for k, v in op_features(op).items():
                total += self.coef.get(g + k[len(own):], 0.0) * v
        return self.scale * total

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "scale": self.scale, "coef": dict(sorted(self.coef.items())),
                "ranges": dict(sorted(self.ranges.items())), "held_out": self.held_out,
                "sources": list(self.sources)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> KernelModel:
        if not isinstance(data, Mapping):
            raise NasError(f"{where}: expected an object with family, scale, coef, ranges")
        unknown = set(data) - {"family", "scale", "coef", "ranges", "held_out", "sources"}
        if unknown:
            raise NasError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: family, "
                           "scale, coef, ranges, held_out, sources")
        family = data.get("family")
        if family not in FAMILIES:
            raise NasError(f"{where}: field 'family' is {family!r}, not one of "
                           f"{', '.join(FAMILIES)}")
        coef, ranges = data.get("coef"), data.get("ranges")
        if not isinstance(coef, Mapping) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
                for v in coef.values()):
            raise NasError(f"{where}: field 'coef' must map feature names to numbers >= 0")
        if not isinstance(ranges, Mapping) or not all(
                isinstance(v, list) and len(v) == 6 for v in ranges.values()):
            raise NasError(f"{where}: field 'ranges' must map kernel groups to "
                           "[min channels, max channels, min side, max side, min work, max work]")
        scale = data.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
            raise NasError(f"{where}: field 'scale' must be a number > 0, got {scale!r}")
        return cls(family=str(family), coef={str(k): float(v) for k, v in coef.items()},
                   scale=float(scale),
                   ranges={str(k): [int(x) for x in v] for k, v in ranges.items()},
                   held_out={str(k): dict(v) for k, v in dict(data.get("held_out") or {}).items()},
                   sources=[str(s) for s in data.get("sources") or []])


def _matrix(blocks: Sequence[Row], names: Sequence[str]) -> np.ndarray:
    idx = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(blocks), len(names)))
    for r, b in enumerate(blocks):
        for k, v in kernel_features(b).items():
            x[r, idx[k]] = v
    return x


def _elementwise(group: str) -> bool:
    return group in ("se", "add", "pool") or group.startswith("act_")


def _size(op: Op, group: str) -> int:
    """A kernel's work: MACs, or input elements for element-wise kernels."""
    return op.in_elems if _elementwise(group) or op.macs == 0 else op.macs


def _ranges(blocks: Sequence[Row]) -> dict[str, list[int]]:
    """Kernel group -> ``[min channels, max channels, min side, max side, min work, max work]``
    of the fitted kernels (work: :func:`_size`)."""
    out: dict[str, list[int]] = {}
    for b in blocks:
        for op in _ops(b):
            c, g = max(op.cin, op.cout), op_group(op)
            e = _size(op, g)
            r = out.setdefault(g, [c, c, op.hw, op.hw, e, e])
            r[:] = [min(r[0], c), max(r[1], c), min(r[2], op.hw), max(r[3], op.hw),
                    min(r[4], e), max(r[5], e)]
    return out


def _unseen(x: np.ndarray, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    """Held-out rows using a column no training row uses: a kernel group (a stem, the classifier)
    the fold took all of, which no model could price; they are left out of the error (NaN)."""
    return (x[te][:, ~x[tr].any(axis=0)] != 0).any(axis=1)


def _cv(x: np.ndarray, y: np.ndarray, family: str, fold: np.ndarray) -> np.ndarray:
    """k-fold held-out predictions of a family (each row predicted by a fit without its fold)."""
    pred = np.zeros(len(y))
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        p = x[te] @ _fit(x[tr], y[tr], family)
        p[_unseen(x, tr, te)] = np.nan
        pred[te] = p
    return pred


# Weight of the pull of each group's device scale towards the common one (in units of one own
# key's squared relative error): a group that few own keys contain keeps about the common scale.
_SCALE_PRIOR = 0.5


def _own_fit(parts: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group scales (first ``n_groups`` columns of ``parts``) and coefficients of the groups
    only the own keys have, on relative error, with the scales pulled towards their common
    value (the median ratio of measured to modelled)."""
    if len(y) == 0:
        return np.concatenate([np.ones(n_groups), np.zeros(parts.shape[1] - n_groups)])
    common = _scale(parts[:, :n_groups].sum(axis=1), y)
    w = 1.0 / np.maximum(y, _floor(y))
    prior = np.zeros((n_groups, parts.shape[1]))
    prior[np.arange(n_groups), np.arange(n_groups)] = math.sqrt(_SCALE_PRIOR)
    a = np.vstack([parts * w[:, None], prior])
    b = np.concatenate([y * w, np.full(n_groups, math.sqrt(_SCALE_PRIOR) * common)])
    norm = np.linalg.norm(a, axis=0)
    norm[norm == 0] = 1.0
    sol, _ = nnls(a / norm, b, maxiter=50 * a.shape[1])
    return np.asarray(sol / norm)


def _own_cv(parts: np.ndarray, y: np.ndarray, n_groups: int, fold: np.ndarray) -> np.ndarray:
    pred = np.zeros(len(y))
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        p = parts[te] @ _own_fit(parts[tr], y[tr], n_groups)
        p[_unseen(parts[:, n_groups:], tr, te)] = np.nan
        pred[te] = p
    return pred


def _folds(n: int, folds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n) % max(2, min(folds, n))


def fit_kernel_model(blocks: Sequence[Row], ms: Sequence[float], *,
                     extra: Sequence[tuple[Row, float]] = (), folds: int = 5, seed: int = 0,
                     families: Sequence[str] = FAMILIES, sources: Sequence[str] = ()
                     ) -> KernelModel:
    """Fit a :class:`KernelModel` on measured blocks, choosing the family by held-out error.

    Args:
        blocks, ms: the table's own measured keys and their latency (a row may also be a tuple
            of kernels timed on the same device: a runtime's per-op profile).
        extra: many more measured blocks of the same device from another source (nn-Meter's
            phone tables). They fix the kernels' shape dependence; the table's own keys then fit
            one device scale for it (another runtime version, another build) plus the groups the
            extra blocks lack (``dw7``, ``fc``, ...). Fitting both sources in one least-squares
            problem instead lets the two disagree through every coefficient.
        folds: k of the k-fold held-out error, over the own keys (the extra blocks are always
            in the fit; their own k-fold error is kept as ``extra_mape_pct``).
        seed: fold assignment.
        families: candidates (:data:`FAMILIES`).
        sources: recorded in the model.

    Raises:
        NasError: too few measured blocks to fit or to hold any out.
    """
    own_all = list(blocks)
    y_all = np.asarray(ms, dtype=float)
    if len(own_all) != len(y_all):
        raise NasError(f"fit_kernel_model: {len(own_all)} blocks but {len(y_all)} latencies")
    bad = [f for f in families if f not in FAMILIES]
    if bad or not families:
        raise NasError(f"unknown kernel model family {bad}; known: {', '.join(FAMILIES)}")
    if not np.all(np.isfinite(y_all)) or (y_all < 0).any():
        raise NasError("fit_kernel_model: latencies must be finite and >= 0")
    own, y = own_all, y_all
    ext = [(b, float(v)) for b, v in extra if v >= 0]
    if len(own) < _MIN_ROWS and (not ext or len(own) < 1):
        raise NasError(f"a kernel model needs at least {_MIN_ROWS} measured blocks, got "
                       f"{len(own)}")
    all_blocks = own + [b for b, _ in ext]
    names = sorted({k for b in all_blocks for k in kernel_features(b)})
    x = _matrix(own, names)
    held: dict[str, dict[str, float]] = {}
    fitted: dict[str, tuple[dict[str, float], float]] = {}
    if not ext:
        fold = _folds(len(y), folds, seed)
        for family in families:
            cols = [names.index(c) for c in _columns(family, names)]
            held[family] = error_stats(_cv(x[:, cols], y, family, fold), y)
            sol = _fit(x[:, cols], y, family)
            fitted[family] = ({names[c]: float(v) for c, v in zip(cols, sol, strict=True)}, 1.0)
    else:
        xe = _matrix([b for b, _ in ext], names)
        ye = np.asarray([v for _, v in ext])
        in_ext = {n.split(":")[0] for n in names if xe[:, names.index(n)].any()}
        fold_e = _folds(len(ye), folds, seed)
        fold = _folds(len(y), folds, seed)
        for family in families:
            cols = [names.index(c) for c in _columns(family, names)]
            ecols = [c for c in cols if names[c].split(":")[0] in in_ext]
            ocols = [c for c in cols if names[c].split(":")[0] not in in_ext]
            base = _fit(xe[:, ecols], ye, family)
            groups = sorted({names[c].split(":")[0] for c in ecols})
            gcols = [[i for i, c in enumerate(ecols) if names[c].startswith(g + ":")]
                     for g in groups]
            # own keys: each extra-fitted group's share of a block gets its own device scale,
            # pulled towards the common scale where the own keys say little about it
            parts = np.column_stack([x[:, [ecols[i] for i in gc]] @ base[gc] for gc in gcols]
                                    + [x[:, ocols]])
            stats = (error_stats(_own_cv(parts, y, len(groups), fold), y) if len(y) >= 2
                     else {})
            ext_stats = error_stats(_cv(xe[:, ecols], ye, family, fold_e), ye)
            stats["extra_mape_pct"] = ext_stats["mape_pct"]
            stats["extra_wape_pct"] = ext_stats["wape_pct"]
            held[family] = stats
            sol = _own_fit(parts, y, len(groups))
            scaled = {names[ecols[i]]: float(base[i] * sol[g])
                      for g, gc in enumerate(gcols) for i in gc}
            scaled.update({names[c]: float(v)
                           for c, v in zip(ocols, sol[len(groups):], strict=True)})
            fitted[family] = (scaled, 1.0)
    # WAPE: a network's error is its blocks' errors weighted by their ms, so a key of a few
    # microseconds (a pool, a near-zero fitted cost) must not pick the family
    key = "wape_pct" if all("wape_pct" in h for h in held.values()) else "extra_wape_pct"
    best = min(families, key=lambda f: (_nan_last(held[f][key]), FAMILIES.index(f)))
    chosen, scale = fitted[best]
    return KernelModel(family=best, coef={k: v for k, v in chosen.items() if v > 0},
                       scale=scale, ranges=_ranges(all_blocks), held_out=held,
                       sources=list(sources))


def _nan_last(v: float) -> float:
    return math.inf if math.isnan(v) else v


def _scale(pred: np.ndarray, y: np.ndarray) -> float:
    """Median ratio of measured to modelled: robust to a few odd keys."""
    ok = pred > 0
    return float(np.median(y[ok] / pred[ok])) if ok.any() else 1.0
