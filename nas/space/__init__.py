"""Search spaces: declarative YAML files, validated into typed :class:`SearchSpace` objects."""

from __future__ import annotations

from nas.space._registry import get_space, list_spaces, register_space, space_dirs
from nas.space._schema import HeadSpec, ScaleSpec, SEConvention, StageSpec, StemSpec
from nas.space._space import Gene, SearchSpace, make_divisible

__all__ = [
    "Gene",
    "HeadSpec",
    "SEConvention",
    "ScaleSpec",
    "SearchSpace",
    "StageSpec",
    "StemSpec",
    "get_space",
    "list_spaces",
    "make_divisible",
    "register_space",
    "space_dirs",
]
