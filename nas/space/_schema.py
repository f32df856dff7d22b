"""Typed, validated search-space specs, loaded from declarative YAML files.

A space file (see ``search_spaces/*.yaml``) names the stem, the stages and the head of a
MobileNet/EfficientNet-style network and the choices that a search makes. Every field is checked
here, and an error names the file and the field (``mobilenet_v3.yaml: stages[2].kernel``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas._errors import NasError
from nas._yaml import read_yaml
from nas.arch import Layer

ACTIVATIONS = ("relu", "relu6", "hswish", "swish", "none")
GATES = ("sigmoid", "hsigmoid")
HEAD_KINDS = ("conv", "pool", "fc", "classifier")


@dataclass(frozen=True)
class SEConvention:
    """How squeeze-excite is sized and gated in this space."""

    ratio: float = 0.25
    base: str = "mid"  # reduce from the expanded ("mid") or the block input ("in") channels
    divisor: int = 1
    gate: str = "sigmoid"
    act: str = "relu"


@dataclass(frozen=True)
class StemSpec:
    out: int
    kernel: int
    stride: int
    act: str


@dataclass(frozen=True)
class StageSpec:
    """One stage: channel choices, stride, activation, depth choices and layer op choices."""

    channels: tuple[int, ...]
    stride: int
    act: str
    depth: tuple[int, ...]
    ops: tuple[Layer, ...]
    skip: bool
    per_stage: bool


@dataclass(frozen=True)
class HeadSpec:
    kind: str
    out: int = 0
    act: str = "none"
    scale: bool = True


@dataclass(frozen=True)
class ScaleSpec:
    """A compound-scaling point (EfficientNet): width, depth multiplier, resolution."""

    name: str
    width: float
    depth: float
    resolution: int


class _Fields:
    """Reads one mapping, naming ``where`` in every error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise NasError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.data, self.where = data, where

    def sub(self, key: str) -> str:
        return f"{self.where}.{key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise NasError(f"{self.sub(key)}: missing (required field)")
            return default
        return self.data[key]

    def integer(self, key: str, default: Any = ..., low: int = 1) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise NasError(f"{self.sub(key)}: {value!r} is not an integer >= {low}")
        return value

    def number(self, key: str, default: Any = ...) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise NasError(f"{self.sub(key)}: {value!r} is not a positive number")
        return float(value)

    def flag(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise NasError(f"{self.sub(key)}: {value!r} is not true or false")
        return value

    def choice(self, key: str, allowed: Sequence[str], default: Any = ...) -> str:
        value = self.raw(key, default)
        if value not in allowed:
            raise NasError(f"{self.sub(key)}: {value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def ints(self, key: str, default: Any = ..., low: int = 1) -> tuple[int, ...]:
        """An int or a list of ints, or ``{min, max, step}``; returned sorted and unique."""
        value = self.raw(key, default)
        if isinstance(value, Mapping):
            r = _Fields(value, self.sub(key))
            lo, hi, step = r.integer("min", low=low), r.integer("max", low=low), r.integer("step", 1)
            if hi < lo:
                raise NasError(f"{self.sub(key)}: max {hi} is below min {lo}")
            value = list(range(lo, hi + 1, step))
        items = value if isinstance(value, list) else [value]
        if not items or any(isinstance(v, bool) or not isinstance(v, int) or v < low for v in items):
            raise NasError(f"{self.sub(key)}: {value!r} must be an integer >= {low} or a list of them")
        return tuple(sorted(set(items)))

    def nums(self, key: str, default: Any = ...) -> tuple[float, ...]:
        value = self.raw(key, default)
        items = value if isinstance(value, list) else [value]
        if not items or any(isinstance(v, bool) or not isinstance(v, int | float) or not v > 0 for v in items):
            raise NasError(f"{self.sub(key)}: {value!r} must be a positive number or a list of them")
        return tuple(sorted({float(v) for v in items}))

    def bools(self, key: str, default: Any = ...) -> tuple[bool, ...]:
        value = self.raw(key, default)
        items = value if isinstance(value, list) else [value]
        if not items or any(not isinstance(v, bool) for v in items):
            raise NasError(f"{self.sub(key)}: {value!r} must be true/false or a list of them")
        return tuple(sorted(set(items)))

    def check_known(self, known: Sequence[str]) -> None:
        for key in self.data:
            if key not in known:
                raise NasError(f"{self.sub(str(key))}: unknown field; allowed: {', '.join(known)}")


def read_space_file(path: Path) -> dict[str, Any]:
    """Read a YAML space file into a mapping, with errors that name the file."""
    data = read_yaml(path, "space file")
    if not isinstance(data, dict):
        raise NasError(f"{path}: a space file must be a YAML mapping")
    return data


def parse_stage(data: Any, where: str) -> StageSpec:
    f = _Fields(data, where)
    f.check_known(("out", "stride", "act", "depth", "kernel", "expand", "groups", "se", "skip",
                   "choose", "ops"))
    per_stage = f.choice("choose", ("per_layer", "per_stage"), "per_layer") == "per_stage"
    if f.has("ops"):
        raw_ops = f.raw("ops")
        if not isinstance(raw_ops, list) or not raw_ops:
            raise NasError(f"{f.sub('ops')}: must be a non-empty list of layer tokens like k3e6")
        try:
            ops = tuple(Layer.parse(str(t)) for t in raw_ops)
        except NasError as exc:
            raise NasError(f"{f.sub('ops')}: {exc}") from None
        if any(op.skip for op in ops):
            raise NasError(f"{f.sub('ops')}: list 'skip' with the field skip: true, not as an op")
    else:
        kernels = f.ints("kernel")
        if any(k % 2 == 0 for k in kernels):
            raise NasError(f"{f.sub('kernel')}: kernels must be odd, got {list(kernels)}")
        ops = tuple(
            Layer(kernel=k, expand=e, groups=g, se=s)
            for k, e, g, s in itertools.product(
                kernels, f.nums("expand"), f.ints("groups", 1), f.bools("se", False)
            )
        )
    skip = f.flag("skip", False)
    if skip and per_stage:
        raise NasError(f"{f.sub('skip')}: a per_stage stage cannot skip single layers; use depth choices")
    return StageSpec(
        channels=f.ints("out"),
        stride=f.integer("stride"),
        act=f.choice("act", ACTIVATIONS),
        depth=f.ints("depth", 1),
        ops=ops,
        skip=skip,
        per_stage=per_stage,
    )


def parse_head(data: Any, where: str) -> tuple[HeadSpec, ...]:
    if not isinstance(data, list) or not data:
        raise NasError(f"{where}: must be a non-empty list of head layers")
    items = []
    for i, item in enumerate(data):
        f = _Fields(item, f"{where}[{i}]")
        f.check_known(("kind", "out", "act", "scale"))
        kind = f.choice("kind", HEAD_KINDS)
        out = f.integer("out") if kind in ("conv", "fc") else 0
        items.append(HeadSpec(kind, out, f.choice("act", ACTIVATIONS, "none"), f.flag("scale", True)))
    if items[-1].kind != "classifier" or sum(h.kind == "classifier" for h in items) != 1:
        raise NasError(f"{where}: the head must end with exactly one {{kind: classifier}}")
    if sum(h.kind == "pool" for h in items) != 1:
        raise NasError(f"{where}: the head needs exactly one {{kind: pool}}")
    pooled = False
    for i, h in enumerate(items):
        pooled = pooled or h.kind == "pool"
        if h.kind in ("fc", "classifier") and not pooled:
            raise NasError(f"{where}[{i}]: an {h.kind} layer must come after the pool")
        if h.kind == "conv" and pooled:
            raise NasError(f"{where}[{i}]: a conv layer must come before the pool")
    return tuple(items)


def parse_scaling(data: Any, where: str) -> tuple[ScaleSpec, ...]:
    f = _Fields(data, where)
    scales = []
    for name in f.data:
        g = _Fields(f.data[name], f.sub(str(name)))
        g.check_known(("width", "depth", "resolution"))
        scales.append(ScaleSpec(str(name), g.number("width"), g.number("depth"), g.integer("resolution", low=8)))
    if not scales:
        raise NasError(f"{where}: needs at least one scale")
    return tuple(scales)
