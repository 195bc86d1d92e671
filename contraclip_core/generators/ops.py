"""Plain-PyTorch resampling ops shared by the generators (no compiled extensions needed)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def make_kernel(k: list[float] | torch.Tensor) -> torch.Tensor:
    """Separable FIR kernel from 1-D taps, normalised to sum 1 (rosinality ``make_kernel``)."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with ``kernel`` (true convolution), downsample by striding.

    Same semantics as StyleGAN2's ``upfirdn2d`` with equal x/y factors and pads; x is (B, C, H, W).
    Negative pads crop.
    """
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])  # zeros after every pixel along both axes
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0) : x.shape[2] - max(-p1, 0), max(-p0, 0) : x.shape[3] - max(-p1, 0)]
    weight = torch.flip(kernel, [0, 1]).to(x).expand(c, 1, kh, kw)  # depthwise FIR
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x
