"""Training-free accuracy proxies computed at initialization.

- ``synflow`` (Tanaka et al. 2020; as a NAS proxy, Abdelfattah et al., "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021): all weights made positive, an all-ones input, the sum of the output
  backpropagated; the score is ``sum |theta * dR/dtheta|``, in float64 with batch norm in eval
  mode (at init: identity). Reported as its natural log.
- ``naswot`` (Mellor et al., "Neural Architecture Search without Training", ICML 2021): binary
  codes of which activation units are positive for each image of a batch; the score is the
  log-determinant of the Hamming-similarity kernel ``K = C C^T + (1-C)(1-C)^T``.
- ``grad_norm`` (Abdelfattah et al. 2021): the sum over weight tensors of the L2 norm of their
  cross-entropy gradient on one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nas.evaluators._result import EvalFailed

_ACTS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU)


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """log SynFlow of ``model`` (modified: its weights are made positive and cast to float64)."""
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    model(ones).sum().backward()
    total = 0.0
    for p in model.parameters():
        if p.grad is not None:
            total += float((p.detach() * p.grad).abs().sum())
    if not total > 0 or not math.isfinite(total):
        raise EvalFailed(f"synflow score is {total} (degenerate or overflowing network)")
    return math.log(total)


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """NASWOT log-determinant over the batch ``x`` (needs at least 2 images)."""
    n = len(x)
    kernel = torch.zeros((n, n), dtype=torch.float64, device=x.device)

    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        # For every activation here, output > 0 exactly where input > 0, and the output is
        # what remains readable after an in-place activation.
        codes = (out.detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _ACTS)]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    if sign <= 0 or not torch.isfinite(logdet):
        raise EvalFailed("naswot kernel is singular (identical activation codes across images)")
    return float(logdet)


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Summed L2 norms of the weight gradients of the cross-entropy loss on one batch."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    if not torch.isfinite(loss):
        raise EvalFailed(f"grad_norm: loss is {float(loss)} at initialization")
    loss.backward()
    total = sum(float(p.grad.norm()) for p in model.parameters()
                if p.grad is not None and p.ndim > 1)
    return total


PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {
    "synflow": synflow,
    "naswot": naswot,
    "grad_norm": grad_norm,
}
