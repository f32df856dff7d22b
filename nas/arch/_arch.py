"""Typed architecture specs and their canonical text form.

Grammar (one line, no spaces)::

    arch   := SPACE ":r" INT ":w" NUM [":d" NUM] ("|" stage)+
    stage  := "c" INT ":" layer ("," layer)*
    layer  := "skip" | "k" INT "e" NUM ["_g" INT] ["_se"]
    NUM    := integer or decimal, written in its shortest exact form ("6", "2.3", "1.2")

``r`` is the input resolution, ``w`` the width multiplier, ``d`` the depth multiplier (written only
when it is not 1, as after EfficientNet-style compound scaling). Each stage names its base output
channels (before the width multiplier) and lists its layers in order: ``k5e6_se`` is an inverted
residual block with a 5x5 depthwise kernel, expansion ratio 6 (relative to the layer's input
channels) and squeeze-excite; ``_g2`` makes the pointwise convolutions grouped (FBNet); ``skip`` is
an identity where shapes allow and a 1x1 projection where the space permits one. Stride, activation
and the SE convention belong to the space, not the arch.

Example: ``mobilenet_v3:r224:w1|c16:k3e1|c24:k3e4,k3e3|c40:k5e3_se,k5e3_se,k5e3_se|...``

The canonical form is unique: parsing then formatting returns the same string, and
:attr:`Arch.hash` is a hash of it, stable across processes and versions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from nas._errors import NasError

_LAYER_RE = re.compile(r"^k(?P<k>[1-9][0-9]*)e(?P<e>[0-9]+(?:\.[0-9]+)?)(?:_g(?P<g>[1-9][0-9]*))?(?P<se>_se)?$")
_SPACE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
JSON_VERSION = 1


def format_num(x: float) -> str:
    """Shortest exact text for a multiplier or ratio: ``6.0 -> "6"``, ``2.3 -> "2.3"``."""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def _parse_num(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NasError(f"{what}: {text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise NasError(f"{what}: {text!r} must be a positive finite number")
    return value


@dataclass(frozen=True, order=True)
class Layer:
    """One layer of a stage: an inverted-residual block, or ``skip``."""

    kernel: int = 0
    expand: float = 0.0
    groups: int = 1
    se: bool = False
    skip: bool = False

    def __post_init__(self) -> None:
        if self.skip:
            if (self.kernel, self.expand, self.groups, self.se) != (0, 0.0, 1, False):
                raise NasError("a skip layer takes no kernel, expand, groups or se")
            return
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise NasError(f"layer kernel must be a positive odd integer, got {self.kernel}")
        if not self.expand > 0:
            raise NasError(f"layer expand must be positive, got {self.expand}")
        if self.groups < 1:
            raise NasError(f"layer groups must be >= 1, got {self.groups}")

    @classmethod
    def parse(cls, token: str) -> Layer:
        """Parse one layer token (``skip``, ``k3e6``, ``k5e1_g2``, ``k3e4_se``)."""
        if token == "skip":
            return cls(skip=True)
        m = _LAYER_RE.match(token)
        if m is None:
            raise NasError(
                f"layer {token!r}: expected 'skip' or k<kernel>e<expand>[_g<groups>][_se], e.g. k3e6_se"
            )
        return cls(
            kernel=int(m["k"]),
            expand=_parse_num(m["e"], f"layer {token!r} expand"),
            groups=int(m["g"] or 1),
            se=bool(m["se"]),
        )

    def __str__(self) -> str:
        if self.skip:
            return "skip"
        text = f"k{self.kernel}e{format_num(self.expand)}"
        if self.groups != 1:
            text += f"_g{self.groups}"
        if self.se:
            text += "_se"
        return text


@dataclass(frozen=True)
class Stage:
    """A stage: base output channels (before the width multiplier) and its layers in order."""

    channels: int
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise NasError(f"stage channels must be >= 1, got {self.channels}")
        if not self.layers:
            raise NasError("a stage needs at least one layer")

    def __str__(self) -> str:
        return f"c{self.channels}:" + ",".join(str(layer) for layer in self.layers)


@dataclass(frozen=True)
class Arch:
    """A complete, typed, immutable architecture of a named space."""

    space: str
    resolution: int
    stages: tuple[Stage, ...]
    width: float = 1.0
    depth_mult: float = 1.0

    def __post_init__(self) -> None:
        if not _SPACE_RE.match(self.space):
            raise NasError(f"arch space name {self.space!r} must be letters, digits, _ . -")
        if self.resolution < 8:
            raise NasError(f"arch resolution must be >= 8, got {self.resolution}")
        if not self.stages:
            raise NasError("an arch needs at least one stage")

    # -- text form ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Arch:
        """Parse the canonical text form (see the module docstring for the grammar)."""
        text = text.strip()
        head, sep, body = text.partition("|")
        if not sep:
            raise NasError(f"arch {text[:60]!r}: expected SPACE:rRES:wWIDTH|stage|..., no '|' found")
        fields = head.split(":")
        space, opts = fields[0], fields[1:]
        values: dict[str, str] = {}
        for opt in opts:
            if len(opt) < 2 or opt[0] not in "rwd" or opt[0] in values:
                raise NasError(f"arch header {head!r}: field {opt!r} is not one of r<int>, w<num>, d<num>")
            values[opt[0]] = opt[1:]
        if "r" not in values:
            raise NasError(f"arch header {head!r}: missing resolution field r<int>")
        if not values["r"].isdigit():
            raise NasError(f"arch header {head!r}: resolution {values['r']!r} is not an integer")
        stages = tuple(_parse_stage(s, i) for i, s in enumerate(body.split("|")))
        return cls(
            space=space,
            resolution=int(values["r"]),
            stages=stages,
            width=_parse_num(values.get("w", "1"), "arch width"),
            depth_mult=_parse_num(values.get("d", "1"), "arch depth multiplier"),
        )

    def __str__(self) -> str:
        head = f"{self.space}:r{self.resolution}:w{format_num(self.width)}"
        if self.depth_mult != 1.0:
            head += f":d{format_num(self.depth_mult)}"
        return head + "|" + "|".join(str(s) for s in self.stages)

    @property
    def text(self) -> str:
        """The canonical text form."""
        return str(self)

    @property
    def hash(self) -> str:
        """A stable 16-hex-digit hash of the canonical text."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def depths(self) -> tuple[int, ...]:
        """Number of non-skip layers per stage."""
        return tuple(sum(not layer.skip for layer in s.layers) for s in self.stages)

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; layers are their text tokens."""
        return {
            "version": JSON_VERSION,
            "space": self.space,
            "resolution": self.resolution,
            "width": self.width,
            "depth_mult": self.depth_mult,
            "stages": [
                {"channels": s.channels, "layers": [str(layer) for layer in s.layers]}
                for s in self.stages
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "arch JSON") -> Arch:
        """Inverse of :meth:`to_dict`; errors name ``source`` and the field."""
        if not isinstance(data, dict):
            raise NasError(f"{source}: expected an object")
        version = data.get("version", JSON_VERSION)
        if version != JSON_VERSION:
            raise NasError(f"{source}: field 'version' is {version!r}, only {JSON_VERSION} is known")
        for key in ("space", "resolution", "stages"):
            if key not in data:
                raise NasError(f"{source}: missing field {key!r}")
        stages = data["stages"]
        if not isinstance(stages, list):
            raise NasError(f"{source}: field 'stages' must be a list")
        parsed = []
        for i, s in enumerate(stages):
            if not isinstance(s, dict) or "channels" not in s or "layers" not in s:
                raise NasError(f"{source}: stages[{i}] needs 'channels' and 'layers'")
            if not isinstance(s["layers"], list):
                raise NasError(f"{source}: stages[{i}].layers must be a list of layer tokens")
            parsed.append(Stage(int(s["channels"]), tuple(Layer.parse(str(t)) for t in s["layers"])))
        try:
            return cls(
                space=str(data["space"]),
                resolution=int(data["resolution"]),
                stages=tuple(parsed),
                width=float(data.get("width", 1.0)),
                depth_mult=float(data.get("depth_mult", 1.0)),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, NasError):
                raise NasError(f"{source}: {exc}") from None
            raise NasError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "arch JSON") -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NasError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source=source)

    def replace(self, **changes: Any) -> Arch:
        """A copy with some fields changed (the arch itself is immutable)."""
        return dataclasses.replace(self, **changes)


def _parse_stage(text: str, index: int) -> Stage:
    chan, sep, layers = text.partition(":")
    if not sep or not chan.startswith("c") or not chan[1:].isdigit():
        raise NasError(f"arch stage {index} {text!r}: expected c<channels>:layer,layer,...")
    tokens = layers.split(",")
    try:
        return Stage(int(chan[1:]), tuple(Layer.parse(t) for t in tokens))
    except NasError as exc:
        raise NasError(f"arch stage {index}: {exc}") from None
