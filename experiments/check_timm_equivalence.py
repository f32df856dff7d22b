"""Check exported timm ``arch_def`` strings against timm itself: build the timm model from the
export's snippet, copy hwnas's weights into it in order, and compare outputs.

timm is not a dependency (and must not be installed beside the pinned CPU torch). Give it the
path of an unpacked timm wheel instead::

    pip download --no-deps timm -d /tmp/timm && unzip -q /tmp/timm/timm-*.whl -d /tmp/timm/src
    python experiments/check_timm_equivalence.py --timm-src /tmp/timm/src

timm's package import pulls in torchvision for its data pipeline; the model code this check uses
does not, so ``torchvision`` is replaced by an empty stand-in module while timm is imported.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

import numpy as np
import torch
from _results import write_section

from nas.arch import REFERENCES, Arch
from nas.blocks import arch_to_blocks
from nas.export import timm_arch_def
from nas.models import build_model
from nas.space import get_space


class _Anything(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return name


class _StandIn(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(name, (), {})


class _TorchvisionStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _StandIn(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__path__ = []


def compare(arch: Arch, resolution: int = 64, classes: int = 10) -> dict[str, Any]:
    arch = arch.replace(resolution=resolution)
    space = get_space(arch.space)
    d = timm_arch_def(arch, space, arch_to_blocks(arch, space, classes=classes))
    if not d["expressible"]:
        return {"arch": arch.text, "expressible": False, "reason": "; ".join(d["reasons"])}
    namespace: dict[str, Any] = {}
    exec(d["python"], namespace)
    timm_model = namespace["model"].eval()
    ours = build_model(arch, space, classes=classes).eval()
    theirs, mine = list(timm_model.state_dict().items()), list(ours.state_dict().items())
    same_shapes = len(theirs) == len(mine) and all(
        t.numel() == m.numel() for (_, t), (_, m) in zip(theirs, mine, strict=True))
    diff = None
    if same_shapes:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, v in mine:  # random weights and BN statistics, so the outputs are not tiny
                if v.dtype.is_floating_point:
                    r = torch.rand(v.shape, generator=gen) + 0.5 if "running_var" in name else \
                        torch.randn(v.shape, generator=gen) * 0.1
                    v.copy_(r)
            timm_model.load_state_dict({k: m.reshape(t.shape) for (k, t), (_, m)
                                        in zip(theirs, mine, strict=True)})
            x = torch.randn(2, 3, resolution, resolution, generator=gen)
            diff = float((timm_model(x) - ours(x)).abs().max())
    return {"arch": arch.text, "expressible": True, "same_shapes": same_shapes,
            "params": sum(p.numel() for p in ours.parameters()),
            "timm_params": sum(p.numel() for p in timm_model.parameters()), "max_abs_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--timm-src", required=True, help="folder holding the timm package")
    ap.add_argument("--samples", type=int, default=4, help="samples per space")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sys.meta_path.insert(0, _TorchvisionStandIn())
    sys.path.insert(0, args.timm_src)
    import timm

    cases = [(name, ref.arch) for name, ref in REFERENCES.items()]
    rng = np.random.default_rng(1)
    for s in ("mobilenet_v2", "mobilenet_v3", "efficientnet", "mnasnet", "fbnet"):
        cases += [(f"{s} sample {i}", get_space(s).sample(rng)) for i in range(args.samples)]
    rows = []
    for name, arch in cases:
        r = compare(arch)
        if r["expressible"]:
            ok = r["same_shapes"] and r["max_abs_diff"] is not None and r["max_abs_diff"] < 1e-4
            rows.append(f"| {name} | yes | {r['params']:,} | {r['timm_params']:,} | "
                        f"{r['max_abs_diff']:.1e} | {'ok' if ok else 'MISMATCH'} |")
        else:
            rows.append(f"| {name} | no | | | | {r['reason']} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        f"timm {timm.__version__}: the model built from each exported `arch_def` (the snippet in "
        "`timm_arch_def.json`) against hwnas's, with hwnas's random weights copied in order, "
        "64x64 input, 10 classes.",
        "",
        "| arch | expressible | params (hwnas) | params (timm) | max abs output diff | result |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    if args.no_write:
        print(body)
    else:
        write_section("timm_equivalence", "timm arch_def equivalence", body)


if __name__ == "__main__":
    main()
