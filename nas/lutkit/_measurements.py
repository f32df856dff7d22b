"""Whole-network latency files: HELP's FBNet and OFA CSVs, and our own ``csv`` format.

``csv`` (ours): a header with ``arch`` (canonical arch text), optionally ``resolution`` (overrides
the arch's), ``classes`` and ``in_channels``, then one numeric column per device, in ms. An empty
cell means "not measured on that device" and drops the row for that column only.
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nas._errors import NasError
from nas.arch import Arch
from nas.space import SearchSpace, get_space

MEASUREMENT_FORMATS = ("help-fbnet", "help-ofa", "csv")
HELP_PREFIX = "lat_ms_"
_FORMAT_SPACE = {"help-fbnet": "fbnet", "help-ofa": "mobilenet_v3"}
_FORMAT_CLASSES = {"help-fbnet": 100, "help-ofa": 1000}
_FBNET_DEPTHS = (1, 4, 4, 4, 4, 4, 1)
_OFA_SE = (False, True, False, True, True)
_META = ("idx", "arch", "arch_str", "resolution", "classes", "in_channels", "ks", "e", "d", "r")


@dataclass(frozen=True)
class Measurements:
    """Measured networks (in file order) and their latency columns."""

    path: str
    fmt: str
    space: SearchSpace
    archs: tuple[Arch, ...]
    classes: int
    in_channels: int
    table: pd.DataFrame
    _lowered: dict[int, Counter[str]] = field(default_factory=dict, compare=False, repr=False)

    def block_counts(self, row: int) -> Counter[str]:
        """Block key -> count in the network of ``row`` (lowered once, then cached)."""
        if row not in self._lowered:
            from nas.blocks import arch_to_blocks

            blocks = arch_to_blocks(self.archs[row], self.space, classes=self.classes,
                                    in_channels=self.in_channels)
            self._lowered[row] = Counter(b.key for b in blocks)
        return self._lowered[row]

    @property
    def columns(self) -> list[str]:
        """Device column names as users type them (``pixel3`` for HELP's ``lat_ms_pixel3``)."""
        return [c.removeprefix(HELP_PREFIX) for c in self.table.columns]

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(row indices, latencies in ms)`` of the rows measured in column ``name``."""
        for c in (name, HELP_PREFIX + name):
            if c in self.table.columns:
                y = self.table[c].to_numpy(dtype=float)
                rows = np.flatnonzero(~np.isnan(y))
                bad = rows[y[rows] <= 0]
                if len(bad):
                    raise NasError(f"{self.path}: column {name!r} row {int(bad[0]) + 2}: latency "
                                   f"{y[bad[0]]} is not positive")
                if len(rows) == 0:
                    raise NasError(f"{self.path}: column {name!r} has no measurements")
                return rows, y[rows]
        raise NasError(f"{self.path}: no device column {name!r}; columns: "
                       f"{', '.join(self.columns)}")


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise NasError(f"{path}: no such file") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise NasError(f"{path}: not a readable CSV ({exc})") from None


def _require(df: pd.DataFrame, cols: tuple[str, ...], path: Path, fmt: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise NasError(f"{path}: not a {fmt} file; missing column(s) {missing} "
                       f"(has {list(df.columns)[:8]})")


def _latency_columns(df: pd.DataFrame, path: Path, fmt: str) -> pd.DataFrame:
    cols = [c for c in df.columns if c not in _META]
    if fmt != "csv":
        cols = [c for c in cols if str(c).startswith(HELP_PREFIX)]
    if not cols:
        raise NasError(f"{path}: no latency columns")
    out = df[cols]
    for c in cols:
        if not pd.api.types.is_numeric_dtype(out[c]):
            raise NasError(f"{path}: column {c!r} is not numeric (latencies in ms)")
    return out.reset_index(drop=True)


def fbnet_arch(arch_str: str, where: str) -> Arch:
    """HW-NAS-Bench's 22 FBNet layer ops (``k3_e1_g2|skip|...``) -> an arch of our fbnet space."""
    ops = arch_str.split("|")
    if len(ops) != sum(_FBNET_DEPTHS):
        raise NasError(f"{where}: arch_str has {len(ops)} layers, FBNet has {sum(_FBNET_DEPTHS)}")
    tokens = [op.replace("_e", "e") for op in ops]
    stages, i = [], 0
    for c, d in zip((16, 24, 32, 64, 112, 184, 352), _FBNET_DEPTHS, strict=True):
        stages.append(f"c{c}:" + ",".join(tokens[i:i + d]))
        i += d
    return Arch.parse("fbnet:r32:w1|" + "|".join(stages))


def ofa_arch(ks: list[int], e: list[int], d: list[int], r: int, where: str) -> Arch:
    """A Once-for-All subnet (ks, e: 20 per-block lists; d: 5 depths; r) at width 1.0."""
    if len(ks) != 20 or len(e) != 20 or len(d) != 5:
        raise NasError(f"{where}: ks and e need 20 entries and d 5, got {len(ks)}, {len(e)}, {len(d)}")
    stages = ["c16:k3e1"]  # the first block is fixed in Once-for-All
    for s, (c, se) in enumerate(zip((24, 40, 80, 112, 160), _OFA_SE, strict=True)):
        toks = [f"k{ks[s * 4 + j]}e{e[s * 4 + j]}" + ("_se" if se else "") for j in range(d[s])]
        stages.append(f"c{c}:" + ",".join(toks))
    return Arch.parse(f"mobilenet_v3:r{r}:w1|" + "|".join(stages))


def _list(text: object, where: str) -> list[int]:
    try:
        value = ast.literal_eval(str(text))
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise NasError(f"{where}: {text!r} is not a list of integers")
    return value


def read_measurements(path: str | Path, fmt: str, *, space: str | None = None,
                      classes: int | None = None, in_channels: int = 3) -> Measurements:
    """Read a measurement file; every arch is checked against the space.

    Args:
        path: the file.
        fmt: ``help-fbnet``, ``help-ofa`` or ``csv``.
        space: the space (required for ``csv`` unless every arch names a shipped space; for
            the HELP formats it must be theirs, ``fbnet`` / ``mobilenet_v3``, if given).
        classes: classifier outputs (default: 100 for help-fbnet, CIFAR-100 as in HW-NAS-Bench;
            1000 for help-ofa and csv, or the csv's ``classes`` column).
        in_channels: image channels (or the csv's ``in_channels`` column).
    """
    if fmt not in MEASUREMENT_FORMATS:
        raise NasError(f"unknown measurement format {fmt!r}; known: {', '.join(MEASUREMENT_FORMATS)}")
    path = Path(path)
    df = _read_csv(path)
    if fmt in _FORMAT_SPACE:
        own = _FORMAT_SPACE[fmt]
        if space is not None and get_space(space).name != own:
            raise NasError(f"--space {space}: --format {fmt} files are archs of space {own}")
        space = own
    archs: list[Arch] = []
    if fmt == "help-fbnet":
        _require(df, ("arch_str",), path, fmt)
        archs = [fbnet_arch(str(s), f"{path}: row {i + 2}") for i, s in enumerate(df["arch_str"])]
    elif fmt == "help-ofa":
        _require(df, ("ks", "e", "d", "r"), path, fmt)
        for i, (ks, e, d, r) in enumerate(zip(df["ks"], df["e"], df["d"], df["r"], strict=True)):
            where = f"{path}: row {i + 2}"
            try:
                side = int(str(r))
            except ValueError:
                raise NasError(f"{where}: resolution r={r!r} is not an integer") from None
            archs.append(ofa_arch(_list(ks, where), _list(e, where), _list(d, where), side, where))
    else:
        _require(df, ("arch",), path, fmt)
        res = df["resolution"] if "resolution" in df.columns else None
        for i, text in enumerate(df["arch"]):
            try:
                arch = Arch.parse(str(text))
                r = float(res.iloc[i]) if res is not None else math.nan
                if not math.isnan(r):
                    arch = arch.replace(resolution=int(r))
            except (NasError, ValueError) as exc:
                raise NasError(f"{path}: row {i + 2}: {exc}") from None
            archs.append(arch)
        for extra in ("classes", "in_channels"):
            if extra in df.columns:
                vals = set(df[extra].dropna().astype(int))
                if len(vals) != 1:
                    raise NasError(f"{path}: column {extra!r} must hold one value, has {sorted(vals)}")
                if extra == "classes":
                    classes = vals.pop()
                else:
                    in_channels = vals.pop()
    if not archs:
        raise NasError(f"{path}: no rows")
    sp = get_space(space or archs[0].space)
    # Any input side is fine (tables are per resolution); stages, ops and width must be the space's.
    check = sp.with_resolutions(sorted({a.resolution for a in archs})) if not sp.scales else sp
    for i, arch in enumerate(archs):
        why = check.check(arch)
        if why:
            raise NasError(f"{path}: row {i + 2}: arch outside space {sp.name}: {'; '.join(why)}")
    return Measurements(str(path), fmt, sp, tuple(archs),
                        classes if classes is not None else _FORMAT_CLASSES.get(fmt, 1000),
                        in_channels, _latency_columns(df, path, fmt))


SPLITS = ("random", "tail")


def split_rows(n: int, test_fraction: float, seed: int, how: str = "random"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` rows into (train, test) index arrays, each sorted.

    ``how``: ``"random"``, a seeded random split; ``"tail"``, the last rows in file order held
    out (``seed`` unused): when a file lists networks in the order they were timed, the test rows
    come from later in the session than any training row, so a device's drift over the session
    counts against the fit as it would against a table used afterwards.
    """
    if not 0 <= test_fraction < 1:
        raise NasError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    if how not in SPLITS:
        raise NasError(f"--split {how!r} is not one of {', '.join(SPLITS)}")
    k = round(n * test_fraction)
    if how == "tail":
        return np.arange(n - k), np.arange(n - k, n)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])
