"""What a projection minimises, per picture: a pixel loss, a perceptual loss in the CLIP image features of the
generator's CLIP (when that CLIP is on the machine), LPIPS when its VGG16 weights are on the machine (``lpips.py``:
without them a configuration that asks for it is refused with a sentence before the first step), and StyleGAN2's
noise regulariser when noise is optimised.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...clip import ClipModel
from ...errors import ContraCLIPError


class ProjectionError(ContraCLIPError, ValueError):
    """A projection that cannot run as asked; the message says why in one sentence."""


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1], (B, 3, H, W) → (B,), measured on [0, 1] (the mappers' measure)."""
    mse = (((a.clamp(-1, 1) - b.clamp(-1, 1)) * 0.5) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def pixel_loss(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image on the [-1, 1] scale, (B,). Where a picture is saturated (±1) a render beyond it is
    as right as one at it (pictures are clipped to [-1, 1]; renders are not), so the render is clipped there."""
    images = torch.where(targets >= 1, images.clamp(max=1), torch.where(targets <= -1, images.clamp(min=-1), images))
    return ((images - targets) ** 2).flatten(1).mean(1)


class Perceptual:
    """1 − cosine similarity of CLIP image embeddings, per image; the targets' embeddings are computed once."""

    def __init__(self, clip: ClipModel, targets: torch.Tensor):
        self.clip = clip
        with torch.no_grad():
            self.target = self.embed(targets)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_images(images).float(), dim=-1)

    def __call__(self, images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) and, per image, the row of its target (N,) → (N,)."""
        return 1.0 - (self.embed(images) * self.target[rows].to(images.device)).sum(1)
