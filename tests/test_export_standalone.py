"""The standalone model.py of every reference arch and of a sample from every space builds the
same parameter shapes as the builder, in an isolated interpreter where nas cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.arch import REFERENCES, Arch
from nas.blocks import arch_to_blocks
from nas.export import model_source
from nas.models import build_model
from nas.space import get_space, list_spaces

_RUNNER = """
import importlib.util, json, sys
sys.modules['nas'] = None  # model.py must not need hwnas
import torch
out = {}
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location('m_' + str(len(out)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.build_model()
    out[path] = {k: list(v.shape) for k, v in net.state_dict().items()}
    if len(out) == 1:  # one forward pass, with the builder's weights, compared exactly
        net.load_state_dict(torch.load(path[:-3] + '.pt'))
        x = torch.randn(2, module.IN_CHANNELS, module.RESOLUTION, module.RESOLUTION,
                        generator=torch.Generator().manual_seed(0))
        torch.save(net.eval()(x).detach(), path[:-3] + '_out.pt')
print(json.dumps(out))
"""


def _cases() -> list[tuple[str, Arch, int, int]]:
    cases = [(name, ref.arch, 1000, 3) for name, ref in REFERENCES.items()]
    for i, name in enumerate(list_spaces()):
        space = get_space(name)
        arch = space.sample(np.random.default_rng(i))
        cases.append((f"space_{name}", arch, 10, 1 if i % 2 else 3))
    return cases


@pytest.mark.slow
def test_standalone_model_py_matches_builder_for_references_and_spaces(tmp_path: Path) -> None:
    expected: dict[str, dict[str, list[int]]] = {}
    first = None
    for name, arch, classes, in_channels in _cases():
        blocks = arch_to_blocks(arch, classes=classes, in_channels=in_channels)
        path = tmp_path / f"{name}.py"
        path.write_text(model_source(arch, blocks, classes=classes, in_channels=in_channels))
        model = build_model(arch, classes=classes, in_channels=in_channels)
        expected[str(path)] = {k: list(v.shape) for k, v in model.state_dict().items()}
        if first is None:
            first = (path, model, arch, in_channels)
            torch.save(model.state_dict(), tmp_path / f"{name}.pt")
    proc = subprocess.run([sys.executable, "-I", "-c", _RUNNER, *expected], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
    assert first is not None
    path, model, arch, in_channels = first
    x = torch.randn(2, in_channels, arch.resolution, arch.resolution,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(torch.load(str(path)[:-3] + "_out.pt"), model.eval()(x))
