"""Key enumeration: every block of every sampled arch is among the enumerated keys, and no more."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas._errors import NasError
from nas.blocks import arch_to_blocks
from nas.latency._enumerate import enumerate_blocks, restrict_space
from nas.space import get_space

CASES = [  # (space, resolution, in_channels, classes)
    ("mobilenet_v3", 224, 3, 1000),
    ("mobilenet_v3", 32, 1, 10),
    ("mobilenet_v2", 224, 3, 1000),
    ("mobilenet_v2", 32, 1, 10),
    ("efficientnet", 224, 3, 1000),
    ("efficientnet", 32, 1, 10),
    ("fbnet", 32, 3, 100),
    ("mnasnet", 224, 3, 1000),
]


@cache
def keys_of(space: str, resolution: int, in_channels: int, classes: int) -> frozenset[str]:
    blocks = enumerate_blocks(get_space(space), resolutions=[resolution], classes=classes,
                              in_channels=in_channels)
    return frozenset(b.key for b in blocks)


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**32 - 1))
def test_sampled_archs_are_covered(case: tuple[str, int, int, int], seed: int) -> None:
    name, res, cin, classes = case
    space = restrict_space(get_space(name), [res])
    keys = keys_of(*case)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        arch = space.sample(rng)
        for b in arch_to_blocks(arch, space, classes=classes, in_channels=cin):
            assert b.key in keys, f"{arch.text}: {b.key} not enumerated"


@pytest.mark.parametrize("case", CASES[:3] + CASES[4:5])
def test_every_enumerated_key_is_used_by_some_arch(case: tuple[str, int, int, int]) -> None:
    # Exact, not a superset: enough random archs reach every key (the sets are a few hundred).
    name, res, cin, classes = case
    space = restrict_space(get_space(name), [res])
    rng = np.random.default_rng(0)
    seen: set[str] = set()
    keys = keys_of(*case)
    for _ in range(3000):
        seen.update(b.key for b in arch_to_blocks(space.sample(rng), space, classes=classes,
                                                   in_channels=cin))
        if seen == keys:
            break
    assert seen == keys


def test_widths_and_resolutions_select_points() -> None:
    space = get_space("mobilenet_v3")
    both = {b.key for b in enumerate_blocks(space, resolutions=[224])}
    one = {b.key for b in enumerate_blocks(space, resolutions=[224], widths=[1.0])}
    assert one < both
    with pytest.raises(NasError, match="widths"):
        enumerate_blocks(space, resolutions=[224], widths=[0.5])
