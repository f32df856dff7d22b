"""The supernet module: every arch of the space is a subnet, extracted exactly as the builder
builds it, computing what the supernet computes with that arch active."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from _supernet_tiny import TINY_SPACE

from nas import NasError
from nas.arch import Arch
from nas.cost import arch_cost
from nas.models import NASNet, build_model
from nas.space import SearchSpace, get_space
from nas.supernet import Supernet, build_supernet, check_supported, space_hash

SPACES = ["mobilenet_v3", "mobilenet_v2"]


@pytest.fixture(scope="module", params=SPACES)
def supernet(request: pytest.FixtureRequest) -> Supernet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        sn = build_supernet(request.param, classes=10, in_channels=1, resolutions=[8, 12], dropout=0.1)
        # Non-trivial BN statistics and kernel transforms, so that slicing mistakes show.
        for name, t in sn.named_buffers():
            if name.endswith("running_mean"):
                t.normal_()
            elif name.endswith("running_var"):
                t.uniform_(0.5, 2.0)
        for p in sn.kernel_transforms.values():
            p.data += 0.1 * torch.randn_like(p)
    sn.eval()
    return sn


def _archs(sn: Supernet, n: int = 4) -> list[Arch]:
    rng = np.random.default_rng(0)
    return [sn.largest, sn.smallest, *(sn.sample(rng) for _ in range(n))]


def test_every_sampled_arch_extracts_as_build_model_builds_it(supernet: Supernet) -> None:
    for arch in _archs(supernet):
        model = supernet.extract(arch)
        ref = build_model(arch, supernet.space, classes=10, in_channels=1, dropout=0.1)
        assert type(model) is NASNet and model.blocks == ref.blocks
        assert [(k, v.shape) for k, v in model.state_dict().items()] == \
            [(k, v.shape) for k, v in ref.state_dict().items()]
        ref.load_state_dict(model.state_dict())
        ref.eval()
        model.eval()
        x = torch.randn(3, 1, arch.resolution, arch.resolution, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ours, theirs, shared = model(x), ref(x), supernet(x, arch)
        assert torch.equal(ours, theirs)
        assert torch.equal(ours, shared)


def test_largest_subnet_is_the_shared_weights(supernet: Supernet) -> None:
    state = supernet.extract(supernet.largest).state_dict()
    storage = supernet.net.state_dict()
    assert len(state) == len(storage)
    for (k, v), (ks, vs) in zip(state.items(), storage.items(), strict=True):
        assert k.partition(".")[2] == ks.partition(".")[2] and torch.equal(v, vs), k


def test_sorting_channels_keeps_the_largest_function(supernet: Supernet) -> None:
    sn = copy.deepcopy(supernet)
    arch = sn.largest
    x = torch.randn(2, 1, arch.resolution, arch.resolution)
    with torch.no_grad():
        before = sn(x, arch)
        sn.sort_channels()
        after = sn(x, arch)
    torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-6)


def test_gradients_reach_shared_weights_and_kernel_transforms() -> None:
    sn = build_supernet("mobilenet_v3", classes=10, in_channels=1, resolutions=[8])
    sn.train()
    rng = np.random.default_rng(3)
    arch = next(a for a in (sn.sample(rng) for _ in range(50))
                if any(layer.kernel == 3 for s in a.stages[1:] for layer in s.layers))
    sn(torch.randn(4, 1, 8, 8), arch).sum().backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in sn.kernel_transforms.values())
    assert sn.net[0][0].weight.grad is not None


def test_extremes_span_the_macs_range(supernet: Supernet) -> None:
    def macs(a: Arch) -> int:
        return arch_cost(a, supernet.space, classes=10, in_channels=1).macs

    sampled = [macs(a) for a in _archs(supernet, 20)[2:]]
    assert macs(supernet.smallest) <= min(sampled) and macs(supernet.largest) >= max(sampled)


def test_archs_outside_the_choices_are_named(supernet: Supernet) -> None:
    arch = supernet.largest
    bad_kernel = arch.replace(stages=(arch.stages[0], arch.stages[1].__class__(
        arch.stages[1].channels, tuple(layer.__class__(kernel=9, expand=layer.expand) for layer in
                                       arch.stages[1].layers)), *arch.stages[2:]))
    with pytest.raises(NasError, match=r"outside the supernet's choices: .*k9e6"):
        supernet.extract(bad_kernel)
    with pytest.raises(NasError, match="resolution 32 not in"):
        supernet.extract(arch.replace(resolution=32))
    other = "mobilenet_v2" if supernet.space.name == "mobilenet_v3" else "mobilenet_v3"
    with pytest.raises(NasError, match=f"arch is of space '{other}'"):
        supernet.extract(get_space(other).sample(np.random.default_rng(0)))


def test_unsupported_space_is_refused_with_reasons() -> None:
    with pytest.raises(NasError, match=r"space fbnet: the supernet does not support .*groups > 1"):
        check_supported(get_space("fbnet"))


def test_space_hash_follows_the_content_not_the_formatting() -> None:
    text = TINY_SPACE.format(name="tiny_hash")
    a = SearchSpace.from_dict(yaml.safe_load(text))
    b = SearchSpace.from_dict(yaml.safe_load("# a comment\n" + text.replace(", ", ",  ")))
    c = SearchSpace.from_dict(yaml.safe_load(text.replace("kernel: [3, 5, 7]", "kernel: [3, 5]")))
    assert space_hash(a) == space_hash(b) != space_hash(c)


# The root package's own shared helpers (errors, the one YAML reader), not another package's internals.
_ROOT_HELPERS = ("nas._errors", "nas._yaml")


def test_the_package_sits_below_search_export_cli_and_latency() -> None:
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import nas.supernet

    forbidden = ("nas.search", "nas.distributed", "nas.export", "nas.cli", "nas.latency")
    for path in Path(nas.supernet.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.startswith(forbidden)], (path.name, names)
            assert not [n for n in names if n.startswith("nas.") and "._" in n
                        and not n.startswith("nas.supernet.") and n not in _ROOT_HELPERS], (path.name, names)
    code = ("import sys, nas.supernet; print(sorted({m.rsplit('.', m.count('.') - 1)[0] "
            "for m in sys.modules if m.split('.')[:2] in (['nas', 'search'], ['nas', 'distributed'], "
            "['nas', 'export'], ['nas', 'cli'])}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
