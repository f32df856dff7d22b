"""Hashable block keys: everything that fixes one block's computation, shapes and costs.

A :class:`Block` is what a latency table is keyed by, what the builder turns into an
``nn.Module``, and what the cost model sums. Its text form (:meth:`Block.key`) is canonical::

    mbconv(cin=24,cout=32,hw=112,k=3,s=2,act=relu,mid=144,xc=1)

with only the fields that differ from their defaults, in declaration order; booleans as 0/1.
Spatial shapes are square (``hw`` is height = width of the input); padding is ``k // 2``, so the
output side is ``ceil(hw / stride)``.

Costs follow the usual conventions: MACs count convolutions and fully-connected layers (what
``torch.utils.flop_counter`` counts, halved); params count weights, biases and BN affine
parameters; activation memory counts elements per sample (see :meth:`Block.peak_activations`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from functools import cached_property

from nas._errors import NasError

KINDS = ("conv", "mbconv", "pool", "fc")
_KEY_RE = re.compile(r"^(?P<kind>[a-z]+)\((?P<body>[^()]*)\)$")
_ABBREV = {"kernel": "k", "stride": "s", "groups": "g", "expand_conv": "xc", "residual": "res",
           "se_gate": "gate", "se_act": "seact"}
_FULL = {v: k for k, v in _ABBREV.items()}


@dataclass(frozen=True)
class Block:
    """One block of a network, with its input shape. Hashable, orderable, immutable.

    Kinds: ``conv`` (conv-BN-act; stems, 1x1 heads, projection skips), ``mbconv`` (inverted
    residual: optional 1x1 expand, kxk depthwise, optional squeeze-excite, 1x1 project, residual
    when shapes match), ``pool`` (global average pool) and ``fc`` (linear with bias, optional act).
    """

    kind: str
    cin: int
    cout: int
    hw: int
    kernel: int = 1
    stride: int = 1
    act: str = "none"
    mid: int = 0
    groups: int = 1
    se: int = 0
    se_gate: str = "none"
    se_act: str = "none"
    expand_conv: bool = False
    residual: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NasError(f"block kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if min(self.cin, self.cout, self.hw, self.kernel, self.stride, self.groups) < 1:
            raise NasError(f"block {self.key}: sizes must be positive")
        if self.kind == "mbconv" and self.mid < 1:
            raise NasError(f"block {self.key}: an mbconv needs mid >= 1")
        if self.kind == "fc" and self.hw != 1:
            raise NasError(f"block {self.key}: an fc block takes pooled input (hw=1)")

    # -- text form ---------------------------------------------------------------------------
    @cached_property
    def key(self) -> str:
        parts = []
        for f in dataclasses.fields(self)[1:]:
            value = getattr(self, f.name)
            if f.default is dataclasses.MISSING or value != f.default:
                text = str(int(value)) if isinstance(value, bool) else str(value)
                parts.append(f"{_ABBREV.get(f.name, f.name)}={text}")
        return f"{self.kind}({','.join(parts)})"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> Block:
        """Inverse of :attr:`key`."""
        m = _KEY_RE.match(key.strip())
        if m is None:
            raise NasError(f"block key {key!r}: expected kind(field=value,...)")
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        values: dict[str, object] = {"kind": m["kind"]}
        for item in filter(None, m["body"].split(",")):
            name, sep, text = item.partition("=")
            name = _FULL.get(name, name)
            if not sep or name not in types or name == "kind":
                raise NasError(f"block key {key!r}: unknown field {item!r}")
            kind = types[name]
            try:
                values[name] = (text if kind == "str" else bool(int(text)) if kind == "bool" else int(text))
            except ValueError:
                raise NasError(f"block key {key!r}: field {name} has bad value {text!r}") from None
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise NasError(f"block key {key!r}: {exc}") from None

    # -- shapes ------------------------------------------------------------------------------
    @property
    def out_hw(self) -> int:
        if self.kind == "pool":
            return 1
        return math.ceil(self.hw / self.stride)

    @property
    def in_shape(self) -> tuple[int, ...]:
        """Per-sample input shape: (C, H, W), or (C,) for fc."""
        return (self.cin,) if self.kind == "fc" else (self.cin, self.hw, self.hw)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (self.cout,) if self.kind in ("fc", "pool") else (self.cout, self.out_hw, self.out_hw)

    # -- costs -------------------------------------------------------------------------------
    @cached_property
    def macs(self) -> int:
        """Multiply-accumulates of one sample (convolutions and linear layers)."""
        o2 = self.out_hw * self.out_hw
        if self.kind == "conv":
            return self.cout * o2 * (self.cin // self.groups) * self.kernel**2
        if self.kind == "fc":
            return self.cin * self.cout
        if self.kind == "pool":
            return 0
        i2 = self.hw * self.hw
        macs = self.mid * o2 * self.kernel**2  # depthwise
        if self.expand_conv:
            macs += self.mid * i2 * (self.cin // self.groups)
        macs += 2 * self.mid * self.se  # squeeze-excite on the pooled vector
        macs += self.cout * o2 * (self.mid // self.groups)
        return macs

    @cached_property
    def params(self) -> int:
        """Trainable parameters (weights, biases, BN scale and shift)."""
        if self.kind == "conv":
            return self.cout * (self.cin // self.groups) * self.kernel**2 + 2 * self.cout
        if self.kind == "fc":
            return self.cin * self.cout + self.cout
        if self.kind == "pool":
            return 0
        p = self.mid * self.kernel**2 + 2 * self.mid
        if self.expand_conv:
            p += self.mid * (self.cin // self.groups) + 2 * self.mid
        if self.se:
            p += 2 * self.mid * self.se + self.se + self.mid
        p += self.cout * (self.mid // self.groups) + 2 * self.cout
        return p

    @cached_property
    def peak_activations(self) -> int:
        """Largest number of activation elements alive at once in this block, per sample.

        Model: each operator holds its input and output; a residual block also holds its input
        until the final add. This is the usual inference-engine estimate (MCUNet-style), not an
        allocator trace.
        """
        x = self.cin * self.hw * self.hw
        y = self.cout * self.out_hw * self.out_hw
        if self.kind != "mbconv":
            return x + (self.cout if self.kind == "pool" else y)
        held = x if self.residual else 0
        e = self.mid * self.hw * self.hw if self.expand_conv else x
        d = self.mid * self.out_hw * self.out_hw
        peaks = [x + e if self.expand_conv else 0,
                 (x if self.expand_conv else 0) + e + d if self.residual else e + d,
                 held + 2 * d if self.se else 0,
                 held + d + y,
                 x + 2 * y if self.residual else 0]
        return max(peaks)
