"""Batch augmentation written with torch ops, driven by an explicit ``torch.Generator``.

Per dataset (see :func:`nas.train.default_train_config`): CIFAR-10 and image folders get a random
crop after zero padding plus horizontal flips; digits get a small random crop only (a mirrored
digit is another symbol, or none). Inputs are already normalized, so zero padding is the mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Pad every side by ``padding`` zeros and crop back to the input size at a random offset."""
    if padding <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indexing on (n, c, H, W) with (n, h, w) index grids -> (n, h, w, c).
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment(x: torch.Tensor, *, crop_padding: int, hflip: bool, gen: torch.Generator) -> torch.Tensor:
    """The training augmentation of one batch."""
    x = random_crop(x, crop_padding, gen)
    return random_hflip(x, gen) if hflip else x
