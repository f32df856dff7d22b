"""Builder: every sampled arch of every space and every reference builds and runs, and the
analytic cost model equals torch's FLOP counter and parameter count on the built module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nas.arch import REFERENCES, Arch
from nas.cost import arch_cost
from nas.models import build_model
from nas.space import get_space, list_spaces


def _check(arch: Arch, classes: int, in_channels: int, resolution: int | None = None,
           batch: int = 2) -> None:
    if resolution is not None:
        arch = arch.replace(resolution=resolution)
    model = build_model(arch, classes=classes, in_channels=in_channels).eval()
    x = torch.randn(batch, in_channels, arch.resolution, arch.resolution)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = model(x)
    assert y.shape == (batch, classes)
    assert torch.isfinite(y).all()
    cost = arch_cost(arch, classes=classes, in_channels=in_channels)
    assert counter.get_total_flops() == 2 * batch * cost.macs  # 2 FLOPs per MAC
    assert sum(p.numel() for p in model.parameters()) == cost.params


@pytest.mark.parametrize("name", list_spaces())
@pytest.mark.parametrize("seed", range(3))
def test_sampled_arch_forward_and_costs(name: str, seed: int) -> None:
    space = get_space(name)
    arch = space.sample(np.random.default_rng(seed))
    # the search's small-image setting and the space's own smallest resolution
    _check(arch, classes=10, in_channels=1, resolution=32)
    _check(arch, classes=1000, in_channels=3, resolution=min(space.resolutions), batch=1)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_reference_forward_and_costs(name: str) -> None:
    _check(REFERENCES[name].arch, classes=1000, in_channels=3, batch=1)


def test_training_step_changes_weights_and_stays_finite() -> None:
    arch = get_space("mobilenet_v3").sample(np.random.default_rng(0)).replace(resolution=32)
    model = build_model(arch, classes=10, in_channels=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 1, 32, 32), torch.randint(0, 10, (8,))
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_model_keeps_its_block_keys() -> None:
    arch = REFERENCES["mnasnet_a1"].arch
    model = build_model(arch)
    assert len(model.blocks) == len(model)
    assert model.blocks[0].key.startswith("conv(cin=3,cout=32,hw=224")
