"""The :class:`SearchSpace`: genes, sampling, Optuna suggestion, encoding and membership."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nas._errors import NasError
from nas.arch import Arch, Layer, Stage
from nas.space._schema import (
    HeadSpec,
    ScaleSpec,
    SEConvention,
    StageSpec,
    StemSpec,
    _Fields,
    parse_head,
    parse_scaling,
    parse_stage,
    read_space_file,
)

if TYPE_CHECKING:
    import optuna

GeneValue = int | float | str


@dataclass(frozen=True)
class Gene:
    """One searchable decision: a name and its ordered choices."""

    name: str
    choices: tuple[GeneValue, ...]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without dropping more than 10% (MobileNet rule)."""
    if divisor <= 1:
        return max(1, round(value))
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@lru_cache(maxsize=4096)
def _layer(token: str) -> Layer:
    return Layer.parse(token)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space. Build one with :meth:`from_file` or :func:`nas.space.get_space`."""

    name: str
    description: str
    citation: str
    resolutions: tuple[int, ...]
    widths: tuple[float, ...]
    default_resolution: int
    channel_divisor: int
    skip_projection: bool
    expand_conv_at_e1: bool
    se: SEConvention
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head: tuple[HeadSpec, ...]
    scales: tuple[ScaleSpec, ...] = ()
    path: str = ""

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        path = Path(path)
        return cls.from_dict(read_space_file(path), source=path.name, path=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "space", path: str = "") -> SearchSpace:
        f = _Fields(data, source)
        f.check_known(("name", "description", "citation", "resolution", "default_resolution", "width",
                       "channel_divisor", "skip_projection", "expand_conv_at_e1", "se", "stem",
                       "stages", "head", "scaling"))
        name = f.raw("name")
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise NasError(f"{f.sub('name')}: {name!r} must be letters, digits and _")
        se_f = _Fields(f.raw("se", {}), f.sub("se"))
        se_f.check_known(("ratio", "base", "divisor", "gate", "act"))
        se = SEConvention(
            ratio=se_f.number("ratio", 0.25),
            base=se_f.choice("base", ("mid", "in"), "mid"),
            divisor=se_f.integer("divisor", 1),
            gate=se_f.choice("gate", ("sigmoid", "hsigmoid"), "sigmoid"),
            act=se_f.choice("act", ("relu", "swish"), "relu"),
        )
        st = _Fields(f.raw("stem"), f.sub("stem"))
        st.check_known(("out", "kernel", "stride", "act"))
        stem = StemSpec(st.integer("out"), st.integer("kernel", 3), st.integer("stride", 2),
                        st.choice("act", ("relu", "relu6", "hswish", "swish", "none")))
        raw_stages = f.raw("stages")
        if not isinstance(raw_stages, list) or not raw_stages:
            raise NasError(f"{f.sub('stages')}: must be a non-empty list")
        stages = tuple(parse_stage(s, f"{source}: stages[{i}]") for i, s in enumerate(raw_stages))
        scales = parse_scaling(f.raw("scaling"), f.sub("scaling")) if f.has("scaling") else ()
        resolutions = f.ints("resolution", low=8) if not scales else tuple(
            sorted({s.resolution for s in scales}))
        default_res = f.integer("default_resolution", max(resolutions), low=8)
        space = cls(
            name=name,
            description=str(f.raw("description", "")),
            citation=str(f.raw("citation", "")),
            resolutions=resolutions,
            widths=f.nums("width", 1.0) if not scales else tuple(sorted({s.width for s in scales})),
            default_resolution=default_res,
            channel_divisor=f.integer("channel_divisor", 8),
            skip_projection=f.flag("skip_projection", False),
            expand_conv_at_e1=f.flag("expand_conv_at_e1", False),
            se=se,
            stem=stem,
            stages=stages,
            head=parse_head(f.raw("head"), f.sub("head")),
            scales=scales,
            path=path,
        )
        if scales and (f.has("resolution") or f.has("width")):
            raise NasError(f"{source}: give either 'scaling' or 'resolution'/'width', not both")
        return space

    def with_resolutions(self, resolutions: Sequence[int]) -> SearchSpace:
        """The same space searched at other input resolutions (e.g. small dataset images)."""
        res = tuple(sorted(set(int(r) for r in resolutions)))
        if not res or min(res) < 8:
            raise NasError(f"space {self.name}: resolutions must be integers >= 8, got {list(resolutions)}")
        scales = tuple(replace(s, resolution=res[0]) for s in self.scales) if len(res) == 1 else ()
        if self.scales and len(res) > 1:
            raise NasError(f"space {self.name}: a compound-scaled space takes one resolution override")
        return replace(self, resolutions=res, default_resolution=res[-1], scales=scales)

    # -- genes -------------------------------------------------------------------------------
    def layer_choices(self, stage: int, layer: int) -> tuple[str, ...]:
        spec = self.stages[stage]
        ops = tuple(str(op) for op in spec.ops)
        if spec.skip and (layer > 0 or self.skip_projection):
            ops += ("skip",)
        return ops

    def max_layers(self, stage: int) -> int:
        dm = max((s.depth for s in self.scales), default=1.0)
        return math.ceil(max(self.stages[stage].depth) * dm)

    @cached_property
    def genes(self) -> tuple[Gene, ...]:
        """Every gene with more than one choice, in a fixed order."""
        genes: list[Gene] = []
        if self.scales:
            genes.append(Gene("scale", tuple(s.name for s in self.scales)))
        else:
            genes.append(Gene("resolution", self.resolutions))
            genes.append(Gene("width", self.widths))
        for i, spec in enumerate(self.stages):
            genes.append(Gene(f"s{i}.channels", spec.channels))
            genes.append(Gene(f"s{i}.depth", spec.depth))
            if spec.per_stage:
                genes.append(Gene(f"s{i}.op", self.layer_choices(i, 1)))
            else:
                genes.extend(Gene(f"s{i}.l{j}.op", self.layer_choices(i, j))
                             for j in range(self.max_layers(i)))
        return tuple(g for g in genes if len(g.choices) > 1)

    @cached_property
    def _gene_index(self) -> dict[str, Gene]:
        return {g.name: g for g in self.genes}

    def _constant(self, name: str) -> GeneValue:
        """The value of a gene that has one choice (and is therefore not in :attr:`genes`)."""
        if name == "scale":
            return self.scales[0].name
        if name == "resolution":
            return self.resolutions[0]
        if name == "width":
            return self.widths[0]
        parts = name.split(".")
        i = int(parts[0][1:])
        if parts[1] == "channels":
            return self.stages[i].channels[0]
        if parts[1] == "depth":
            return self.stages[i].depth[0]
        j = int(parts[1][1:]) if parts[1] != "op" else 1
        return self.layer_choices(i, j)[0]

    def decode(self, values: Mapping[str, GeneValue]) -> Arch:
        """Gene values (a dict with an entry per gene in :attr:`genes`) to an :class:`Arch`."""
        known = self._gene_index
        for name, value in values.items():
            if name in known and value not in known[name].choices:
                raise NasError(f"space {self.name}: gene {name!r} value {value!r} not in "
                               f"{list(known[name].choices)}")

        def get(name: str) -> GeneValue:
            if name in known:
                if name not in values:
                    raise NasError(f"space {self.name}: no value for gene {name!r}")
                return values[name]
            return self._constant(name)

        if self.scales:
            scale = next(s for s in self.scales if s.name == get("scale"))
            width, dm, res = scale.width, scale.depth, scale.resolution
        else:
            width, dm, res = float(get("width")), 1.0, int(get("resolution"))
        stages = []
        for i, spec in enumerate(self.stages):
            n = math.ceil(int(get(f"s{i}.depth")) * dm)
            ops = [f"s{i}.op"] * n if spec.per_stage else [f"s{i}.l{j}.op" for j in range(n)]
            tokens = [str(get(name)) for name in ops]
            stages.append(Stage(int(get(f"s{i}.channels")), tuple(_layer(t) for t in tokens)))
        return Arch(self.name, res, tuple(stages), width=width, depth_mult=dm)

    def encode(self, arch: Arch) -> dict[str, GeneValue]:
        """The gene values that :meth:`decode` maps to ``arch`` (unused layer genes: first choice)."""
        self.check(arch, raise_error=True)
        values: dict[str, GeneValue] = {}
        scale = None
        if self.scales:
            scale = next(s for s in self.scales
                         if (s.width, s.depth, s.resolution) == (arch.width, arch.depth_mult, arch.resolution))
            values["scale"] = scale.name
        else:
            values["resolution"], values["width"] = arch.resolution, arch.width
        dm = arch.depth_mult
        for i, (spec, stage) in enumerate(zip(self.stages, arch.stages, strict=True)):
            values[f"s{i}.channels"] = stage.channels
            values[f"s{i}.depth"] = next(d for d in spec.depth if math.ceil(d * dm) == len(stage.layers))
            if spec.per_stage:
                values[f"s{i}.op"] = str(stage.layers[0])
            else:
                for j in range(self.max_layers(i)):
                    values[f"s{i}.l{j}.op"] = (str(stage.layers[j]) if j < len(stage.layers)
                                               else self.layer_choices(i, j)[0])
        names = {g.name for g in self.genes}
        return {k: v for k, v in values.items() if k in names}

    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly sampled arch (each gene uniform); always valid, no rejection loop."""
        return self.decode({g.name: g.choices[int(rng.integers(len(g.choices)))] for g in self.genes})

    def suggest(self, trial: optuna.trial.BaseTrial) -> Arch:
        """Suggest every gene through an Optuna trial (all genes in every trial, for NSGA-II)."""
        values: dict[str, GeneValue] = {}
        for g in self.genes:
            value = trial.suggest_categorical(g.name, list(g.choices))
            if value is None:
                raise NasError(f"space {self.name}: Optuna suggested None for gene {g.name!r}")
            values[g.name] = value
        return self.decode(values)

    @property
    def size(self) -> int:
        """Number of distinct gene assignments (an upper bound on distinct archs)."""
        return math.prod(len(g.choices) for g in self.genes)

    # -- membership --------------------------------------------------------------------------
    def check(self, arch: Arch, *, raise_error: bool = False) -> list[str]:
        """Reasons why ``arch`` is not in this space (empty when it is)."""
        why: list[str] = []
        if arch.space != self.name:
            why.append(f"arch is of space {arch.space!r}, not {self.name!r}")
        if self.scales:
            if (arch.width, arch.depth_mult, arch.resolution) not in {
                    (s.width, s.depth, s.resolution) for s in self.scales}:
                why.append(f"(width, depth multiplier, resolution) = ({arch.width}, {arch.depth_mult}, "
                           f"{arch.resolution}) is no scaling point of {[s.name for s in self.scales]}")
        else:
            if arch.resolution not in self.resolutions:
                why.append(f"resolution {arch.resolution} not in {list(self.resolutions)}")
            if arch.width not in self.widths:
                why.append(f"width {arch.width} not in {list(self.widths)}")
            if arch.depth_mult != 1.0:
                why.append(f"depth multiplier {arch.depth_mult} given but the space has no scaling")
        if len(arch.stages) != len(self.stages):
            why.append(f"{len(arch.stages)} stages, the space has {len(self.stages)}")
        for i, (spec, stage) in enumerate(zip(self.stages, arch.stages, strict=False)):
            if stage.channels not in spec.channels:
                why.append(f"stage {i}: channels {stage.channels} not in {list(spec.channels)}")
            depths = sorted({math.ceil(d * arch.depth_mult) for d in spec.depth})
            if len(stage.layers) not in depths:
                why.append(f"stage {i}: {len(stage.layers)} layers, allowed {depths}")
            if spec.per_stage and len(set(stage.layers)) > 1:
                why.append(f"stage {i}: layers differ but the space chooses one op per stage")
            for j, layer in enumerate(stage.layers):
                if str(layer) not in self.layer_choices(i, j):
                    why.append(f"stage {i} layer {j}: {layer} not in {list(self.layer_choices(i, j))}")
        if why and raise_error:
            raise NasError(f"arch not in space {self.name}: " + "; ".join(why))
        return why

    def contains(self, arch: Arch) -> bool:
        return not self.check(arch)

    def check_any_resolution(self, arch: Arch) -> list[str]:
        """:meth:`check` with the space searched at the arch's own resolution.

        A search config's ``resolutions`` may search a space at any input size (the quickstart
        runs ``mobilenet_v3`` at 32 px), so whether an arch belongs to a space is a question of
        its stages, ops, width (and scaling point), not of the space's default resolutions.
        """
        if arch.resolution < 8 or arch.resolution in self.resolutions:
            return self.check(arch)
        return self.with_resolutions([arch.resolution]).check(arch)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "stages": len(self.stages),
            "genes": len(self.genes),
            "resolutions": list(self.resolutions),
            "widths": list(self.widths),
            "size": self.size,
        }
