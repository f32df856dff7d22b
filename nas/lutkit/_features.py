"""Per-block features for fitting block latencies from whole-network timings.

A whole network's latency is modelled as ``overhead + sum over blocks of v(block)``, with
``v(block) = sum_f coef_f * feature_f(block)`` and every ``coef_f >= 0``. The features say what
costs time: a per-block constant and the work of each part (expand, depthwise by kernel size,
project, squeeze-excite, activation traffic), grouped by the block's position-defining shape
(kind, input and output channels, stride) so that each stage's blocks get their own efficiency,
plus one shared term per launched kernel, which is what dominates a GPU at batch 1 (each
convolution, batch norm, activation, SE op and residual add is one launch in eager PyTorch).
Because the model is a sum over blocks, the fitted ``v(block)`` of every block key is a table
entry, and the table predicts exactly what the fit does.
"""

from __future__ import annotations

from nas.blocks import Block
from nas.latency import eager_kernels

MEGA = 1e-6


def block_group(b: Block) -> str:
    """The shape class whose blocks share efficiency coefficients."""
    if b.kind == "mbconv":
        return f"mb{b.cin}-{b.cout}-s{b.stride}"
    return f"{b.kind}{b.cin}-{b.cout}-k{b.kernel}-s{b.stride}"


def block_features(b: Block) -> dict[str, float]:
    """Named non-negative features of one block (see the module docstring)."""
    g = block_group(b)
    f = {"launch": float(eager_kernels(b)), f"{g}:n": 1.0}
    i2, o2 = b.hw * b.hw, b.out_hw * b.out_hw
    if b.kind == "mbconv":
        if b.expand_conv:
            f[f"{g}:expand_g{b.groups}"] = b.mid * i2 * (b.cin // b.groups) * MEGA
        f[f"{g}:dw{b.kernel}"] = b.mid * o2 * b.kernel**2 * MEGA
        f[f"{g}:project_g{b.groups}"] = b.cout * o2 * (b.mid // b.groups) * MEGA
        f[f"{g}:act"] = b.mid * (i2 + o2) * MEGA
        if b.se:
            f[f"{g}:se"] = b.mid * o2 * MEGA
    else:
        f[f"{g}:macs"] = b.macs * MEGA
        f[f"{g}:act"] = (b.cin * i2 + b.cout * o2) * MEGA
    return f
