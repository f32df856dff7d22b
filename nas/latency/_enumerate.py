"""Every block key a space can produce at given resolutions: enumerated from its structure.

A block's key depends only on its stage position: the stage's input channels (the previous
stage's channel choice), its output channels, the op, and whether it is the stage's first layer
(stride, input side) or a later one (no stride, ``cin == cout``). Depth never changes a key, and
neither do the other stages. So for each stage, each (previous channels, channels, op) triple is
lowered once through :func:`nas.blocks.arch_to_blocks` on a synthetic arch decoded from gene
values: the keys are exactly those real archs produce, with no sampling.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from nas._errors import NasError
from nas.arch import Arch
from nas.blocks import Block, arch_to_blocks
from nas.space import SearchSpace

GeneValue = int | float | str



@dataclass(frozen=True)
class SpacePoint:
    """One (resolution, width, depth multiplier) of a space, as a one-point sub-space."""

    resolution: int
    width: float
    space: SearchSpace


def space_points(space: SearchSpace, resolutions: Sequence[int] | None = None,
                 widths: Sequence[float] | None = None) -> list[SpacePoint]:
    """The sub-spaces with a single resolution and width (or scaling point) to enumerate.

    Args:
        space: the space.
        resolutions: input sides (default: the space's own).
        widths: width multipliers to keep (default: all the space has; for a compound-scaled
            space, the scaling points with these widths).
    """
    points = []
    if space.scales:
        scales = [s for s in space.scales if widths is None or s.width in widths]
        if not scales:
            raise NasError(f"space {space.name}: no scaling point has a width in "
                           f"{list(widths or [])}")
        for s in scales:
            for r in resolutions or [s.resolution]:
                sub = replace(space, scales=(replace(s, resolution=int(r)),), resolutions=(int(r),),
                              widths=(s.width,), default_resolution=int(r))
                points.append(SpacePoint(int(r), s.width, sub))
        return points
    use_widths = tuple(widths) if widths is not None else space.widths
    bad = [w for w in use_widths if w not in space.widths]
    if bad:
        raise NasError(f"space {space.name}: widths {bad} not in {list(space.widths)}")
    for r in resolutions or space.resolutions:
        for w in use_widths:
            sub = replace(space, resolutions=(int(r),), widths=(float(w),),
                          default_resolution=int(r))
            points.append(SpacePoint(int(r), float(w), sub))
    return points


def restrict_space(space: SearchSpace, resolutions: Sequence[int] | None = None,
                   widths: Sequence[float] | None = None) -> SearchSpace:
    """``space`` limited to these resolutions and widths (for sampling); same name and stages."""
    out = space.with_resolutions(resolutions) if resolutions else space
    if widths is None:
        return out
    if out.scales:
        keep = tuple(s for s in out.scales if s.width in widths)
        if not keep:
            raise NasError(f"space {space.name}: no scaling point has a width in {list(widths)}")
        return replace(out, scales=keep, widths=tuple(sorted({s.width for s in keep})))
    bad = [w for w in widths if w not in out.widths]
    if bad:
        raise NasError(f"space {space.name}: widths {bad} not in {list(out.widths)}")
    return replace(out, widths=tuple(sorted(float(w) for w in widths)))


def _synthetic_archs(sub: SearchSpace) -> Iterator[Arch]:
    genes = {g.name: g.choices for g in sub.genes}
    base: dict[str, GeneValue] = {name: choices[0] for name, choices in genes.items()}
    for i, spec in enumerate(sub.stages):
        first = sub.layer_choices(i, 0)
        later = sub.layer_choices(i, 1) if sub.max_layers(i) > 1 else ()
        ops = list(dict.fromkeys((*first, *later)))
        prev = sub.stages[i - 1].channels if i > 0 else (None,)
        for cp, c, op in itertools.product(prev, spec.channels, ops):
            values = dict(base)
            if cp is not None and f"s{i - 1}.channels" in genes:
                values[f"s{i - 1}.channels"] = cp
            if f"s{i}.channels" in genes:
                values[f"s{i}.channels"] = c
            if f"s{i}.depth" in genes:
                values[f"s{i}.depth"] = max(spec.depth)
            if spec.per_stage:
                if f"s{i}.op" in genes:
                    values[f"s{i}.op"] = op
            else:
                for j in range(sub.max_layers(i)):
                    name = f"s{i}.l{j}.op"
                    choices = sub.layer_choices(i, j)
                    if name in genes:
                        values[name] = op if op in choices else choices[0]
            yield sub.decode(values)


def enumerate_blocks(
    space: SearchSpace,
    *,
    resolutions: Sequence[int] | None = None,
    widths: Sequence[float] | None = None,
    classes: int = 1000,
    in_channels: int = 3,
) -> list[Block]:
    """Every distinct block the space produces at these resolutions and widths, sorted by key."""
    found: dict[str, Block] = {}
    for point in space_points(space, resolutions, widths):
        for arch in _synthetic_archs(point.space):
            for b in arch_to_blocks(arch, point.space, classes=classes, in_channels=in_channels):
                found.setdefault(b.key, b)
    return [found[k] for k in sorted(found)]
